package transcode_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Plan is pure: it shows what a transcode would do, here for a stereo
// five-minute MP3 that cannot fit 512 KB at the 32 kbit/s cap.
func ExampleTranscoder_Plan() {
	tr, err := transcode.New(transcode.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := &inspect.Report{Container: "mp3", Codec: "mp3", Channels: 2, SampleRate: 44100, Duration: 300, Size: 4_800_000}
	p, err := tr.Plan(rep)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Action, p.Ext, p.Channels, p.SampleRate, p.Bitrate, p.VBR, p.Estimate <= p.Budget)
	// Output: transcode .ogg 1 16000 12800 off true
}

// A recording too long for one voice note is refused with the choices.
func ExampleTranscoder_Plan_tooLong() {
	tr, _ := transcode.New(transcode.Options{})
	_, err := tr.Plan(&inspect.Report{Container: "wav", Codec: "pcm_s16le", Channels: 1, Duration: 1500, Size: 48_000_044})
	var te *transcode.Error
	if errors.As(err, &te) {
		fmt.Println(te.Kind)
	}
	// Output: too_long
}

// ToDir makes a voice note next to other outputs, named after the input.
func ExampleTranscoder_ToDir() {
	if _, err := exec.LookPath("ffmpeg"); err != nil && os.Getenv("CI") == "" {
		fmt.Println("transcode .ogg 1") // no ffmpeg here (under CI: fails)
		return
	}
	dir, _ := os.MkdirTemp("", "prep-example-")
	defer os.RemoveAll(dir)
	tr, _ := transcode.New(transcode.Options{})
	res, err := tr.ToDir(context.Background(), transcode.FileInput("../../testdata/ogg-vorbis-stereo-44k-2s.ogg"), dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Action, filepath.Ext(res.Outputs[0].Path), res.Outputs[0].Channels)
	// Output: transcode .ogg 1
}

// The inspection travels with the bytes: the caller's report of the source
// goes in (Input.Report, planned from instead of reading the file again)
// and each output comes back with the report it was verified with
// (Output.Report), which pkg/upload decides on (upload.File.Report)
// instead of inspecting the output again.
func ExampleOutput() {
	if _, err := exec.LookPath("ffmpeg"); err != nil && os.Getenv("CI") == "" {
		fmt.Println("transcode audio/ogg true") // no ffmpeg here (under CI: fails)
		return
	}
	ctx := context.Background()
	src := "../../testdata/mp3-cbr-64k-mono-44100-noxing.mp3"
	rep, err := inspect.File(ctx, src)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "prep-example-")
	defer os.RemoveAll(dir)
	tr, _ := transcode.New(transcode.Options{})
	res, err := tr.ToDir(ctx, transcode.Input{Path: src, Report: rep}, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	out := res.Outputs[0]
	typ, used, err := upload.Check(ctx, upload.File{Path: out.Path, Report: out.Report})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Action, typ.MIME, used == out.Report)
	// Output: transcode audio/ogg true
}
