package oggopus

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect/codec"
)

var update = flag.Bool("update", false, "rewrite testdata/native.ogg and native.txt from testdata/single.ogg")

func frames(sizes ...int) [][]byte {
	var f [][]byte
	for i, n := range sizes {
		f = append(f, bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	return f
}

// TestLibopusPaddingDropped: libopus pads CBR packets with code 3; the
// frames Repack takes from pkg/inspect/codec leave the padding out.
func TestLibopusPaddingDropped(t *testing.T) {
	p, err := codec.ParseOpusPacket([]byte{0x4b, 0x41, 2, 5, 5, 5, 0, 0})
	if err != nil || len(p.Frames) != 1 || len(p.Frames[0]) != 3 {
		t.Fatalf("%v %+v", err, p)
	}
	out, err := codec.AppendOpusCode3(nil, p.TOC, p.Frames)
	if err != nil || !bytes.Equal(out, []byte{0x4b, 1, 5, 5, 5}) {
		t.Fatalf("%v % x", err, out)
	}
}

func TestAppendCode3RoundTrip(t *testing.T) {
	for _, c := range []struct {
		sizes   []int
		wantLen int // packet length
	}{
		{[]int{80, 80, 80}, 2 + 240},          // CBR framing
		{[]int{80, 70, 60}, 2 + 2 + 210},      // VBR: two one-byte lengths
		{[]int{300, 10, 20}, 2 + 2 + 1 + 330}, // VBR: a two-byte length
		{[]int{0, 0, 0}, 2},                   // DTX frames
		{[]int{40}, 2 + 40},                   // a last packet of one frame
	} {
		f := frames(c.sizes...)
		b, err := codec.AppendOpusCode3(nil, codec.ParseOpusTOC(0x48), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != c.wantLen {
			t.Errorf("%v: %d bytes, want %d", c.sizes, len(b), c.wantLen)
		}
		p, err := codec.ParseOpusPacket(b)
		if err != nil {
			t.Fatalf("%v: %v", c.sizes, err)
		}
		if p.TOC.Byte() != 0x4b || len(p.Frames) != len(f) {
			t.Fatalf("%v: TOC %#x, %d frames", c.sizes, p.TOC.Byte(), len(p.Frames))
		}
		for i := range f {
			if !bytes.Equal(p.Frames[i], f[i]) {
				t.Errorf("%v: frame %d differs", c.sizes, i)
			}
		}
	}
	if _, err := codec.AppendOpusCode3(nil, codec.ParseOpusTOC(0x48), frames(1, 1, 1, 1, 1, 1, 1)); err == nil {
		t.Error("140 ms in one packet accepted")
	}
	if _, err := codec.AppendOpusCode3(nil, codec.ParseOpusTOC(0x48), frames(1276)); err == nil {
		t.Error("a 1276-byte frame accepted")
	}
}

// TestCRC checks the Ogg CRC against a page ffmpeg wrote.
func TestCRC(t *testing.T) {
	b, err := os.ReadFile("testdata/single.ogg")
	if err != nil {
		t.Fatal(err)
	}
	n := pageHeaderLen + int(b[26]) + int(b[27])
	page := append([]byte(nil), b[:n]...)
	want := binary.LittleEndian.Uint32(page[22:])
	page[22], page[23], page[24], page[25] = 0, 0, 0, 0
	if got := crc(page); got != want {
		t.Fatalf("crc %08x, ffmpeg wrote %08x", got, want)
	}
}

// describe lists a stream's pages and packets, for the golden file.
func describe(s *Stream) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "serial %08x pre-skip %d channels %d input rate %d vendor %q\n", s.Serial, s.Head.PreSkip, s.Head.Channels, s.Head.InputSampleRate, s.Vendor)
	for i, p := range s.Pages {
		fmt.Fprintf(&sb, "page %d flags %d granule %d packets %d segments %d\n", p.Seq, p.Flags, p.Granule, p.Packets, p.Segments)
		_ = i
	}
	for _, a := range s.Audio {
		pk, _ := codec.ParseOpusPacket(a.Data)
		fmt.Fprintf(&sb, "packet %d bytes config %d code %d frames %d granule %d\n", len(a.Data), pk.TOC.Config, pk.TOC.Code, len(pk.Frames), a.Granule)
	}
	return sb.String()
}

// TestRepackGolden repacks a small ffmpeg note (testdata/single.ogg) and
// compares the bytes with testdata/native.ogg (go test -update rewrites it
// and its description native.txt).
func TestRepackGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/single.ogg")
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := Repack(in)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(out)
	if err != nil {
		t.Fatalf("the repacked stream does not parse: %v", err)
	}
	desc := describe(s)
	if *update {
		if err := os.WriteFile("testdata/native.ogg", out, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/native.txt", []byte(desc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/native.ogg")
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(out, want) {
		wantDesc, _ := os.ReadFile("testdata/native.txt")
		t.Errorf("repacked bytes differ from testdata/native.ogg\n--- got\n%s--- want\n%s", desc, wantDesc)
	}
	src, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	checkRepacked(t, src, s, st)
}

// checkRepacked checks a repacked stream against its source: OpusHead the
// same, every packet code 3 with up to 60 ms, full groups of the same
// configuration, granules exactly the samples so far, the final granule
// the source's.
func checkRepacked(t *testing.T, src, s *Stream, st Stats) {
	t.Helper()
	if !bytes.Equal(src.HeadRaw, s.HeadRaw) || s.Serial != src.Serial {
		t.Error("OpusHead or serial changed")
	}
	if s.Pages[0].Flags != flagBOS || s.Pages[len(s.Pages)-1].Flags&flagEOS == 0 || !s.EOS {
		t.Error("BOS/EOS flags wrong")
	}
	var srcFrames, srcSamples int
	for _, a := range src.Audio {
		p, _ := codec.ParseOpusPacket(a.Data)
		srcFrames += len(p.Frames)
		srcSamples += p.Samples()
	}
	var frames, samples int
	for i, a := range s.Audio {
		p, err := codec.ParseOpusPacket(a.Data)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.TOC.Code != 3 || p.Samples() > MaxPacketSamples {
			t.Errorf("packet %d: code %d, %d samples", i, p.TOC.Code, p.Samples())
		}
		if i < len(s.Audio)-1 {
			next, _ := codec.ParseOpusPacket(s.Audio[i+1].Data)
			if next.TOC.Config == p.TOC.Config && next.TOC.Stereo == p.TOC.Stereo && p.Samples()+p.TOC.FrameSamples() <= MaxPacketSamples {
				t.Errorf("packet %d: %d frames where more of the same configuration follow", i, len(p.Frames))
			}
		}
		frames += len(p.Frames)
		samples += p.Samples()
		endsPage := i == len(s.Audio)-1 || s.Audio[i+1].Granule != a.Granule
		if !a.Last && (endsPage && a.Granule != int64(samples) || a.Granule < int64(samples)) {
			t.Errorf("packet %d: page granule %d, samples so far %d", i, a.Granule, samples)
		}
	}
	if frames != srcFrames || samples != srcSamples {
		t.Errorf("%d frames / %d samples, source %d / %d", frames, samples, srcFrames, srcSamples)
	}
	last := s.Audio[len(s.Audio)-1].Granule
	if srcLast := src.Audio[len(src.Audio)-1].Granule; last != srcLast && srcLast <= int64(srcSamples) {
		t.Errorf("final granule %d, source %d", last, srcLast)
	}
	if last != st.Granule || last > int64(samples) {
		t.Errorf("final granule %d (stats %d), samples %d", last, st.Granule, samples)
	}
}

// TestRepackRewritesGranuleGaps: a source whose granules jump ahead of its
// samples (what ffmpeg's muxer writes from inputs with timestamp gaps)
// comes out with granules that count the samples.
func TestRepackRewritesGranuleGaps(t *testing.T) {
	in, err := os.ReadFile("testdata/single.ogg")
	if err != nil {
		t.Fatal(err)
	}
	src, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild the source one packet a page, the granules jumping 9600
	// samples (200 ms) ahead after the first packet, the end trim kept.
	total := 0
	for _, a := range src.Audio {
		p, _ := codec.ParseOpusPacket(a.Data)
		total += p.Samples()
	}
	trim := int64(total) - src.Audio[len(src.Audio)-1].Granule
	var pages []page
	done := 0
	for i, a := range src.Audio {
		p, _ := codec.ParseOpusPacket(a.Data)
		done += p.Samples()
		g := int64(done)
		if i > 0 {
			g += 9600
		}
		pg := page{granule: g, packets: [][]byte{a.Data}}
		if i == len(src.Audio)-1 {
			pg.flags, pg.granule = flagEOS, g-trim
		}
		pages = append(pages, pg)
	}
	b := appendPage(nil, src.Serial, 0, page{flags: flagBOS, packets: [][]byte{src.HeadRaw}})
	b = appendPage(b, src.Serial, 1, page{packets: [][]byte{tagsPacket(src.Vendor)}})
	for i, p := range pages {
		b = appendPage(b, src.Serial, uint32(i+2), p)
	}
	gapped, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := Repack(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Granule != src.Audio[len(src.Audio)-1].Granule {
		t.Errorf("final granule %d, want %d (the gap removed, the end trim kept)", st.Granule, src.Audio[len(src.Audio)-1].Granule)
	}
	checkRepacked(t, gapped, s, st)
}

func TestParseRejects(t *testing.T) {
	in, err := os.ReadFile("testdata/single.ogg")
	if err != nil {
		t.Fatal(err)
	}
	badCRC := append([]byte(nil), in...)
	badCRC[len(badCRC)-1] ^= 1
	twice := append(append([]byte(nil), in...), in...)
	for name, b := range map[string][]byte{
		"bad CRC":        badCRC,
		"cut":            in[:len(in)-3],
		"chained":        twice,
		"empty":          nil,
		"not ogg":        []byte("RIFF....WAVEfmt "),
		"only the first": in[:pageHeaderLen+1+int(in[27])],
	} {
		if _, _, err := Repack(b); err == nil {
			t.Errorf("%s: repacked without an error", name)
		}
	}
}

// FuzzRepack: no input panics Parse or Repack, and whatever Repack writes
// parses and repacks to itself.
func FuzzRepack(f *testing.F) {
	for _, p := range []string{"testdata/single.ogg", "testdata/native.ogg"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	files, _ := filepath.Glob("../../../../testdata/ogg-opus-*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := Parse(b); err == nil {
			_ = GranuleError(s)
		}
		if reg, _, err := Regranule(b); err == nil {
			s, err := Parse(reg)
			if err != nil {
				t.Fatalf("the regranuled stream does not parse: %v", err)
			}
			if err := GranuleError(s); err != nil {
				t.Fatalf("the regranuled stream: %v", err)
			}
		}
		out, _, err := Repack(b)
		if err != nil {
			return
		}
		if s, err := Parse(out); err != nil || GranuleError(s) != nil {
			t.Fatalf("the repacked stream's granules: %v", GranuleError(s))
		}
		again, st, err := Repack(out)
		if err != nil {
			t.Fatalf("the repacked stream does not repack: %v", err)
		}
		if st.PacketsIn != st.PacketsOut || !bytes.Equal(again, out) {
			t.Fatalf("repacking is not idempotent")
		}
	})
}

// TestGranuleError: a note's granules are checked page by page against the
// samples its packets hold. ffmpeg's single-frame note and its repack are
// clean; a page whose granule runs ahead (the gap ffmpeg's muxer copies
// from input timestamps) or behind is found; Regranule repairs it keeping
// every packet.
func TestGranuleError(t *testing.T) {
	in, err := os.ReadFile("testdata/single.ogg")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := GranuleError(s); err != nil {
		t.Fatalf("ffmpeg's note: %v", err)
	}
	native, _, err := Repack(in)
	if err != nil {
		t.Fatal(err)
	}
	if ns, _ := Parse(native); GranuleError(ns) != nil {
		t.Fatalf("the repacked note: %v", GranuleError(ns))
	}
	total := int64(0)
	for _, a := range s.Audio {
		p, _ := codec.ParseOpusPacket(a.Data)
		total += int64(p.Samples())
	}
	trim := total - s.Audio[len(s.Audio)-1].Granule
	for _, c := range []struct {
		name  string
		page  int // the audio page whose granule is off
		delta int64
		bad   bool
	}{
		{"clean", 0, 0, false},
		{"first ahead", 0, +960, true},
		{"first behind", 0, -960, true},
		{"middle ahead", 3, +9600, true},
		{"middle behind", 3, -480, true},
		{"last ahead", len(s.Audio) - 1, +trim + 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One packet a page, granules counting the samples, the end
			// trim kept; then one page's granule moved.
			b := appendPage(nil, s.Serial, 0, page{flags: flagBOS, packets: [][]byte{s.HeadRaw}})
			b = appendPage(b, s.Serial, 1, page{packets: [][]byte{tagsPacket(s.Vendor)}})
			done := int64(0)
			for i, a := range s.Audio {
				p, _ := codec.ParseOpusPacket(a.Data)
				done += int64(p.Samples())
				pg := page{granule: done, packets: [][]byte{a.Data}}
				if i == len(s.Audio)-1 {
					pg.flags, pg.granule = flagEOS, done-trim
				}
				if i == c.page {
					pg.granule += c.delta
				}
				b = appendPage(b, s.Serial, uint32(2+i), pg)
			}
			bs, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := GranuleError(bs); (got != nil) != c.bad {
				t.Fatalf("GranuleError = %v, want an error: %v", got, c.bad)
			}
			fixed, st, err := Regranule(b)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Parse(fixed)
			if err != nil {
				t.Fatal(err)
			}
			if err := GranuleError(fs); err != nil {
				t.Errorf("regranuled: %v", err)
			}
			if st.PacketsIn != st.PacketsOut || len(fs.Audio) != len(s.Audio) {
				t.Errorf("regranuled: %d packets from %d", len(fs.Audio), len(s.Audio))
			}
			for i := range fs.Audio {
				if !bytes.Equal(fs.Audio[i].Data, s.Audio[i].Data) {
					t.Fatalf("packet %d changed", i)
				}
			}
			// The end trim is kept; a last granule beyond the samples
			// asks for none.
			want := total - trim
			if c.name == "last ahead" {
				want = total
			}
			if g := fs.Audio[len(fs.Audio)-1].Granule; g != want {
				t.Errorf("final granule %d, want %d", g, want)
			}
		})
	}
}
