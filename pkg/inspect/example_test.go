package inspect_test

import (
	"context"
	"errors"
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

// Tell whether an Opus note is packed like the ones WhatsApp records
// itself: SILK wideband, three 20 ms frames per packet, 16 kHz input.
func ExampleOpusPacking() {
	for _, f := range []string{"testdata/opus-native-silk-wb-3x20ms-16k.ogg", "testdata/opus-single-silk-wb-1x20ms-16k.ogg"} {
		rep, err := inspect.File(context.Background(), f)
		if err != nil {
			fmt.Println(err)
			return
		}
		p := rep.Opus
		fmt.Println(p.Mode, p.Bandwidth, p.FramesPerPacket, p.FrameMs, p.InputSampleRate, p.Native, rep.VoiceReady, rep.Has(inspect.CodeNotNativePacking))
	}
	// Output:
	// SILK WB 3 20 16000 true true false
	// SILK WB 1 20 16000 false true true
}

// Open a path a user named only if it is a regular file: /dev/zero (or a
// FIFO, which would block open(2)) is refused without being read.
func ExampleOpenRegular() {
	f, _, err := inspect.OpenRegular("/dev/zero")
	var ie *inspect.Error
	if errors.As(err, &ie) {
		fmt.Println(ie.Kind, "-", err)
		return
	}
	f.Close()
	// Output: not_regular_file - inspect /dev/zero: a character device, not a regular file
}
