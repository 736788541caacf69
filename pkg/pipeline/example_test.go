package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// A voice note to one recipient: one client for the account (it sends the
// messages and, through upload.NewMedia, uploads the media), and the
// pipeline over it. (Here the account is the in-process sandbox's; for
// Meta itself leave out the base URL, or use send.FromEnv.)
func Example() {
	sb, _ := sandbox.Start(sandbox.Config{})
	defer sb.Close()
	token, phoneID := "sandbox", "100000000000001"

	meta, _ := send.NewMeta(send.WithBaseURL(sb.MetaURL()), send.WithToken(token), send.WithPhoneNumberID(phoneID))
	media, _ := upload.NewMedia(meta, nil)
	p, _ := pipeline.New(pipeline.Config{
		Senders: map[send.Provider]send.Sender{send.Meta: meta},
		Media:   map[send.Provider]upload.Uploader{send.Meta: media},
	})
	res, err := p.Run(context.Background(), pipeline.Item{Path: "../../testdata/ogg-opus-mono-48k-2s.ogg", To: "+1 650 555 1234", Provider: send.Meta})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.To, res.Transcode.Action, len(res.MessageIDs), "message")
	// Output:
	// 16505551234 passthrough 1 message
}

// A batch over a manifest, against the in-process sandbox: three rows
// share one recording (prepared and uploaded once), one row is invalid. A
// rerun with the same journal sends nothing again.
func ExampleBatch() {
	sb, _ := sandbox.Start(sandbox.Config{})
	defer sb.Close()
	p, _ := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: sb.URL()})

	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	note, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	os.WriteFile(filepath.Join(dir, "hello.ogg"), note, 0o644)
	manifest := filepath.Join(dir, "manifest.csv")
	os.WriteFile(manifest, []byte(strings.Join([]string{
		"to,file,provider",
		"+447700900001,hello.ogg,meta",
		"+447700900002,hello.ogg,meta",
		"+447700900003,hello.ogg,360dialog",
		"07700 900004,hello.ogg,meta",
	}, "\n")), 0o644)

	m, err := pipeline.ParseManifest(manifest, pipeline.ManifestDefaults{})
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := pipeline.BatchOptions{Journal: manifest + ".journal"}
	res, _ := p.NewBatch(m, opts).Run(context.Background())
	for _, r := range res.Rows {
		fmt.Println(r.Row, r.Provider, r.Status)
	}
	s := res.Summary
	fmt.Println("prepared:", s.Prepared, "uploads:", s.Uploads, "messages:", s.Messages)

	res, _ = p.NewBatch(m, opts).Run(context.Background())
	fmt.Println("rerun:", res.Summary.Counts[pipeline.StatusSent], "sent, messages:", res.Summary.Messages)
	// Output:
	// 2 meta sent
	// 3 meta sent
	// 4 360dialog sent
	// 5 meta invalid
	// prepared: 1 uploads: 2 messages: 3
	// rerun: 3 sent, messages: 0
}

// The stages one by one, as a remote worker runs them: prepare a
// recording, upload it for a provider, send one row guarded by a Store
// (here the local Journal; a replicated key-value store would do).
func ExamplePipeline_Send() {
	sb, _ := sandbox.Start(sandbox.Config{})
	defer sb.Close()
	p, _ := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: sb.URL()})
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	prep, err := p.Prepare(ctx, pipeline.Recording{Path: "../../testdata/ogg-opus-mono-48k-2s.ogg", Profile: transcode.ProfileVoice}, filepath.Join(dir, "out"))
	if err != nil {
		fmt.Println(err)
		return
	}
	refs, err := p.Upload(ctx, prep, send.Infobip, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	journal, _, _ := pipeline.OpenJournal(filepath.Join(dir, "journal"))
	defer journal.Close()
	out := p.Send(ctx, journal, &pipeline.SendRow{Key: "row-1", Provider: send.Infobip, To: "447700900001", Voice: true, Media: refs})
	fmt.Println(prep.Transcode.Action, strings.HasPrefix(refs[0].URL, sb.URL()), out.Status, len(out.MessageIDs))
	// Output:
	// passthrough true sent 1
}

// Two identical rows are two messages: RowKeys keys them apart by their
// occurrence. The keys are pinned: the local journal and the queue both
// use them, so they must never change.
func ExampleRowKeys() {
	var keys pipeline.RowKeys
	sha := strings.Repeat("ab", 32) // the file's SHA-256
	fmt.Println(keys.Next("15550001234", send.Meta, transcode.ProfileVoice, "", sha))
	fmt.Println(keys.Next("15550001234", send.Meta, transcode.ProfileVoice, "", sha))
	// Output:
	// 437c29e804c37f83a4709a879f4d0b03
	// 7de0c6467a1bd0bd66bc5052524f1a42
}

// Which account a media id uploaded for items through a provider belongs
// to (Meta's media ids are usable only by the phone number that uploaded
// them): what the media-id cache and prep's queue key media on.
func ExamplePipeline_MediaAccount() {
	meta, _ := send.NewMeta(send.WithBaseURL("http://127.0.0.1:9"), send.WithToken("token"), send.WithPhoneNumberID("100000000000001"))
	media, _ := upload.NewMedia(meta, nil)
	p, _ := pipeline.New(pipeline.Config{
		Senders: map[send.Provider]send.Sender{send.Meta: meta},
		Media:   map[send.Provider]upload.Uploader{send.Meta: media},
	})
	k, ok := p.MediaAccount(send.Meta)
	fmt.Println(k.Account, ok)
	_, ok = p.MediaAccount(send.Infobip) // by link only: no media endpoint
	fmt.Println(ok)
	// Output:
	// 100000000000001 true
	// false
}
