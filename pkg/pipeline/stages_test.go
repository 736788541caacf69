package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// senderFunc is a send.Sender made of a function.
type senderFunc func(ctx context.Context, m send.Message) (*send.Receipt, error)

func (f senderFunc) Send(ctx context.Context, m send.Message) (*send.Receipt, error) {
	return f(ctx, m)
}

// memStore is a Store in memory; failAt makes the n-th Append (1-based)
// and every later one fail.
type memStore struct {
	mu     sync.Mutex
	recs   []Record
	failAt int
}

func (s *memStore) Append(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt > 0 && len(s.recs)+1 >= s.failAt {
		return errors.New("no space left on device")
	}
	s.recs = append(s.recs, r)
	return nil
}

func (s *memStore) states() string {
	var out []string
	for _, r := range s.recs {
		out = append(out, fmt.Sprintf("%d:%s", r.Part, r.State))
	}
	return strings.Join(out, " ")
}

// The send step, one row at a time: what it sends, what it records before
// and after each request, and how it reads every answer (issue 10 item 3:
// a sender returning no receipt or an empty id is in doubt, never a panic).
func TestSendStep(t *testing.T) {
	ok := func(id string) senderFunc {
		return func(context.Context, send.Message) (*send.Receipt, error) { return &send.Receipt{MessageID: id}, nil }
	}
	two := []upload.Ref{{MediaID: "m1"}, {MediaID: "m2"}}
	cases := []struct {
		name       string
		sender     senderFunc
		row        SendRow
		store      *memStore
		cancel     bool
		want       Status
		wantIDs    string
		wantStates string
		wantErr    string
	}{
		{name: "two parts sent", sender: ok("wamid.x"), row: SendRow{Provider: Meta, Media: two},
			want: StatusSent, wantIDs: "wamid.x;wamid.x", wantStates: "0:sending 0:sent 1:sending 1:sent"},
		{name: "nil receipt is in doubt", sender: func(context.Context, send.Message) (*send.Receipt, error) { return nil, nil },
			row: SendRow{Provider: Meta, Media: two[:1]}, want: StatusUnknown, wantStates: "0:sending 0:unknown", wantErr: "without a message id"},
		{name: "empty message id is in doubt", sender: ok(""), row: SendRow{Provider: Meta, Media: two[:1]},
			want: StatusUnknown, wantStates: "0:sending 0:unknown", wantErr: "in doubt"},
		{name: "refused", sender: func(context.Context, send.Message) (*send.Receipt, error) {
			return nil, &send.APIError{Provider: send.Meta, Code: 131047, Kind: send.KindWindow, Message: "outside the window"}
		}, row: SendRow{Provider: Meta, Media: two[:1]}, want: StatusFailed, wantStates: "0:sending 0:failed", wantErr: "outside the window"},
		{name: "in doubt on the second part keeps the first id", sender: func() senderFunc {
			n := 0
			return func(context.Context, send.Message) (*send.Receipt, error) {
				if n++; n == 2 {
					return nil, &send.InDoubtError{Provider: send.Meta, Err: errors.New("connection reset")}
				}
				return &send.Receipt{MessageID: "wamid.1"}, nil
			}
		}(), row: SendRow{Provider: Meta, Media: two}, want: StatusUnknown, wantIDs: "wamid.1", wantStates: "0:sending 0:sent 1:sending 1:unknown", wantErr: "part 2 of 2"},
		{name: "parts sent earlier are not sent again", sender: ok("wamid.2"), row: SendRow{Provider: Meta, Media: two, Sent: map[int]string{0: "wamid.1"}},
			want: StatusSent, wantIDs: "wamid.1;wamid.2", wantStates: "1:sending 1:sent"},
		{name: "store fails before the request: skipped", sender: ok("wamid.1"), row: SendRow{Provider: Meta, Media: two}, store: &memStore{failAt: 1},
			want: StatusSkipped, wantErr: "journal could not be written"},
		{name: "store fails before the second part: failed, first id kept", sender: ok("wamid.1"), row: SendRow{Provider: Meta, Media: two}, store: &memStore{failAt: 3},
			want: StatusFailed, wantIDs: "wamid.1", wantStates: "0:sending 0:sent", wantErr: "a rerun sends the rest"},
		{name: "cancelled while out is in doubt", sender: func(ctx context.Context, _ send.Message) (*send.Receipt, error) { <-ctx.Done(); return nil, ctx.Err() },
			row: SendRow{Provider: Meta, Media: two[:1]}, cancel: true, want: StatusUnknown, wantStates: "0:sending 0:unknown"},
		{name: "callback data goes to Meta too (biz_opaque_callback_data)", sender: func(_ context.Context, m send.Message) (*send.Receipt, error) {
			if m.Extras.CallbackData != "x" || m.Extras.MessageID != "" {
				return nil, fmt.Errorf("extras %+v", m.Extras)
			}
			return &send.Receipt{MessageID: "wamid.1"}, nil
		}, row: SendRow{Provider: Meta, Media: two[:1], CallbackData: "x"}, want: StatusSent, wantIDs: "wamid.1", wantStates: "0:sending 0:sent"},
		{name: "Infobip gets a client id and the notify URL", sender: func(_ context.Context, m send.Message) (*send.Receipt, error) {
			if m.Extras.MessageID == "" || m.Extras.NotifyURL != "http://127.0.0.1/n" || m.Link == "" {
				return nil, fmt.Errorf("message %+v", m)
			}
			return &send.Receipt{MessageID: "ib.1"}, nil
		}, row: SendRow{Provider: Infobip, Media: []upload.Ref{{URL: "http://127.0.0.1/a.ogg"}}, NotifyURL: "http://127.0.0.1/n"}, want: StatusSent, wantIDs: "ib.1", wantStates: "0:sending 0:sent"},
		{name: "nothing uploaded", sender: ok("wamid.1"), row: SendRow{Provider: Meta}, want: StatusFailed, wantErr: "no uploaded media"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(Config{Senders: map[send.Provider]send.Sender{Meta: tc.sender, Infobip: tc.sender}})
			if err != nil {
				t.Fatal(err)
			}
			st := tc.store
			if st == nil {
				st = &memStore{}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go cancel()
			}
			row := tc.row
			row.Key, row.To = "k", "447700900001"
			out := p.Send(ctx, st, &row)
			if out.Status != tc.want || strings.Join(out.MessageIDs, ";") != tc.wantIDs {
				t.Errorf("status %s ids %q (err %v), want %s %q", out.Status, out.MessageIDs, out.Err, tc.want, tc.wantIDs)
			}
			if got := st.states(); got != tc.wantStates {
				t.Errorf("records %q, want %q", got, tc.wantStates)
			}
			if tc.wantErr != "" && (out.Err == nil || !strings.Contains(out.Err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one with %q", out.Err, tc.wantErr)
			}
			if out.Messages > 0 && out.Duration <= 0 {
				t.Errorf("%d messages sent in %v", out.Messages, out.Duration)
			}
			if out.Status == StatusUnknown && !isInDoubt(out.Err) {
				t.Errorf("unknown without a *send.InDoubtError: %v", out.Err)
			}
		})
	}
}

// One item goes through the same send step: a sender returning no
// receipt made Pipeline.Run panic (a nil dereference); now it is a
// StageError at send wrapping a *send.InDoubtError.
func TestRunSenderWithoutReceiptIsInDoubt(t *testing.T) {
	for _, rc := range []*send.Receipt{nil, {}} {
		f := newFakes()
		p := f.pipeline(t)
		p.senders[Meta] = senderFunc(func(context.Context, send.Message) (*send.Receipt, error) { return rc, nil })
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
		res, err := p.Run(context.Background(), Item{Path: filepath.Join(dir, "a.ogg"), To: "+447700900001", Provider: Meta})
		var se *StageError
		var d *send.InDoubtError
		if !errors.As(err, &se) || se.Stage != StageSend || !errors.As(err, &d) {
			t.Errorf("receipt %+v: err %v, want a send StageError in doubt", rc, err)
		}
		if res == nil || len(res.Media) != 1 {
			t.Errorf("result %+v", res)
		}
	}
}

// The prepare and upload stages on their own: outputs hashed, the
// source's report reused for a passthrough's upload, a destination
// without an uploader and an uploader that returns nothing are errors
// of the upload stage.
func TestPrepareAndUploadStages(t *testing.T) {
	f := newFakes()
	p := f.pipeline(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"long.ogg": "LONG"})
	prep, err := p.Prepare(context.Background(), Recording{Path: filepath.Join(dir, "long.ogg"), Split: true}, filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if prep.Profile != Voice || len(prep.Files) != 2 || prep.Files[0].SHA256 == "" || prep.Files[0].SHA256 == prep.Files[1].SHA256 || prep.Key() != prep.SHA256+"|voice" {
		t.Fatalf("prepared %+v", prep)
	}
	refs, err := p.Upload(context.Background(), prep, Infobip, false)
	if err != nil || len(refs) != 2 || refs[0].URL == "" {
		t.Fatalf("Infobip upload: %v %+v", err, refs)
	}
	refs, err = p.Upload(context.Background(), prep, D360, false)
	if err != nil || len(refs) != 2 || !strings.HasPrefix(refs[0].MediaID, "360dialog-") {
		t.Fatalf("360dialog upload: %v %+v", err, refs)
	}
	var se *StageError
	p.media = nil
	if _, err := p.Upload(context.Background(), prep, Meta, false); !errors.As(err, &se) || se.Stage != StageUpload {
		t.Errorf("no uploader: %v", err)
	}
	p.link = uploadFunc(func(context.Context, upload.File) (*upload.Ref, error) { return &upload.Ref{}, nil })
	if _, err := p.Upload(context.Background(), prep, Meta, true); !errors.As(err, &se) || !strings.Contains(err.Error(), "no media id or URL") {
		t.Errorf("empty ref: %v", err)
	}
	writeFiles(t, dir, map[string]string{"bad.ogg": "NOTAUDIO"})
	if _, err := p.Prepare(context.Background(), Recording{Path: filepath.Join(dir, "bad.ogg")}, filepath.Join(dir, "out2")); !errors.As(err, &se) || se.Stage != StageInspect {
		t.Errorf("not audio: %v", err)
	}
}

type uploadFunc func(ctx context.Context, f upload.File) (*upload.Ref, error)

func (f uploadFunc) Upload(ctx context.Context, file upload.File) (*upload.Ref, error) {
	return f(ctx, file)
}

// The plan stage: what the journal and the checks settle before any work,
// and how the rest is grouped (one unit of work per content, rows by
// destination; rows whose recording an earlier run uploaded go straight to
// sending).
func TestPlan(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "copy.ogg": "AAA", "b.ogg": "BBBB"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n"+
		"+447000000001,a.ogg,meta\n"+ // 2: sent earlier
		"+447000000002,a.ogg,meta\n"+ // 3: in doubt earlier
		"+447000000003,copy.ogg,infobip\n"+ // 4: same content as a, to the link host
		"+447000000004,b.ogg,meta\n"+ // 5: b uploaded earlier: ready
		"12,b.ogg,meta\n") // 6: invalid
	f := newFakes()
	b := f.pipeline(t).NewBatch(m, BatchOptions{})
	runs := b.checkRows(context.Background())
	shaA, shaB := fileSHA(t, filepath.Join(dir, "a.ogg")), fileSHA(t, filepath.Join(dir, "b.ogg"))
	recs := []Record{
		{Key: runs[0].key, Part: 0, Parts: 1, State: StateSending}, {Key: runs[0].key, Part: 0, Parts: 1, State: StateSent, MessageID: "wamid.1", Media: "meta-1"},
		{Key: runs[1].key, Part: 0, Parts: 1, State: StateSending},
		{State: StateUploaded, Content: b.uploadContent(Recording{SHA256: shaB}), Dest: "meta", Parts: 1, Media: "meta-b", Time: time.Now()},
		{State: StateUploaded, Content: b.uploadContent(Recording{SHA256: shaA}), Dest: "link", Parts: 1, Media: "old", Time: time.Now().Add(-48 * time.Hour)}, // too old to reuse
		{State: StateUploaded, Content: b.uploadContent(Recording{SHA256: shaA, Split: true}), Dest: "link", Parts: 2, Media: "s1;s2", Time: time.Now()},       // made with other options
	}
	jg := &journalGuard{hist: replayRows(recs), uploaded: replayUploads(recs, time.Now())}
	pl := b.plan(context.Background(), runs, jg)
	var got []string
	for _, rr := range runs {
		got = append(got, fmt.Sprintf("%d:%s", rr.row.Line, rr.status))
	}
	if fmt.Sprint(got) != "[2:sent 3:unknown 4: 5: 6:invalid]" {
		t.Errorf("settled %v", got)
	}
	if len(pl.ready) != 1 || pl.ready[0].row.Line != 5 || joinRefs(pl.ready[0].media) != "meta-b" {
		t.Errorf("ready %+v", pl.ready)
	}
	if len(pl.work) != 1 || pl.work[0].rec.SHA256 != shaA || fmt.Sprint(pl.work[0].dests) != "[link]" || len(pl.work[0].rows["link"]) != 1 {
		t.Errorf("work %+v", pl.work)
	}
	if pl.distinct != 2 || runs[0].resumed != true || joinRefs(runs[0].media) != "meta-1" {
		t.Errorf("distinct %d, resumed row %+v", pl.distinct, runs[0])
	}
	if n, _ := b.tally.snapshot(); n[StatusSent] != 1 || n[StatusUnknown] != 1 || n[StatusInvalid] != 1 {
		t.Errorf("progress counts by status %v", n)
	}
}

// linkHost is an uploader that presigns (an upload.Linker), or fails to.
type linkHost struct{ err error }

func (linkHost) Upload(context.Context, upload.File) (*upload.Ref, error) {
	return nil, errors.New("not used")
}

func (h linkHost) URL(_ context.Context, key string) (string, error) {
	return "http://s3.test/b/" + key + "?X-Amz-Signature=fresh", h.err
}

// plainHost is an uploader that cannot make a URL again.
type plainHost struct{}

func (plainHost) Upload(context.Context, upload.File) (*upload.Ref, error) {
	return nil, errors.New("not used")
}

// TestFetchURL: the URL sent for an upload is its Link; for one that lost
// it (read back from a journal or a queue entry) the link host presigns it
// again from the key, when it is the host that made it; a host that
// cannot sends the URL as it is.
func TestFetchURL(t *testing.T) {
	noSend := senderFunc(func(context.Context, send.Message) (*send.Receipt, error) { return nil, errors.New("not used") })
	for _, tt := range []struct {
		name    string
		host    upload.Uploader
		ref     upload.Ref
		want    string
		wantErr bool
	}{
		{"link kept", linkHost{}, upload.Ref{URL: "http://s3.test/b/k", Link: "http://s3.test/b/k?X-Amz-Signature=old", Key: "k"}, "http://s3.test/b/k?X-Amz-Signature=old", false},
		{"presigned again", linkHost{}, upload.Ref{URL: "http://s3.test/b/k", Key: "k"}, "http://s3.test/b/k?X-Amz-Signature=fresh", false},
		{"no key", linkHost{}, upload.Ref{URL: "http://cdn.test/k"}, "http://cdn.test/k", false},
		{"host without Linker", plainHost{}, upload.Ref{URL: "http://files.test/k", Key: "k"}, "http://files.test/k", false},
		{"presigning fails", linkHost{err: errors.New("no credentials")}, upload.Ref{URL: "http://s3.test/b/k", Key: "k"}, "", true},
		// Made through another link host: its key presigned here names
		// another object, and its URL alone is unsigned.
		{"another bucket", linkHost{}, upload.Ref{URL: "http://s3.test/other/k", Key: "k"}, "", true},
		{"another endpoint", linkHost{}, upload.Ref{URL: "http://127.0.0.1:9000/b/k", Key: "k"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Config{Senders: map[send.Provider]send.Sender{send.Infobip: noSend}, Link: tt.host})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.FetchURL(context.Background(), tt.ref)
			var se *StageError
			if tt.wantErr != (err != nil) || (err != nil && !errors.As(err, &se)) || got != tt.want {
				t.Fatalf("FetchURL = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// Account names each sending account apart (two 360dialog keys are two
// accounts, as are two Infobip keys), never with its credential.
func TestAccount(t *testing.T) {
	client := func(newc func(...send.Option) (*send.Client, error), opts ...send.Option) *send.Client {
		c, err := newc(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	d1 := client(send.NewD360, send.WithAPIKey("d360-key-one"))
	d2 := client(send.NewD360, send.WithAPIKey("d360-key-two"))
	ib := client(send.NewInfobip, send.WithAPIKey("infobip-key"), send.WithBaseURL("https://xyz.api.infobip.com"))
	a, err := New(Config{Senders: map[send.Provider]send.Sender{send.D360: d1, send.Infobip: ib}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Senders: map[send.Provider]send.Sender{send.D360: d2}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Account(send.D360) == "" || a.Account(send.D360) == b.Account(send.D360) {
		t.Errorf("two 360dialog keys: accounts %q and %q", a.Account(send.D360), b.Account(send.D360))
	}
	if a.Account(send.Meta) != "" {
		t.Errorf("no Meta sender, account %q", a.Account(send.Meta))
	}
	for _, s := range []string{a.Account(send.D360), a.Account(send.Infobip), b.Account(send.D360)} {
		if strings.Contains(s, "key-one") || strings.Contains(s, "key-two") || strings.Contains(s, "infobip-key") {
			t.Errorf("account %q holds a credential", s)
		}
	}
}
