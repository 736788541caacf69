// Command opusconfig measures which Opus TOC configurations libopus (run
// through ffmpeg with prep's voice arguments: 16 kHz, mono, voip, 20 ms
// frames) chooses for the packing test table at the cap and at planned CBR
// bitrates, with and without in-band FEC (-fec 1 -packet_loss P), with the
// note's size and a rough quality proxy: the best-lag SNR and the
// log-spectral distance (LSD, 512-point frames, 0-8 kHz) of the
// libopus-decoded PCM against the source resampled to 16 kHz. Its output
// (tab-separated, one row per source x bitrate x loss) is what
// pkg/transcode/README.md's "TOC configuration" tables summarise.
//
// Usage (about 360 encodes; ONLY=name limits the sources):
//
//	go run ./internal/measure/opusconfig > opusconfig.tsv
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/cmplx"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

func ff(args ...string) []byte {
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	cmd := exec.Command("ffmpeg", full...)
	var se bytes.Buffer
	cmd.Stderr = &se
	out, err := cmd.Output()
	if err != nil {
		panic(fmt.Sprintf("ffmpeg %v: %v %s", args, err, se.String()))
	}
	return out
}

func speechLike(dur float64, rate int) []string {
	d := fmt.Sprint(dur)
	r := fmt.Sprint(rate)
	return []string{
		"-f", "lavfi", "-i", "aevalsrc='0.3*(sin(2*PI*(120+20*sin(2*PI*0.5*t))*t)+0.5*sin(4*PI*(120+20*sin(2*PI*0.5*t))*t)+0.3*sin(6*PI*(120+20*sin(2*PI*0.5*t))*t))*(0.5+0.5*sin(2*PI*3*t))*gt(sin(2*PI*0.23*t),-0.6)':s=" + r + ":d=" + d,
		"-f", "lavfi", "-i", "anoisesrc=seed=7:c=pink:r=" + r + ":a=0.02:d=" + d,
		"-filter_complex", "[0][1]amix=inputs=2:duration=shortest",
	}
}

type src struct {
	name string
	args []string
}

var srcs = []src{
	{"speech-2s-16k", speechLike(2, 16000)},
	{"speech-20s-48k", speechLike(20, 48000)},
	{"speech-64s-44k", speechLike(64, 44100)},
	{"speech-5s-8k", speechLike(5, 8000)},
	{"speech-5s-12k", speechLike(5, 12000)},
	{"speech-5s-24k", speechLike(5, 24000)},
	{"silence-5s-16k", []string{"-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "5"}},
	{"noise-5s-48k", []string{"-f", "lavfi", "-i", "anoisesrc=seed=7:c=white:r=48000:a=0.3:d=5"}},
	{"tone-3s-16k", []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=3"}},
	{"tone-10s-48k-chord", []string{"-f", "lavfi", "-i", "aevalsrc='0.2*sin(2*PI*440*t)+0.2*sin(2*PI*554*t)+0.2*sin(2*PI*659*t)':s=48000:d=10"}},
}

type rate struct {
	name string
	vbr  string
	bps  int
}

var rates = []rate{
	{"cap32k-cvbr", "constrained", 32000},
	{"cbr24k", "off", 24000},
	{"cbr16k", "off", 16000},
	{"cbr12k", "off", 12000},
	{"cbr9k", "off", 9000},
	{"cbr6.8k", "off", 6800},
}

var losses = []int{0, 1, 2, 3, 5, 10}

// packets returns the audio packets of an Ogg Opus file.
func packets(b []byte) [][]byte {
	var out [][]byte
	var pkt []byte
	for off := 0; off+27 <= len(b); {
		n := int(b[off+26])
		lac := b[off+27 : off+27+n]
		data := b[off+27+n:]
		size := 0
		for _, l := range lac {
			pkt = append(pkt, data[size:size+int(l)]...)
			size += int(l)
			if l < 255 {
				out = append(out, pkt)
				pkt = nil
			}
		}
		off += 27 + n + size
	}
	return out[2:]
}

func s16(b []byte) []float64 {
	x := make([]float64, len(b)/2)
	for i := range x {
		x[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	}
	return x
}

func fft(a []complex128) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for l := 2; l <= n; l <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(l)))
		for i := 0; i < n; i += l {
			wn := complex(1, 0)
			for k := 0; k < l/2; k++ {
				u, v := a[i+k], a[i+k+l/2]*wn
				a[i+k], a[i+k+l/2] = u+v, u-v
				wn *= w
			}
		}
	}
}

// quality: best-lag SNR (dB) and log-spectral distance (dB, 512-pt frames,
// 0–8 kHz, frames with reference energy within 50 dB of the loudest).
func quality(ref, dec []float64) (snr, lsd float64, lag int) {
	best, bl := -1e9, 0
	n := min(len(ref), len(dec))
	for l := -160; l <= 160; l++ {
		var num, den float64
		for i := 0; i < min(n, 80000); i++ {
			j := i + l
			if j < 0 || j >= len(dec) {
				continue
			}
			num += ref[i] * dec[j]
			den += dec[j] * dec[j]
		}
		if den > 0 && num/math.Sqrt(den) > best {
			best, bl = num/math.Sqrt(den), l
		}
	}
	var se, ne float64
	for i := 0; i < n; i++ {
		j := i + bl
		d := 0.0
		if j >= 0 && j < len(dec) {
			d = dec[j]
		}
		se += ref[i] * ref[i]
		ne += (ref[i] - d) * (ref[i] - d)
	}
	if se == 0 {
		snr = math.NaN()
	} else {
		snr = 10 * math.Log10(se/math.Max(ne, 1e-9))
	}
	const N = 512
	type fr struct{ e, d float64 }
	var frs []fr
	maxE := 0.0
	win := make([]float64, N)
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/N)
	}
	for s := 0; s+N <= n; s += N / 2 {
		a := make([]complex128, N)
		b := make([]complex128, N)
		for i := 0; i < N; i++ {
			a[i] = complex(ref[s+i]*win[i], 0)
			j := s + i + bl
			if j >= 0 && j < len(dec) {
				b[i] = complex(dec[j]*win[i], 0)
			}
		}
		fft(a)
		fft(b)
		var e, d float64
		for k := 1; k < N/2; k++ {
			pa := real(a[k])*real(a[k]) + imag(a[k])*imag(a[k]) + 1
			pb := real(b[k])*real(b[k]) + imag(b[k])*imag(b[k]) + 1
			e += pa
			x := 10*math.Log10(pa) - 10*math.Log10(pb)
			d += x * x
		}
		d = math.Sqrt(d / (N/2 - 1))
		frs = append(frs, fr{e, d})
		maxE = math.Max(maxE, e)
	}
	var sum float64
	cnt := 0
	for _, f := range frs {
		if f.e > maxE*1e-5 {
			sum += f.d
			cnt++
		}
	}
	if cnt > 0 {
		lsd = sum / float64(cnt)
	} else {
		lsd = math.NaN()
	}
	return snr, lsd, bl
}

type res struct {
	src, rate string
	loss      int
	pkts, c9  int
	configs   map[int]int
	bytes     int
	dur       float64
	snr, lsd  float64
	budget    float64
}

func main() {
	dir, err := os.MkdirTemp("", "opusconfig-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	only := os.Getenv("ONLY")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var all []res
	for _, s := range srcs {
		if only != "" && !strings.Contains(s.name, only) {
			continue
		}
		wav := filepath.Join(dir, s.name+".wav")
		ff(append(s.args, wav)...)
		ref := s16(ff("-i", wav, "-ac", "1", "-ar", "16000", "-f", "s16le", "-"))
		dur := float64(len(ref)) / 16000
		for _, r := range rates {
			for _, l := range losses {
				s, r, l := s, r, l
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					out := filepath.Join(dir, fmt.Sprintf("%s-%s-pl%d.ogg", s.name, r.name, l))
					args := []string{"-i", wav, "-map", "0:a:0", "-f", "ogg", "-ac", "1", "-application", "voip", "-ar", "16000", "-b:a", fmt.Sprint(r.bps), "-c:a", "libopus", "-frame_duration", "20", "-page_duration", "1000000", "-vbr", r.vbr, "-map_metadata", "-1"}
					if l > 0 {
						args = append(args, "-fec", "1", "-packet_loss", fmt.Sprint(l))
					}
					ff(append(args, out)...)
					b, _ := os.ReadFile(out)
					cfg := map[int]int{}
					ps := packets(b)
					for _, p := range ps {
						cfg[int(p[0]>>3)]++
					}
					dec := s16(ff("-c:a", "libopus", "-i", out, "-ar", "16000", "-f", "s16le", "-"))
					snr, lsd, _ := quality(ref, dec)
					mu.Lock()
					all = append(all, res{s.name, r.name, l, len(ps), cfg[9], cfg, len(b), dur, snr, lsd, float64(r.bps) * dur / 8})
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.src != b.src {
			return a.src < b.src
		}
		if a.rate != b.rate {
			return a.rate < b.rate
		}
		return a.loss < b.loss
	})
	base := map[string]res{}
	for _, r := range all {
		if r.loss == 0 {
			base[r.src+r.rate] = r
		}
	}
	fmt.Println("src\trate\tloss\tc9/pkts\tconfigs\tbytes\tvs_pl0\tbytes/budget\tSNRdB\tdSNR\tLSDdB\tdLSD")
	for _, r := range all {
		b := base[r.src+r.rate]
		fmt.Printf("%s\t%s\t%d\t%d/%d\t%v\t%d\t%+.2f%%\t%.3f\t%.2f\t%+.2f\t%.2f\t%+.2f\n", r.src, r.rate, r.loss, r.c9, r.pkts, r.configs, r.bytes, 100*float64(r.bytes-b.bytes)/float64(b.bytes), float64(r.bytes)/r.budget, r.snr, r.snr-b.snr, r.lsd, r.lsd-b.lsd)
	}
}
