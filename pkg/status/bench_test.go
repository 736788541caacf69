package status

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkReceiver measures statuses stored durably per second through
// the receiver, over loopback HTTP, with bodies of 1000 statuses (Meta's
// largest batches) signed as Meta signs them, posted by 8 concurrent
// senders; and the time to answer a body (p50, p99). The store is on the
// working directory's disk (not a tmpfs), fsync'd. One op is one body.
func BenchmarkReceiver(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("senders=%d", conc), func(b *testing.B) { benchReceiver(b, conc, false) })
	}
	// The same senders against a handler that reads the body and answers
	// 200: what the senders and HTTP cost, to subtract from cpu-ms/body.
	b.Run("baseline-discard", func(b *testing.B) { benchReceiver(b, 8, true) })
}

func benchReceiver(b *testing.B, senders int, discard bool) {
	dir, err := os.MkdirTemp(".", "bench-store-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := OpenStore(filepath.Join(dir, "statuses.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var h http.Handler = NewReceiver(s, Config{MetaAppSecret: testSecret})
	if discard {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}

	// A template body whose message ids carry a fixed-width body number,
	// rewritten per body so every status is new (duplicates are cheaper).
	const per = 1000
	var sts []st
	for i := 0; i < per; i++ {
		stat := []string{"sent", "delivered", "read", "played"}[i%4]
		sts = append(sts, st{id: fmt.Sprintf("wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA-00000000-%04d", i), status: stat, ts: t0 + int64(i), cb: "0123456789abcdef0123456789abcdef"})
	}
	tmpl := metaJSON(b, 250, sts...)
	marker := []byte("-00000000-")
	var offs []int
	for i := 0; ; {
		j := bytes.Index(tmpl[i:], marker)
		if j < 0 {
			break
		}
		offs = append(offs, i+j+1)
		i += j + len(marker)
	}
	if len(offs) != per {
		b.Fatalf("%d markers", len(offs))
	}
	var next atomic.Int64
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	var wg sync.WaitGroup
	b.SetBytes(int64(len(tmpl)))
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, len(tmpl))
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				copy(body, tmpl)
				num := []byte(fmt.Sprintf("%08d", n))
				for _, o := range offs {
					copy(body[o:], num)
				}
				req, _ := http.NewRequest("POST", srv.URL+"/webhooks/meta", bytes.NewReader(body))
				req.Header.Set(SignatureHeader, sign(testSecret, body))
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				d := time.Since(t)
				if resp.StatusCode != 200 {
					b.Errorf("answered %d", resp.StatusCode)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if got := s.Stats().Events; !discard && got != b.N*per {
		b.Fatalf("%d events stored, want %d", got, b.N*per)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N*per)/el.Seconds(), "statuses/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	// The process's CPU per body (receiver and senders together): what a
	// body costs whatever else the machine runs; 2 cores / this = the
	// capacity of a quiet 2-core machine.
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/body")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexMemory measures the heap a receiver holds per message
// (one event each), the cost of keeping every message in memory.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 200000
	for i := 0; i < b.N; i++ {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		ix := newIndex()
		ix.mu.Lock()
		at := time.Unix(t0, 0).UTC()
		for k := 0; k < n; k++ {
			ix.applyLocked(Event{Provider: Meta, MessageID: fmt.Sprintf("wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA%08d", k),
				Status: Delivered, Time: at, Received: at, Recipient: "16505551234", CallbackData: fmt.Sprintf("%032x", k)})
		}
		ix.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "heap-B/message")
		runtime.KeepAlive(ix)
	}
}
