// Command adtscrc rewrites an ADTS AAC file so that every frame is
// CRC-protected (protection_absent = 0, a 16-bit crc_check after the 7-byte
// header; ISO/IEC 13818-7 §6.2 adts_error_check). ffmpeg's adts muxer never
// writes CRCs, so prep's tests make such files with this tool.
//
// The CRC word is CRC-16 (x^16+x^15+x^2+1, initial 0xFFFF) over the 56
// header bits only; ISO also covers leading bits of each raw data block's
// elements. Decoders that do not verify CRCs (ffmpeg by default) decode the
// result exactly like the input; prep's parser only uses the header layout.
//
// Usage: go run ./internal/testgen/adtscrc IN.aac OUT.aac
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: adtscrc IN.aac OUT.aac")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "adtscrc:", err)
		os.Exit(1)
	}
	out, frames, err := protect(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "adtscrc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "adtscrc:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "adtscrc: %d frames\n", frames)
}

func protect(in []byte) ([]byte, int, error) {
	var out []byte
	frames := 0
	for off := 0; off < len(in); {
		h := in[off:]
		if len(h) < 7 || h[0] != 0xFF || h[1]&0xF6 != 0xF0 {
			return nil, 0, fmt.Errorf("no ADTS header at offset %d", off)
		}
		flen := int(h[3]&3)<<11 | int(h[4])<<3 | int(h[5])>>5
		hlen := 7
		if h[1]&1 == 0 {
			hlen = 9
		}
		if flen < hlen || flen > len(h) {
			return nil, 0, fmt.Errorf("bad frame length %d at offset %d", flen, off)
		}
		payload := h[hlen:flen]
		nh := make([]byte, 7)
		copy(nh, h[:7])
		nh[1] &^= 1 // protection_absent = 0
		nlen := len(payload) + 9
		nh[3] = nh[3]&^3 | byte(nlen>>11)&3
		nh[4] = byte(nlen >> 3)
		nh[5] = nh[5]&0x1F | byte(nlen&7)<<5
		crc := crc16(nh)
		out = append(out, nh...)
		out = append(out, byte(crc>>8), byte(crc))
		out = append(out, payload...)
		off += flen
		frames++
	}
	return out, frames, nil
}

func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x8005
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
