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
)

// The fakes below stand in for the real stages so the batch machinery can
// be tested fast and made to fail on purpose. Their behaviour is driven by
// the content of the test files:
//
//	"NOTAUDIO…"  the inspector refuses it
//	"TCFAIL…"    the transcoder fails
//	"LONG…"      the transcoder makes two parts with Split, fails without
//	"SLOW…"      the transcoder takes 200 ms (honouring ctx)

type fakes struct {
	mu         sync.Mutex
	inspected  map[string]int // by source sha
	transcoded map[string]int // by source sha + profile
	uploaded   map[string]int // by dest + output sha
	sent       []SendRequest  // every request received (accepted or not)
	accepted   []SendRequest  // requests that produced a message
	// refuse: recipients the provider refuses; doubt: recipients whose
	// send is recorded and then the answer lost.
	refuse map[string]bool
	doubt  map[string]bool
	// onSend, when set, runs before a send is processed.
	onSend func(ctx context.Context, req SendRequest) error
	// onUpload, when set, runs before an upload is processed.
	onUpload func(ctx context.Context, req UploadRequest) error
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

func (f *fakes) transcode(ctx context.Context, req TranscodeRequest) (*TranscodeResult, error) {
	b, err := os.ReadFile(req.Path)
	if err != nil {
		return nil, err
	}
	s := sha256.Sum256(b)
	f.mu.Lock()
	f.transcoded[hex.EncodeToString(s[:])+"|"+string(req.Profile)]++
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
		if !req.Split {
			return nil, errors.New("too long for one voice note: use --split or --profile audio")
		}
		parts = 2
	}
	res := &TranscodeResult{Action: "transcode", Attempts: 1}
	for i := 0; i < parts; i++ {
		out := filepath.Join(req.OutDir, fmt.Sprintf("out-part%d.ogg", i+1))
		if err := os.WriteFile(out, []byte(fmt.Sprintf("%s|%s|%d", content, req.Profile, i)), 0o644); err != nil {
			return nil, err
		}
		res.Outputs = append(res.Outputs, Output{Path: out, MIME: "audio/ogg", Ext: ".ogg"})
	}
	return res, nil
}

func (f *fakes) upload(ctx context.Context, req UploadRequest) (*Media, error) {
	if req.SHA256 == "" || req.Bytes == 0 {
		return nil, errors.New("fake upload: the pipeline gave no sha256/size")
	}
	if f.onUpload != nil {
		if err := f.onUpload(ctx, req); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.uploaded[string(req.Dest)+"|"+req.SHA256]++
	f.mu.Unlock()
	if req.Dest == DestLink {
		return &Media{URL: "http://host.invalid/" + req.SHA256 + req.Ext}, nil
	}
	return &Media{ID: string(req.Dest) + "-" + req.SHA256[:12]}, nil
}

func (f *fakes) send(ctx context.Context, req SendRequest) (*Receipt, error) {
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
		return nil, &InDoubtError{MessageID: req.MessageID, Err: errors.New("connection reset after the body was sent")}
	}
	return &Receipt{MessageID: id, Status: "accepted"}, nil
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
	senders := map[Provider]Sender{}
	for _, p := range Providers {
		senders[p] = SenderFunc(f.send)
	}
	return &Pipeline{
		Inspect:    f.inspect,
		Transcoder: TranscoderFunc(f.transcode),
		Uploader:   UploaderFunc(f.upload),
		Senders:    senders,
		TempDir:    t.TempDir(),
	}
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
