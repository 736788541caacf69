package sandbox

import (
	"bytes"
	"context"
	"embed"
	"encoding/binary"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"time"
)

//go:embed page.html
var pageFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"dur": func(d float64) string {
		if d <= 0 {
			return "0:00"
		}
		t := int(math.Round(d))
		return fmt.Sprintf("%d:%02d", t/60, t%60)
	},
	"size": func(n int64) string {
		switch {
		case n >= 1_000_000:
			return fmt.Sprintf("%.1f MB", float64(n)/1e6)
		case n >= 1000:
			return fmt.Sprintf("%.0f KB", float64(n)/1e3)
		}
		return fmt.Sprintf("%d B", n)
	},
	"bars": func(w []float64) []int {
		out := make([]int, len(w))
		for i, v := range w {
			out[i] = 3 + int(math.Round(v*21))
		}
		return out
	},
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
	"last":  func(st []Status) string { return lastStatus(st) },
}).ParseFS(pageFS, "page.html"))

// maxWaveformsPerPage bounds the waveforms one page view computes.
const maxWaveformsPerPage = 24

// WaveformBars is the number of peaks in a message's waveform.
const WaveformBars = 40

type conversation struct {
	Provider Provider
	From, To string
	Messages []Message
}

// servePage renders the phone-like page: one conversation per provider,
// sender and recipient.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Waveforms are computed here, lazily, for the voice notes the page
	// shows (at most maxWaveformsPerPage per view): decoding every message
	// as it arrives would cost batch tests an ffmpeg run per send.
	msgs := s.Messages()
	budget := maxWaveformsPerPage
	for i := len(msgs) - 1; i >= 0 && budget > 0; i-- {
		if msgs[i].PlayIcon && msgs[i].Waveform == nil {
			s.computeWaveform(r.Context(), msgs[i].ID)
			budget--
		}
	}
	msgs = s.Messages()
	var convs []*conversation
	idx := map[string]*conversation{}
	for _, m := range msgs {
		k := string(m.Provider) + "\x00" + m.From + "\x00" + m.To
		c, ok := idx[k]
		if !ok {
			c = &conversation{Provider: m.Provider, From: m.From, To: m.To}
			idx[k] = c
			convs = append(convs, c)
		}
		c.Messages = append(c.Messages, m)
	}
	sort.SliceStable(convs, func(i, j int) bool {
		return convs[i].Messages[len(convs[i].Messages)-1].Time.After(convs[j].Messages[len(convs[j].Messages)-1].Time)
	})
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, map[string]any{"Conversations": convs, "Base": s.URL()}); err != nil {
		http.Error(w, "sandbox: page error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func lastStatus(st []Status) string {
	if len(st) == 0 {
		return "pending"
	}
	return st[len(st)-1].Name
}

// computeWaveform sets a message's waveform (once): decoded peaks when ffmpeg is
// installed and can decode the media, else a deterministic placeholder
// derived from the bytes (WaveFrom says which).
func (s *Server) computeWaveform(ctx context.Context, id string) {
	s.mu.Lock()
	var file string
	for _, m := range s.messages {
		if m.ID == id && m.Waveform == nil {
			file = m.file
		}
	}
	s.mu.Unlock()
	if file == "" {
		return
	}
	// One ffmpeg at a time per server: batches of sends must not swamp
	// the machine.
	select {
	case s.waveSlot <- struct{}{}:
		defer func() { <-s.waveSlot }()
	case <-ctx.Done():
		return
	}
	peaks, from := ffmpegPeaks(ctx, file, WaveformBars), "ffmpeg"
	if peaks == nil {
		peaks, from = bytePeaks(file, WaveformBars), "bytes"
	}
	if peaks == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			m.Waveform, m.WaveFrom = peaks, from
		}
	}
}

// ffmpegPeaks decodes the file to 4 kHz mono PCM with ffmpeg and returns n
// peak levels in 0..1, or nil when ffmpeg is missing or fails.
func ffmpegPeaks(ctx context.Context, file string, n int) []float64 {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-nostdin", "-v", "error", "-i", file, "-map", "0:a:0", "-ac", "1", "-ar", "4000", "-t", "900", "-f", "s16le", "-")
	out, err := cmd.Output()
	if err != nil || len(out) < 2*n {
		return nil
	}
	samples := make([]int16, len(out)/2)
	if err := binary.Read(bytes.NewReader(out[:len(samples)*2]), binary.LittleEndian, samples); err != nil {
		return nil
	}
	peaks := make([]float64, n)
	for i := range n {
		lo, hi := i*len(samples)/n, (i+1)*len(samples)/n
		for _, v := range samples[lo:hi] {
			a := math.Abs(float64(v)) / 32768
			if a > peaks[i] {
				peaks[i] = a
			}
		}
	}
	return normalize(peaks)
}

// bytePeaks is the placeholder waveform: the mean absolute deviation of
// the bytes in n equal slices of the file, normalized. It is deterministic
// but says nothing about loudness.
func bytePeaks(file string, n int) []float64 {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil || len(data) < n {
		return nil
	}
	peaks := make([]float64, n)
	for i := range n {
		sl := data[i*len(data)/n : (i+1)*len(data)/n]
		var sum float64
		for _, b := range sl {
			sum += math.Abs(float64(b) - 128)
		}
		peaks[i] = sum / float64(len(sl))
	}
	return normalize(peaks)
}

func normalize(p []float64) []float64 {
	var m float64
	for _, v := range p {
		m = max(m, v)
	}
	for i := range p {
		if m > 0 {
			p[i] = math.Round(p[i]/m*1000) / 1000
		}
	}
	return p
}
