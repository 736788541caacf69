// Command amr writes deterministic AMR-NB / AMR-WB files in the RFC 4867 §5
// storage format, for prep's tests. Debian's ffmpeg has no AMR encoder and
// sox has none for AMR-WB, so the samples are built here: valid frame
// structures (ToC byte + class-sized payload) whose speech bits are
// pseudo-random from a fixed seed, with optional DTX runs of SID and
// NO_DATA frames as a phone's encoder writes during silence. ffmpeg decodes
// them (the gen scripts check with `ffmpeg -v error -i x -f null -`).
//
// Usage:
//
//	go run ./internal/testgen/amr -wb=false -mode 7 -frames 150 -dtx -seed 1 -o out.amr
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

// Payload sizes in bits per frame type (RFC 4867 §3.6 / 3GPP TS 26.101 and
// 26.201 Table 1a): index = FT. 0 means no payload.
var (
	nbBits = [16]int{95, 103, 118, 134, 148, 159, 204, 244, 39, 43, 38, 37, 0, 0, 0, 0}
	wbBits = [16]int{132, 177, 253, 285, 317, 365, 397, 461, 477, 40, 0, 0, 0, 0, 0, 0}
)

const noData = 15

func main() {
	wb := flag.Bool("wb", false, "AMR-WB (#!AMR-WB) instead of AMR-NB")
	mode := flag.Int("mode", 7, "speech frame type (NB 0-7, WB 0-8)")
	frames := flag.Int("frames", 150, "number of 20 ms frames in all (speech+SID+NO_DATA)")
	dtx := flag.Bool("dtx", false, "alternate speech with DTX silence (SID every 8th frame, NO_DATA between)")
	seed := flag.Uint64("seed", 1, "PRNG seed for payload bits")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "amr: -o is required")
		os.Exit(2)
	}
	bits, magic, sid := nbBits, "#!AMR\n", 8
	if *wb {
		bits, magic, sid = wbBits, "#!AMR-WB\n", 9
	}
	if *mode < 0 || *mode >= sid {
		fmt.Fprintf(os.Stderr, "amr: mode %d is not a speech mode\n", *mode)
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "amr:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	w.WriteString(magic)
	rng := rand.New(rand.NewPCG(*seed, 0x414d52))
	for i := 0; i < *frames; i++ {
		ft := *mode
		if *dtx {
			// 25 frames (0.5 s) of speech, then 25 frames of silence:
			// the first silent frame is SID_FIRST, then a SID_UPDATE every
			// 8th frame and NO_DATA in between (TS 26.093 §5).
			if p := i % 50; p >= 25 {
				ft = noData
				if (p-25)%8 == 0 {
					ft = sid
				}
			}
		}
		w.WriteByte(byte(ft<<3 | 1<<2)) // F=0, FT, Q=1, P=00
		n := bits[ft]
		payload := make([]byte, (n+7)/8)
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		if n%8 != 0 { // zero the padding bits after the last class bit
			payload[len(payload)-1] &= byte(0xFF << (8 - n%8))
		}
		w.Write(payload)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "amr:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "amr:", err)
		os.Exit(1)
	}
}
