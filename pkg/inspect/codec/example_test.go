package codec_test

import (
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect/codec"
)

// A WhatsApp-recorded voice note packs three 20 ms SILK wideband frames in
// each packet (TOC config 9, code 3); ffmpeg writes one per packet (code 0).
func ExampleParseOpusPacket() {
	one := []byte{0x48, 0xAA, 0xBB} // config 9, code 0: one frame
	pk, err := codec.ParseOpusPacket(one)
	if err != nil {
		panic(err)
	}
	fmt.Println(pk.TOC.Mode(), pk.TOC.Bandwidth(), pk.TOC.FrameDuration(), pk.TOC.Code, len(pk.Frames))

	// Repack three such frames into one 60 ms packet.
	three, _ := codec.AppendOpusPacket(nil, pk.TOC, [][]byte{pk.Frames[0], pk.Frames[0], pk.Frames[0]})
	pk3, _ := codec.ParseOpusPacket(three)
	fmt.Println(pk3.TOC.Code, len(pk3.Frames), pk3.Samples()*1000/48000, "ms")
	// Output:
	// SILK WB 20ms 0 1
	// 3 3 60 ms
}
