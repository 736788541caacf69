package main

import (
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/upload"
)

// TestRunRefusalAdviceHint: prep run --json's advice for an upload refusal
// names the command that fixes it, "(prep transcode FILE)", as prep upload
// does (the library's advice names no CLI command); a file that is not
// audio gets no such hint.
func TestRunRefusalAdviceHint(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     string
		wantHint bool
	}{
		{"stereo opus", &pipeline.StageError{Stage: pipeline.StageUpload, Err: &upload.RefusedError{Name: "memo.opus", MIME: "audio/ogg",
			Kind: inspect.CodeNotMono, Problems: []inspect.Problem{{Code: inspect.CodeNotMono, Message: "2 channels"}}}}, "transcode it first", true},
		{"not audio", &pipeline.StageError{Stage: pipeline.StageUpload, Err: &upload.RefusedError{Name: "page.mp3", MIME: "text/html",
			Kind: inspect.CodeNotAudio, Problems: []inspect.Problem{{Code: inspect.CodeNotAudio, Message: "HTML"}}}}, "not an audio file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := describeRunError(tt.err)
			if re.Class != "refused" || !strings.Contains(re.Advice, tt.want) {
				t.Fatalf("class %q advice %q; want refused, %q", re.Class, re.Advice, tt.want)
			}
			name := tt.err.(*pipeline.StageError).Err.(*upload.RefusedError).Name
			if got := strings.Contains(re.Advice, "(prep transcode "+name+")"); got != tt.wantHint {
				t.Errorf("advice %q: prep transcode hint %v, want %v", re.Advice, got, tt.wantHint)
			}
		})
	}
}
