package send_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
)

// BenchmarkSendSandbox sends voice notes by media id through the
// in-process sandbox (loopback, connection reuse, no client rate limit),
// from parallel goroutines. It reports sends/s; the sandbox's own work
// (validation, reading and inspecting the media, recording the message)
// is included.
func BenchmarkSendSandbox(b *testing.B) {
	for _, p := range []send.Provider{send.Meta, send.Infobip} {
		b.Run(string(p), func(b *testing.B) {
			s := startSandbox(b, sandbox.Config{StatusDelay: time.Hour, DataDir: fastDir(b)})
			m := send.Message{To: "+16505551234", Voice: true}
			if p == send.Infobip {
				m.Link = s.HostFile("v.ogg", "audio/ogg", voiceNote(b))
			} else {
				m.MediaID = upload(b, s, p)
			}
			c := newClient(b, s, p, send.WithRateLimit(0, 0))
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Send(b.Context(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
		})
	}
}

// BenchmarkSendClient measures the client alone against a loopback server
// that answers every send with a fixed Cloud API receipt.
func BenchmarkSendClient(b *testing.B) {
	const answer = `{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA"}]}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer ts.Close()
	c, err := send.NewMeta(send.WithBaseURL(ts.URL), send.WithToken(metaToken), send.WithPhoneNumberID(phoneID), send.WithRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	m := send.Message{To: "+16505551234", MediaID: "1013859600285441", Voice: true}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(b.Context(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

// fastDir is a directory on tmpfs when there is one: the sandbox keeps a
// copy of every message's media, and on this machine's disk each file
// creation costs ~0.3 ms, which would measure the disk, not the senders.
func fastDir(b testing.TB) string {
	if d, err := os.MkdirTemp("/dev/shm", "prep-send-bench-"); err == nil {
		b.Cleanup(func() { _ = os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}
