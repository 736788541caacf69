package inspect_test

import (
	"context"
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect"
)

// Inspect a file and decide whether it can be sent as a voice note.
func ExampleFile() {
	rep, err := inspect.File(context.Background(), "../../testdata/hostile-html.mp3")
	if err != nil {
		fmt.Println("not audio:", rep.Problems[0].Code)
		return
	}
	fmt.Println(rep.Codec, rep.Channels, rep.VoiceReady)
	// Output: not audio: not_audio
}
