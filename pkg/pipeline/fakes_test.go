package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Short names for the tests.
type (
	Provider = send.Provider
	Profile  = transcode.Profile
)

const (
	Meta    = send.Meta
	D360    = send.D360
	Infobip = send.Infobip
	Voice   = transcode.ProfileVoice
	Audio   = transcode.ProfileAudio
)

var Providers = []send.Provider{send.Meta, send.D360, send.Infobip}

// The fakes below stand in for the real stages so the batch machinery can
// be tested fast and made to fail on purpose. Their behaviour is driven by
// the content of the test files:
//
//	"NOTAUDIO…"  the inspector refuses it
//	"TCFAIL…"    the transcoder fails
//	"LONG…"      the transcoder makes two parts with Split, fails without
//	"SLOW…"      the transcoder takes 200 ms (honouring ctx)

// sendReq is one send request as a fake sender received it.
type sendReq struct {
	Provider  send.Provider
	To        string
	MediaID   string
	Link      string
	Voice     bool
	MessageID string // the client message id (Infobip's messageId)
}

type fakes struct {
	mu         sync.Mutex
	inspected  map[string]int // by source sha
	transcoded map[string]int // by source sha + profile
	uploaded   map[string]int // by dest + output sha
	sent       []sendReq      // every request received (accepted or not)
	accepted   []sendReq      // requests that produced a message
	// refuse: recipients the provider refuses; doubt: recipients whose
	// send is recorded and then the answer lost.
	refuse map[string]bool
	doubt  map[string]bool
	// onSend, when set, runs before a send is processed.
	onSend func(ctx context.Context, req sendReq) error
	// onUpload, when set, runs before an upload is processed.
	onUpload func(ctx context.Context, dest string, f upload.File) error
	n        int
}

func newFakes() *fakes {
	return &fakes{inspected: map[string]int{}, transcoded: map[string]int{}, uploaded: map[string]int{},
		refuse: map[string]bool{}, doubt: map[string]bool{}}
}

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (f *fakes) inspect(ctx context.Context, path string, _ ...inspect.Option) (*inspect.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return &inspect.Report{Path: path}, err
	}
	s := sha256.Sum256(b)
	f.mu.Lock()
	f.inspected[hex.EncodeToString(s[:])]++
	f.mu.Unlock()
	rep := &inspect.Report{Path: path, Size: int64(len(b)), MIME: "audio/ogg", Container: "ogg", Codec: "opus", Channels: 1}
	if strings.HasPrefix(string(b), "NOTAUDIO") {
		return rep, &inspect.Error{Path: path, Kind: inspect.KindNotAudio, Err: errors.New("not audio")}
	}
	return rep, nil
}

func (f *fakes) transcode(ctx context.Context, src string, _ *inspect.Report, o transcode.Options, dir string) (*transcode.Result, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	s := sha256.Sum256(b)
	f.mu.Lock()
	f.transcoded[hex.EncodeToString(s[:])+"|"+string(o.Profile)]++
	f.mu.Unlock()
	content := string(b)
	if strings.HasPrefix(content, "SLOW") {
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if strings.HasPrefix(content, "TCFAIL") {
		return nil, errors.New("ffmpeg: boom")
	}
	parts := 1
	if strings.HasPrefix(content, "LONG") {
		if !o.Split {
			return nil, errors.New("too long for one voice note: use --split or --profile audio")
		}
		parts = 2
	}
	res := &transcode.Result{Input: src, Action: transcode.ActionTranscode, Attempts: 1}
	for i := 0; i < parts; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out-part%d.ogg", i+1))
		if err := os.WriteFile(out, []byte(fmt.Sprintf("%s|%s|%d", content, o.Profile, i)), 0o644); err != nil {
			return nil, err
		}
		res.Outputs = append(res.Outputs, transcode.Output{Path: out, Codec: "opus", Channels: 1})
	}
	return res, nil
}

// uploader is a fake upload.Uploader for one destination.
type uploader struct {
	f    *fakes
	dest string
}

func (u uploader) Upload(ctx context.Context, file upload.File) (*upload.Ref, error) {
	if file.SHA256 == "" {
		return nil, errors.New("fake upload: the pipeline gave no sha256")
	}
	if u.f.onUpload != nil {
		if err := u.f.onUpload(ctx, u.dest, file); err != nil {
			return nil, err
		}
	}
	u.f.mu.Lock()
	u.f.uploaded[u.dest+"|"+file.SHA256]++
	u.f.mu.Unlock()
	if u.dest == "link" {
		return &upload.Ref{URL: "http://host.invalid/" + file.SHA256 + ".ogg", SHA256: file.SHA256}, nil
	}
	return &upload.Ref{MediaID: u.dest + "-" + file.SHA256[:12], SHA256: file.SHA256}, nil
}

// sender is a fake send.Sender for one provider.
type sender struct {
	f  *fakes
	pv send.Provider
}

func (s sender) Send(ctx context.Context, m send.Message) (*send.Receipt, error) {
	req := sendReq{Provider: s.pv, To: m.To, MediaID: m.MediaID, Link: m.Link, Voice: m.Voice, MessageID: m.Extras.MessageID}
	return s.f.send(ctx, req)
}

func (f *fakes) send(ctx context.Context, req sendReq) (*send.Receipt, error) {
	if f.onSend != nil {
		if err := f.onSend(ctx, req); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, req)
	if f.refuse[req.To] {
		return nil, errors.New("provider: (#131047) outside the window")
	}
	f.accepted = append(f.accepted, req)
	f.n++
	id := fmt.Sprintf("wamid.%d", f.n)
	if f.doubt[req.To] {
		return nil, &send.InDoubtError{Provider: req.Provider, To: req.To, MessageID: req.MessageID, Err: errors.New("connection reset after the body was sent")}
	}
	return &send.Receipt{Provider: req.Provider, To: req.To, MessageID: id, Status: "accepted"}, nil
}

// acceptedTo counts the messages that exist for each recipient.
func (f *fakes) acceptedTo() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, r := range f.accepted {
		out[r.To]++
	}
	return out
}

func (f *fakes) pipeline(t testing.TB) *Pipeline {
	senders := map[send.Provider]send.Sender{}
	for _, pv := range Providers {
		senders[pv] = sender{f, pv}
	}
	p, err := New(Config{
		Senders: senders,
		Media:   map[send.Provider]upload.Uploader{send.Meta: uploader{f, "meta"}, send.D360: uploader{f, "360dialog"}},
		Link:    uploader{f, "link"},
		TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.inspect, p.transcode = f.inspect, f.transcode
	return p
}

// writeFiles creates files (name → content) in dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func byStatus(res *BatchResult) map[Status][]int {
	out := map[Status][]int{}
	for _, r := range res.Rows {
		out[r.Status] = append(out[r.Status], r.Row)
	}
	return out
}
