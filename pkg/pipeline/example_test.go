package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/pipeline"
)

// stages returns stand-in stages that print nothing and always succeed,
// counting what they did (real programs use NewSandboxPipeline or the
// adapters FromSend, FromUpload and NewTranscode).
func stages(transcodes, sends *atomic.Int32) *pipeline.Pipeline {
	send := pipeline.SenderFunc(func(ctx context.Context, r pipeline.SendRequest) (*pipeline.Receipt, error) {
		sends.Add(1)
		return &pipeline.Receipt{MessageID: "wamid.to-" + r.To[len(r.To)-3:]}, nil
	})
	return &pipeline.Pipeline{
		Inspect: func(ctx context.Context, path string, _ ...inspect.Option) (*inspect.Report, error) {
			st, err := os.Stat(path)
			if err != nil {
				return nil, err
			}
			return &inspect.Report{Path: path, Size: st.Size()}, nil
		},
		Transcoder: pipeline.TranscoderFunc(func(ctx context.Context, r pipeline.TranscodeRequest) (*pipeline.TranscodeResult, error) {
			transcodes.Add(1)
			return &pipeline.TranscodeResult{Action: "passthrough", Outputs: []pipeline.Output{{Path: r.Path, MIME: "audio/ogg", Ext: ".ogg"}}}, nil
		}),
		Uploader: pipeline.UploaderFunc(func(ctx context.Context, r pipeline.UploadRequest) (*pipeline.Media, error) {
			return &pipeline.Media{ID: "media-" + r.Name}, nil
		}),
		Senders: map[pipeline.Provider]pipeline.Sender{pipeline.Meta: send, pipeline.Infobip: send},
	}
}

// A batch over a manifest: two recordings, four rows, one invalid; each
// recording is prepared once. A rerun with the same journal sends nothing
// again.
func ExampleBatch() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.ogg"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "bye.ogg"), []byte("bye"), 0o644)
	manifest := filepath.Join(dir, "manifest.csv")
	os.WriteFile(manifest, []byte(strings.Join([]string{
		"to,file,provider",
		"+447700900001,hello.ogg,meta",
		"+447700900002,hello.ogg,meta",
		"+447700900003,bye.ogg,meta",
		"07700 900004,bye.ogg,meta",
	}, "\n")), 0o644)

	var transcodes, sends atomic.Int32
	p := stages(&transcodes, &sends)
	m, err := pipeline.ParseManifest(manifest, pipeline.ManifestDefaults{})
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := pipeline.BatchOptions{Journal: manifest + ".journal"}
	res, _ := p.NewBatch(m, opts).Run(context.Background())
	for _, r := range res.Rows {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%d %s %s %s", r.Row, r.To, r.Status, r.MessageID)))
	}
	fmt.Println("transcodes:", transcodes.Load(), "sends:", sends.Load())

	res, _ = p.NewBatch(m, opts).Run(context.Background())
	fmt.Println("rerun:", res.Summary.Counts[pipeline.StatusSent], "sent,", "sends:", sends.Load())
	// Output:
	// 2 +447700900001 sent wamid.to-001
	// 3 +447700900002 sent wamid.to-002
	// 4 +447700900003 sent wamid.to-003
	// 5 07700 900004 invalid
	// transcodes: 2 sends: 3
	// rerun: 3 sent, sends: 3
}

// One item through every stage.
func ExamplePipeline_Run() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "memo.ogg")
	os.WriteFile(path, []byte("memo"), 0o644)

	var transcodes, sends atomic.Int32
	p := stages(&transcodes, &sends)
	res, err := p.Run(context.Background(), pipeline.Item{Path: path, To: "+44 7700 900123", Provider: pipeline.Infobip})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.To, res.Profile, res.Transcode.Action, res.Media[0].ID, res.MessageID)
	// Output:
	// 447700900123 voice passthrough media-memo wamid.to-123
}

// Against a sandbox (here a URL; pkg/sandbox or `prep sandbox` serves
// one), with the real transcode, upload and send packages.
func ExampleNewSandboxPipeline() {
	p, err := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: "http://127.0.0.1:8080"})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := p.Run(context.Background(), pipeline.Item{Path: "memo.m4a", To: "+447700900123", Provider: pipeline.Meta})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.MessageID)
}
