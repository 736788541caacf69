package rules_test

import (
	"fmt"

	"github.com/prep-audio/prep/pkg/rules"
)

// Check decides from plain facts whether WhatsApp takes a file, as basic
// audio and as a voice note, and why not.
func ExampleCheck() {
	v := rules.Check(rules.Facts{Container: rules.ContainerOgg, Codec: rules.CodecOpus, Channels: 2, Size: 40_000})
	fmt.Println(v.Audio, v.Voice)
	for _, p := range v.Problems {
		fmt.Println(p.Code, p.VoiceOnly)
	}
	// Output:
	// false false
	// not_mono false
}
