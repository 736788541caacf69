package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// End-to-end tests: the real transcode, upload and send packages against
// the in-process sandbox over loopback. They need ffmpeg with libopus and
// skip without it.

// needFFmpeg skips without ffmpeg, except under CI (CI set), where a
// missing tool fails the test: make test installs it.
func needFFmpeg(t testing.TB) {
	t.Helper()
	testdeps.Tool(t, "ffmpeg", "make deps")
}

// startSandbox starts an in-process sandbox; with S3_ENDPOINT set, link
// uploads go to that S3 server instead of the sandbox's file host.
func startSandbox(t testing.TB, cfg sandbox.Config) (*sandbox.Server, *Pipeline) {
	t.Helper()
	sb, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	sc := SandboxConfig{URL: sb.URL(), SendOptions: []send.Option{send.WithRateLimit(0, 0)}, TempDir: t.TempDir()}
	ep := os.Getenv("S3_ENDPOINT")
	if ep == "" && os.Getenv("CI") != "" {
		// Under CI the link uploads go to real S3 (make test starts
		// versitygw and sets S3_ENDPOINT), never quietly to the file host.
		t.Fatal("S3_ENDPOINT unset: make test starts versitygw (scripts/versitygw.sh) and exports it")
	}
	if ep != "" {
		s3, err := upload.NewS3(context.Background(), upload.S3Config{
			Bucket: firstNonEmpty(os.Getenv("S3_BUCKET"), "prep-test"), Endpoint: ep,
			Region:      firstNonEmpty(os.Getenv("S3_REGION"), os.Getenv("AWS_REGION"), "us-east-1"),
			AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
			Prefix: fmt.Sprintf("pipeline-test-%d/", time.Now().UnixNano()),
		})
		if err != nil {
			t.Fatal(err)
		}
		sc.Link = s3
	}
	p, err := NewSandboxPipeline(sc)
	if err != nil {
		t.Fatal(err)
	}
	return sb, p
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// memoFormats are voice memos in every container family inspect knows.
var memoFormats = []string{
	"ogg-opus-mono-48k-2s.ogg",              // already a voice note: passthrough
	"mp3-cbr-64k-mono-44100-noxing.mp3",     // MP3
	"m4a-aac-stereo-48000-faststart.m4a",    // AAC in MP4, stereo
	"webm-opus-mono-2s.webm",                // Opus in WebM (remux)
	"wav-pcm-s16le-mono-16k-0.25s.wav",      // WAV
	"flac-mono-16k-1s.flac",                 // FLAC
	"amr-nb-mr122-sox-2s.amr",               // AMR-NB
	"caf-opus-mono-48k-2s.caf",              // CAF
	"3gp-aac-mono-16000.3gp",                // 3GP
	"mka-aac-mono-22k-2s.mka",               // Matroska
	"ogg-vorbis-stereo-44k-2s.ogg",          // Vorbis
	"mp4-opus-fragmented-mediarecorder.mp4", // browser MediaRecorder
	"aac-adts-lc-mono-44100.aac",            // ADTS
	"mp4-video-mpeg4-with-aac.mp4",          // video with audio
	"ogg-opus-stereo-input44100-3s.opus",    // stereo Opus
	"webm-mediarecorder-opus-mono-pipe-noduration-3s.webm",
}

func TestE2EVoiceMemoEachFormatArrivesOnce(t *testing.T) {
	needFFmpeg(t)
	sb, p := startSandbox(t, sandbox.Config{StatusDelay: 5 * time.Millisecond})
	dir := t.TempDir()
	var files []string
	for _, f := range memoFormats {
		src := filepath.Join("..", "..", "testdata", f)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		copyFile(t, src, filepath.Join(dir, f))
		files = append(files, f)
	}
	if len(files) < 8 {
		t.Fatalf("only %d sample files found", len(files))
	}
	// A mislabeled one: Ogg Opus bytes named .mp3, and the same bytes again
	// under another name (one upload per destination for both).
	copyFile(t, filepath.Join(dir, files[0]), filepath.Join(dir, "mislabeled-opus.mp3"))
	copyFile(t, filepath.Join(dir, files[1]), filepath.Join(dir, "same-mp3-again.mp3"))
	files = append(files, "mislabeled-opus.mp3", "same-mp3-again.mp3")
	recipients := map[Provider]string{Meta: "447700900101", D360: "447700900202", Infobip: "447700900303"}
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for _, f := range files {
		for _, pv := range Providers {
			fmt.Fprintf(&b, "+%s,%s,%s\n", recipients[pv], f, pv)
		}
	}
	m := mustManifest(t, dir, "memos.csv", b.String())
	res := runBatch(t, p, m, BatchOptions{Journal: filepath.Join(dir, "memos.csv.journal"), Jobs: 2})
	for _, r := range res.Rows {
		if r.Status != StatusSent {
			t.Errorf("row %d %s via %s: %s %s", r.Row, r.File, r.Provider, r.Status, r.Error)
		}
	}
	msgs := map[string]sandbox.Message{}
	for _, m := range sb.Messages() {
		if _, dup := msgs[m.ID]; dup {
			t.Errorf("message id %s twice", m.ID)
		}
		msgs[m.ID] = m
	}
	if len(msgs) != len(res.Rows) {
		t.Errorf("sandbox has %d messages for %d rows", len(msgs), len(res.Rows))
	}
	for _, r := range res.Rows {
		sm, ok := msgs[r.MessageID]
		if !ok {
			t.Errorf("row %d: message %q not at the sandbox", r.Row, r.MessageID)
			continue
		}
		if r.Provider == Infobip {
			host := sb.URL() + "/_sandbox/files/"
			if ep := os.Getenv("S3_ENDPOINT"); ep != "" {
				host = ep + "/"
			}
			// The report shows the object's URL; the provider got it
			// whole (a presigned URL's query only there).
			if !strings.HasPrefix(r.Media, host) || upload.RedactURL(sm.Link) != r.Media || strings.Contains(r.Media, "?") {
				t.Errorf("row %d: Infobip media %q (sandbox saw %q), want a URL under %s", r.Row, r.Media, sm.Link, host)
			}
		}
		if sm.To != recipients[r.Provider] || string(sm.Provider) != string(r.Provider) {
			t.Errorf("row %d: message to %s via %s", r.Row, sm.To, sm.Provider)
		}
		if !sm.Voice || sm.MIME != rules.Voice().MIME || sm.Codec != rules.CodecOpus || sm.Channels != 1 || sm.Bytes > rules.VoiceMaxBytes || !sm.PlayIcon {
			t.Errorf("row %d (%s): not a voice note: voice=%v mime=%s codec=%s ch=%d bytes=%d play=%v note=%q",
				r.Row, r.File, sm.Voice, sm.MIME, sm.Codec, sm.Channels, sm.Bytes, sm.PlayIcon, sm.Note)
		}
	}
	// Distinct recordings: files minus the two copies. Each is uploaded
	// once to Meta and once to 360dialog, whatever the number of rows.
	distinct := len(files) - 2
	if n := len(sb.Media(sandbox.Meta)); n != distinct {
		t.Errorf("Meta media uploads %d, want %d (one per distinct recording)", n, distinct)
	}
	if n := len(sb.Media(sandbox.D360)); n != distinct {
		t.Errorf("360dialog media uploads %d, want %d", n, distinct)
	}
	if res.Summary.Distinct != distinct || res.Summary.Prepared != distinct {
		t.Errorf("summary distinct %d prepared %d, want %d", res.Summary.Distinct, res.Summary.Prepared, distinct)
	}
	// No failed status arrives later (a voice flag on non-Opus would).
	time.Sleep(100 * time.Millisecond)
	for _, m := range sb.Messages() {
		for _, st := range m.Statuses {
			if st.Name == "failed" {
				t.Errorf("message %s to %s failed later: code %d", m.ID, m.To, st.Code)
			}
		}
	}
}

func TestE2ERunEachProvider(t *testing.T) {
	needFFmpeg(t)
	sb, p := startSandbox(t, sandbox.Config{})
	src := filepath.Join("..", "..", "testdata", "mp3-cbr-64k-mono-44100-noxing.mp3")
	for _, pv := range Providers {
		t.Run(string(pv), func(t *testing.T) {
			res, err := p.Run(context.Background(), Item{Path: src, To: "+44 7700 900123", Provider: pv})
			if err != nil {
				t.Fatal(err)
			}
			if res.Transcode.Action != transcode.ActionTranscode || len(res.Media) != 1 || len(res.MessageIDs) != 1 {
				t.Fatalf("%+v", res)
			}
			sm, ok := sb.Message(res.MessageIDs[0])
			if !ok || !sm.Voice || sm.To != "447700900123" || sm.MIME != rules.Voice().MIME {
				t.Errorf("sandbox message %+v", sm)
			}
			if (pv == Infobip) != (sm.Link != "") {
				t.Errorf("%s: link %q media id %q", pv, sm.Link, sm.MediaID)
			}
		})
	}
	// A refused send is a typed *StageError at the send stage, from the
	// provider's own error.
	injectBeforeSend(p, Meta, func() { sb.Inject(sandbox.Meta, sandbox.Fault{Status: 401, Code: 190}) })
	_, err := p.Run(context.Background(), Item{Path: src, To: "+447700900123", Provider: Meta})
	var se *StageError
	var api *send.APIError
	if !errors.As(err, &se) || se.Stage != StageSend || !errors.As(err, &api) || api.Kind != send.KindAuth {
		t.Fatalf("err = %v", err)
	}
	// A file that is not audio fails at inspect, before anything is sent.
	notAudio := filepath.Join(t.TempDir(), "x.mp3")
	os.WriteFile(notAudio, []byte("<html>not audio</html>"), 0o644)
	before := len(sb.Messages())
	_, err = p.Run(context.Background(), Item{Path: notAudio, To: "+447700900123", Provider: Meta})
	if !errors.As(err, &se) || se.Stage != StageInspect || len(sb.Messages()) != before {
		t.Fatalf("not audio: err = %v", err)
	}
}

// An answer lost after the sandbox recorded the message (the in-doubt
// case) is "unknown" and a rerun does not send it again.
func TestE2EInDoubtNotResent(t *testing.T) {
	needFFmpeg(t)
	sb, p := startSandbox(t, sandbox.Config{})
	dir := t.TempDir()
	copyFile(t, filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"), filepath.Join(dir, "a.ogg"))
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447700900001,a.ogg,meta\n+447700900002,a.ogg,meta\n")
	journal := filepath.Join(dir, "j")
	injectBeforeSend(p, Meta, func() { sb.Inject(sandbox.Meta, sandbox.Fault{Drop: true}) })
	res := runBatch(t, p, m, BatchOptions{Journal: journal, SendWorkers: 1})
	if got := byStatus(res); fmt.Sprint(got[StatusUnknown], got[StatusSent]) != "[2] [3]" {
		t.Fatalf("%v %+v", got, res.Rows)
	}
	res = runBatch(t, p, m, BatchOptions{Journal: journal})
	if got := byStatus(res); fmt.Sprint(got[StatusUnknown], got[StatusSent]) != "[2] [3]" {
		t.Fatalf("rerun: %v", got)
	}
	per := map[string]int{}
	for _, m := range sb.Messages() {
		per[m.To]++
	}
	if per["447700900001"] != 1 || per["447700900002"] != 1 {
		t.Errorf("messages per recipient %v", per)
	}
}

// injectBeforeSend runs inject just before the next send through pv (and
// only that one), so a scripted fault hits the send, not the upload.
func injectBeforeSend(p *Pipeline, pv Provider, inject func()) {
	p.senders[pv] = &injecting{next: p.senders[pv], inject: inject}
}

type injecting struct {
	next   send.Sender
	inject func()
	once   sync.Once
}

func (s *injecting) Send(ctx context.Context, m send.Message) (*send.Receipt, error) {
	s.once.Do(s.inject)
	return s.next.Send(ctx, m)
}
