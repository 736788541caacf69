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
	"strconv"
	"strings"
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
	runs := flag.String("runs", "25:25", "with -dtx: the lengths in frames of the speech and silence runs, alternating from speech and cycled (\"50:500:50\": 50 speech, 500 silence, 50 speech, 500 silence…; \"0:1\": all silence)")
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
	var cycle []int
	total := 0
	for _, r := range strings.Split(*runs, ":") {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "amr: bad -runs %q\n", *runs)
			os.Exit(2)
		}
		cycle = append(cycle, n)
		total += n
	}
	if total == 0 {
		fmt.Fprintf(os.Stderr, "amr: bad -runs %q\n", *runs)
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
			// Runs of speech and of silence (by default 25 frames,
			// 0.5 s, each): the first silent frame is SID_FIRST, then a
			// SID_UPDATE every 8th frame and NO_DATA in between (TS 26.093
			// §5).
			if silent, p := runAt(cycle, total, i); silent {
				ft = noData
				if p%8 == 0 {
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

// runAt says whether frame i falls in a silence run of the cycle (runs
// alternate speech, silence, speech, …; total is their sum) and its
// position in its run.
func runAt(cycle []int, total, i int) (silent bool, pos int) {
	p := i % total
	for k, n := range cycle {
		if p < n {
			return k%2 == 1, p
		}
		p -= n
	}
	return false, 0
}
