package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Silence detection for --split: ffmpeg's silencedetect filter, at a level
// quiet speech stays above, for pauses long enough to be between phrases.
const (
	silenceNoiseDB  = -35.0
	silenceMinSec   = 0.3
	maxSilences     = 200000 // bound on what one input may report
	splitWindowFrac = 0.10   // look for a silence in the last 10% of a part…
	splitWindowMin  = 5.0    // …or the last 5 s if that is more (pauses come every few seconds)…
	splitWindowMax  = 30.0   // …but no more than 30 s, nor half the part
)

// silence is one detected pause [Start, End] in seconds.
type silence struct{ Start, End float64 }

// detectSilences runs silencedetect over the whole input.
func (j *job) detectSilences(ctx context.Context) ([]silence, error) {
	r, err := j.t.runner()
	if err != nil {
		return nil, err
	}
	args, err := silenceArgs(j.src, silenceNoiseDB, silenceMinSec)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var out []silence
	open := -1.0
	err = r.run(ctx, args, nil, func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if len(out) >= maxSilences {
			return
		}
		if v, ok := field(line, "silence_start:"); ok {
			open = v
		} else if v, ok := field(line, "silence_end:"); ok && open >= 0 {
			out = append(out, silence{open, v})
			open = -1
		}
	})
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return out, nil
}

// field parses the number after key in a silencedetect log line.
func field(line, key string) (float64, bool) {
	i := strings.Index(line, key)
	if i < 0 {
		return 0, false
	}
	rest := strings.TrimSpace(line[i+len(key):])
	if k := strings.IndexAny(rest, " |"); k >= 0 {
		rest = rest[:k]
	}
	v, err := strconv.ParseFloat(rest, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 0) { // !(v >= 0) also rejects NaN
		return 0, false
	}
	return v, true
}

// cutPoints splits dur seconds into as few consecutive segments of at
// most partMax seconds as possible, of about equal length (so every part
// gets about the same bitrate), ending each part in the middle of the
// latest pause found in the window before its boundary (or at the
// boundary when there is none). Pure; silences must not overlap.
func cutPoints(dur, partMax float64, sil []silence) []Segment {
	if dur <= 0 || partMax <= 0 {
		return nil
	}
	sort.Slice(sil, func(a, b int) bool { return sil[a].Start < sil[b].Start })
	var segs []Segment
	start := 0.0
	// 1 ms of tolerance: float sums must not leave a zero-length last part.
	for dur-start > partMax+1e-3 && len(segs) < 10000 {
		parts := math.Ceil((dur - start - 1e-3) / partMax) // still needed, ≥ 2
		length := (dur - start) / parts                    // ≤ partMax
		nominal := start + length
		window := min(max(length*splitWindowFrac, splitWindowMin), splitWindowMax, length/2)
		cut := nominal
		for i := len(sil) - 1; i >= 0; i-- {
			mid := (sil[i].Start + sil[i].End) / 2
			if mid <= nominal && mid >= nominal-window && mid > start {
				cut = mid
				break
			}
		}
		segs = append(segs, Segment{Start: start, Dur: cut - start})
		start = cut
	}
	return append(segs, Segment{Start: start, Dur: dur - start})
}

// split cuts the input into voice notes of at most p.PartMax seconds, each
// planned, encoded and verified on its own. The parts are renamed into
// place only when all of them are done.
func (j *job) split(ctx context.Context, res *Result, d dest, p Plan) (*Result, error) {
	if d.w != nil {
		return nil, errorf(KindOptions, "the recording must be split into several voice notes, which needs files")
	}
	sil, err := j.detectSilences(ctx)
	if err != nil {
		return nil, err
	}
	segs := cutPoints(p.Duration, p.PartMax, sil)
	o := j.t.o
	type done struct {
		tmp, final string
		out        Output
		attempts   int
		warning    string
	}
	// Parts are independent encodes: they run side by side, up to one per
	// core (a 12-minute memo in two parts takes about half the wall time).
	// The first failure cancels the others, and it is the error returned
	// (errgroup keeps the first, not the cancellations it caused).
	parts := make([]done, len(segs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(DefaultJobs())
	for i, seg := range segs {
		pp := p
		pp.Split, pp.PartMax, pp.Duration = false, 0, seg.Dur
		br, vbr, est := voiceBitrate(seg.Dur, p.Budget, o)
		if br == 0 { // cannot happen for a part ≤ PartMax; stay safe
			br, vbr, est = o.MinBitrate/cbrStep*cbrStep, VBROff, noteSize(seg.Dur, o.MinBitrate/cbrStep, o.Packing)
		}
		pp.Bitrate, pp.VBR, pp.Estimate = br, vbr, est
		encSeg := seg
		if i == len(segs)-1 {
			encSeg.Dur = 0 // to the end, whatever the exact length
		}
		final := d.outPath(j.name, p.Ext, i+1)
		tmp, err := j.newTemp(filepath.Dir(final), "."+filepath.Base(final)+".*.tmp")
		if err != nil {
			g.Go(func() error { return err }) // cancels the parts under way
			break
		}
		pt := &parts[i]
		pt.tmp, pt.final = tmp, final
		g.Go(func() error {
			if err := ctxError(gctx); err != nil {
				return err
			}
			e, err := j.encodeVerified(gctx, pp, nil, tmp, encSeg)
			if err != nil {
				var te *Error
				if errors.As(err, &te) {
					te.Err = fmt.Errorf("part %d: %w", i+1, te.Err)
				}
				return err
			}
			pt.out, pt.attempts, pt.warning = outputOf(e.rep), e.attempts, e.warning
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	maxAttempts := 0
	for _, pt := range parts {
		maxAttempts = max(maxAttempts, pt.attempts)
		if pt.warning != "" {
			res.Warning = pt.warning
		}
	}
	for _, pt := range parts {
		out, err := j.deliver(pt.tmp, pt.final, nil, pt.out)
		if err != nil {
			return nil, err
		}
		res.Outputs = append(res.Outputs, out)
	}
	res.Action, res.Attempts, res.Plan = ActionTranscode, maxAttempts, p
	return res, nil
}
