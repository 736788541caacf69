package oggopus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// MaxPacketSamples is the longest packet Repack makes: 60 ms (three 20 ms
// SILK frames, as WhatsApp packs its voice notes).
const MaxPacketSamples = rules.NativeOpusPacketSamples

// pageSamples is how much audio Repack puts on a page: one second, as
// ffmpeg's Ogg muxer does by default.
const pageSamples = 48000

// Stats says what Repack did.
type Stats struct {
	PacketsIn, PacketsOut int
	Frames                int
	// Samples is the total of the packets' samples at 48 kHz (pre-skip
	// included); Granule the final granule position written (Samples minus
	// the end trimming the input asked for).
	Samples, Granule int64
	// EndTrim is the number of samples the final page trims (RFC 7845
	// §4.4), as in the input.
	EndTrim int64
}

// Repack rewrites a single-link Ogg Opus stream with channel mapping
// family 0: consecutive frames of the same TOC configuration and channel
// count are combined into code-3 packets of at most 60 ms (CBR framing
// when the frames are the same size, VBR otherwise, never padding); the
// OpusHead is kept byte for byte (pre-skip unchanged), OpusTags keeps the
// vendor string and no comments, pages hold about a second each, and
// every granule position is the count of samples the packets completed up
// to its page hold (whatever the input's granules said), except the last,
// which trims the end exactly as the input's last page did. The decoded
// samples are the input's (RFC 6716 §3.2: the same frames).
func Repack(in []byte) ([]byte, Stats, error) { return repack(in, true) }

// Regranule rewrites the stream as Repack does but keeps its packets as
// they are (one frame a packet stays one frame a packet): only the pages,
// granule positions and OpusTags are rewritten.
func Regranule(in []byte) ([]byte, Stats, error) { return repack(in, false) }

func repack(in []byte, group bool) ([]byte, Stats, error) {
	s, err := Parse(in)
	if err != nil {
		return nil, Stats{}, err
	}
	return s.Rewrite(group)
}

// Rewrite writes the parsed stream s as Repack (group) or Regranule (not
// group) does, for a caller that has parsed it already.
func (s *Stream) Rewrite(group bool) ([]byte, Stats, error) {
	var st Stats
	var err error
	if s.Head.MappingFamily != 0 {
		return nil, st, fmt.Errorf("oggopus: channel mapping family %d (%d channels) is not repacked", s.Head.MappingFamily, s.Head.Channels)
	}
	if len(s.Audio) == 0 {
		return nil, st, errors.New("oggopus: no audio packets")
	}
	st.PacketsIn = len(s.Audio)
	if st.EndTrim, err = endTrim(s.Audio); err != nil {
		return nil, st, err
	}
	regroupOrKeep := regroup
	if !group {
		regroupOrKeep = keep
	}
	out, outSamples, err := regroupOrKeep(s.Audio, &st)
	if err != nil {
		return nil, st, err
	}
	pages := paginate(out, outSamples, &st)

	size := len(s.HeadRaw) + len(s.Vendor) + 64
	for _, a := range s.Audio {
		size += len(a.Data) + 1
	}
	b := make([]byte, 0, size+len(pages)*(27+maxSegments))
	seq := uint32(0)
	b = appendPage(b, s.Serial, seq, page{flags: flagBOS, packets: [][]byte{s.HeadRaw}})
	seq++
	b = appendPage(b, s.Serial, seq, page{packets: [][]byte{tagsPacket(s.Vendor)}})
	for _, p := range pages {
		seq++
		b = appendPage(b, s.Serial, seq, p)
	}
	return b, st, nil
}

// endTrim is the end trimming the input's last page asks for: what its
// packets hold beyond the granule position, measured from the page before
// (so a gap the muxer put in earlier granules does not count); 0 if none
// or nonsense. It checks that every audio packet parses.
func endTrim(audio []AudioPacket) (int64, error) {
	var prevGran, lastSamples int64
	for _, a := range audio {
		p, err := codec.ParseOpusPacket(a.Data)
		if err != nil {
			return 0, fmt.Errorf("oggopus: audio packet: %w", err)
		}
		if a.Last {
			lastSamples += int64(p.Samples())
		} else {
			prevGran = a.Granule
		}
	}
	if audio[0].Last {
		prevGran = 0
	}
	finalGran := audio[len(audio)-1].Granule
	if trim := prevGran + lastSamples - finalGran; trim > 0 && trim < lastSamples {
		return trim, nil
	}
	return 0, nil
}

// regroup combines consecutive frames of the same TOC configuration and
// channel count into code-3 packets of at most MaxPacketSamples; it
// returns the packets and the samples each holds, counting st.Frames and
// st.PacketsOut. The packets were checked by endTrim.
func regroup(audio []AudioPacket, st *Stats) (out [][]byte, outSamples []int, err error) {
	var cur [][]byte
	var curTOC codec.OpusTOC
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := codec.AppendOpusCode3(nil, curTOC, cur)
		if err != nil {
			return err
		}
		out = append(out, b)
		outSamples = append(outSamples, len(cur)*curTOC.FrameSamples())
		cur = nil
		return nil
	}
	for _, a := range audio {
		p, _ := codec.ParseOpusPacket(a.Data) // checked by endTrim
		for _, f := range p.Frames {
			st.Frames++
			same := len(cur) > 0 && curTOC.Config == p.TOC.Config && curTOC.Stereo == p.TOC.Stereo
			if !same || (len(cur)+1)*curTOC.FrameSamples() > MaxPacketSamples {
				if err := flush(); err != nil {
					return nil, nil, err
				}
				curTOC = p.TOC
			}
			cur = append(cur, f)
		}
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	st.PacketsOut = len(out)
	return out, outSamples, nil
}

// paginate puts the packets on pages of about a second, at most 255
// lacing values each, with granules that count the samples completed; the
// last page carries the end trimming (st.EndTrim) and EOS. It sets
// st.Samples and st.Granule (and clears st.EndTrim if it cannot be kept).
func paginate(out [][]byte, outSamples []int, st *Stats) []page {
	var pages []page
	var pg page
	var gran, pageStart int64
	segs := 0
	for i, p := range out {
		if segs+segments(len(p)) > maxSegments {
			pages = append(pages, pg)
			pg, segs, pageStart = page{}, 0, gran
		}
		pg.packets = append(pg.packets, p)
		segs += segments(len(p))
		gran += int64(outSamples[i])
		pg.granule = gran
		if gran-pageStart >= pageSamples && i < len(out)-1 {
			pages = append(pages, pg)
			pg, segs, pageStart = page{}, 0, gran
		}
	}
	pages = append(pages, pg)
	st.Samples = gran
	// The last page must hold more samples than it trims, so its granule
	// stays after the previous page's: merge a short last page back.
	if n := len(pages); n >= 2 && gran-st.EndTrim <= pages[n-2].granule {
		segsPrev := 0
		for _, p := range append(pages[n-2].packets, pages[n-1].packets...) {
			segsPrev += segments(len(p))
		}
		if segsPrev <= maxSegments {
			pages[n-2].packets = append(pages[n-2].packets, pages[n-1].packets...)
			pages[n-2].granule = pages[n-1].granule
			pages = pages[:n-1]
		} else {
			st.EndTrim = 0 // cannot happen with ≤ 60 ms packets; stay valid
		}
	}
	st.Granule = gran - st.EndTrim
	pages[len(pages)-1].granule = st.Granule
	pages[len(pages)-1].flags |= flagEOS
	return pages
}

// tagsPacket is a minimal OpusTags packet (RFC 7845 §5.2): the vendor
// string and no comments.
func tagsPacket(vendor string) []byte {
	if len(vendor) > 256 {
		vendor = vendor[:256]
	}
	b := make([]byte, 0, 16+len(vendor))
	b = append(b, "OpusTags"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// keep is regroup's counterpart for Regranule: the packets as they are.
func keep(audio []AudioPacket, st *Stats) (out [][]byte, outSamples []int, err error) {
	for _, a := range audio {
		p, _ := codec.ParseOpusPacket(a.Data) // checked by endTrim
		st.Frames += len(p.Frames)
		out = append(out, a.Data)
		outSamples = append(outSamples, p.Samples())
	}
	st.PacketsOut = len(out)
	return out, outSamples, nil
}

// GranuleError says where the stream's granule positions are not the
// count of the samples its packets hold (RFC 7845 §4: a page's granule
// position is the samples of the packets completed up to it; only the
// last page may say less, trimming the end), nil when they all are.
// opusinfo reports such a page as "Sample count behind granule"; ffmpeg's
// Ogg muxer writes them from gaps in its input's timestamps.
func GranuleError(s *Stream) error {
	var cum, prev int64
	k := 0
	last := -1
	for i := len(s.Pages) - 1; i >= s.headers; i-- {
		if s.Pages[i].Packets > 0 {
			last = i
			break
		}
	}
	for i := s.headers; i < len(s.Pages); i++ {
		pg := s.Pages[i]
		if pg.Packets == 0 {
			continue
		}
		for n := 0; n < pg.Packets && k < len(s.Audio); n++ {
			p, err := codec.ParseOpusPacket(s.Audio[k].Data)
			if err != nil {
				return fmt.Errorf("oggopus: audio packet %d: %w", k, err)
			}
			cum += int64(p.Samples())
			k++
		}
		switch {
		case i == last && (pg.Granule > cum || pg.Granule <= prev && i > s.headers && prev > 0):
			return fmt.Errorf("oggopus: the last page (sequence %d) has granule position %d for %d samples", pg.Seq, pg.Granule, cum)
		case i != last && pg.Granule != cum:
			return fmt.Errorf("oggopus: page %d has granule position %d where its packets end at sample %d", pg.Seq, pg.Granule, cum)
		}
		prev = pg.Granule
	}
	return nil
}
