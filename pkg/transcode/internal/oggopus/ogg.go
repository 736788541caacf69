package oggopus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect/codec"
)

// Ogg page layout (RFC 3533 §6).
const (
	pageHeaderLen = 27
	flagContinued = 0x01
	flagBOS       = 0x02
	flagEOS       = 0x04
	maxSegments   = 255
)

// crcTable is the Ogg CRC-32 table (polynomial 0x04c11db7, not
// reflected, initial value 0, no final XOR: RFC 3533 §6). Read-only.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func crc(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// AudioPacket is one audio packet of a stream with the granule position
// of the page it completes on.
type AudioPacket struct {
	Data    []byte
	Granule int64
	Last    bool // completes on the last page
}

// PageInfo describes one page.
type PageInfo struct {
	Flags    byte
	Granule  int64
	Seq      uint32
	Packets  int // packets completed on the page
	Segments int
}

// Stream is a parsed single-link Ogg Opus stream.
type Stream struct {
	Serial  uint32
	Head    codec.OpusHead
	HeadRaw []byte // the OpusHead packet as stored
	Vendor  string
	Audio   []AudioPacket
	Pages   []PageInfo
	EOS     bool
	headers int // pages holding the two header packets
}

// MaxStreamBytes bounds what Parse reads (the largest WhatsApp audio file
// is 16 MB).
const MaxStreamBytes = 64 << 20

// maxPacketBytes bounds one reassembled packet.
const maxPacketBytes = 1 << 20

// Parse reads a whole Ogg Opus stream: one logical stream (no chaining, no
// multiplexing), pages with valid CRCs and sequence numbers, OpusHead then
// OpusTags, then audio packets.
func Parse(b []byte) (*Stream, error) {
	if len(b) > MaxStreamBytes {
		return nil, fmt.Errorf("oggopus: %d bytes is over the %d-byte limit", len(b), MaxStreamBytes)
	}
	s := &Stream{}
	var pkt []byte
	var packets [][]byte
	var grans []int64
	for off := 0; off < len(b); {
		if s.EOS {
			return nil, fmt.Errorf("oggopus: data after the end-of-stream page at offset %d (chained or appended stream)", off)
		}
		pg, err := readPage(b, off)
		if err != nil {
			return nil, err
		}
		if err := s.checkPage(pg, off, len(pkt) > 0); err != nil {
			return nil, err
		}
		s.EOS = pg.flags&flagEOS != 0
		data := pg.data
		done := 0
		for _, l := range pg.lacing {
			pkt = append(pkt, data[:l]...)
			data = data[l:]
			if len(pkt) > maxPacketBytes {
				return nil, fmt.Errorf("oggopus: a packet over %d bytes", maxPacketBytes)
			}
			if l < 255 {
				packets = append(packets, pkt)
				grans = append(grans, pg.granule)
				pkt = nil
				done++
			}
		}
		if done > 0 && pg.granule == -1 {
			return nil, fmt.Errorf("oggopus: page at offset %d completes packets without a granule position", off)
		}
		s.Pages = append(s.Pages, PageInfo{Flags: pg.flags, Granule: pg.granule, Seq: pg.seq, Packets: done, Segments: len(pg.lacing)})
		if len(packets) == 2 && s.headers == 0 {
			s.headers = len(s.Pages)
		}
		off += pg.size
	}
	if len(pkt) > 0 {
		return nil, errors.New("oggopus: the stream ends inside a packet")
	}
	if err := s.setPackets(packets, grans); err != nil {
		return nil, err
	}
	return s, nil
}

// rawPage is one Ogg page as read from the stream, its CRC checked.
type rawPage struct {
	flags   byte
	granule int64
	serial  uint32
	seq     uint32
	lacing  []byte // the segment table
	data    []byte // the payload the lacing values divide
	size    int    // the whole page: header, segment table and payload
}

// readPage reads and checks the Ogg page at b[off:] (RFC 3533 §6): its
// capture pattern, version, length and CRC.
func readPage(b []byte, off int) (rawPage, error) {
	if len(b)-off < pageHeaderLen || string(b[off:off+4]) != "OggS" {
		return rawPage{}, fmt.Errorf("oggopus: no Ogg page at offset %d", off)
	}
	h := b[off:]
	if h[4] != 0 {
		return rawPage{}, fmt.Errorf("oggopus: Ogg version %d at offset %d", h[4], off)
	}
	nseg := int(h[26])
	if len(h) < pageHeaderLen+nseg {
		return rawPage{}, fmt.Errorf("oggopus: page at offset %d is cut", off)
	}
	lacing := h[pageHeaderLen : pageHeaderLen+nseg]
	size := 0
	for _, l := range lacing {
		size += int(l)
	}
	end := pageHeaderLen + nseg + size
	if len(h) < end {
		return rawPage{}, fmt.Errorf("oggopus: page at offset %d is cut", off)
	}
	page := h[:end]
	c := make([]byte, len(page))
	copy(c, page)
	c[22], c[23], c[24], c[25] = 0, 0, 0, 0
	if crc(c) != binary.LittleEndian.Uint32(h[22:]) {
		return rawPage{}, fmt.Errorf("oggopus: bad CRC on the page at offset %d", off)
	}
	return rawPage{
		flags:   h[5],
		granule: int64(binary.LittleEndian.Uint64(h[6:])),
		serial:  binary.LittleEndian.Uint32(h[14:]),
		seq:     binary.LittleEndian.Uint32(h[18:]),
		lacing:  lacing,
		data:    page[pageHeaderLen+nseg:],
		size:    end,
	}, nil
}

// checkPage checks that pg, at offset off, continues the one logical stream
// read so far (s.Pages): the first page begins it, later pages keep its
// serial and sequence, and a page continues a packet exactly when one is
// open (inPacket).
func (s *Stream) checkPage(pg rawPage, off int, inPacket bool) error {
	first := len(s.Pages) == 0
	if first {
		if pg.flags&flagBOS == 0 {
			return errors.New("oggopus: the first page is not a beginning-of-stream page")
		}
		s.Serial = pg.serial
	} else if pg.serial != s.Serial || pg.flags&flagBOS != 0 {
		return fmt.Errorf("oggopus: a second logical stream (serial %08x) at offset %d", pg.serial, off)
	}
	if !first && pg.seq != s.Pages[len(s.Pages)-1].Seq+1 {
		return fmt.Errorf("oggopus: page sequence jumps to %d at offset %d (a page is missing)", pg.seq, off)
	}
	if pg.flags&flagContinued != 0 && !inPacket {
		return fmt.Errorf("oggopus: the page at offset %d continues no packet", off)
	}
	if pg.flags&flagContinued == 0 && inPacket {
		return fmt.Errorf("oggopus: a packet is cut at the page at offset %d", off)
	}
	return nil
}

// setPackets reads the header packets (OpusHead, OpusTags; each must end
// its page, RFC 7845 §3) and keeps the audio packets with the granule of
// the page each completes on (grans[i] for packets[i]).
func (s *Stream) setPackets(packets [][]byte, grans []int64) error {
	if len(packets) < 2 {
		return errors.New("oggopus: no OpusHead and OpusTags")
	}
	head, err := codec.ParseOpusHead(packets[0])
	if err != nil {
		return fmt.Errorf("oggopus: %w", err)
	}
	s.Head, s.HeadRaw = head, packets[0]
	tags := packets[1]
	if len(tags) < 16 || string(tags[:8]) != "OpusTags" {
		return errors.New("oggopus: the second packet is not OpusTags")
	}
	vl := binary.LittleEndian.Uint32(tags[8:])
	if uint64(vl) > uint64(len(tags)-16) {
		return errors.New("oggopus: OpusTags vendor string is cut")
	}
	s.Vendor = string(tags[12 : 12+vl])
	if s.Pages[0].Packets != 1 || s.headers == 0 || s.Pages[s.headers-1].Packets != 1 || (s.headers < len(s.Pages) && s.Pages[s.headers].Flags&flagContinued != 0) {
		return errors.New("oggopus: the header packets do not end their pages (RFC 7845 §3)")
	}
	lastPage := len(s.Pages) - 1
	// Which packets complete on the last page that completes any.
	for i := len(s.Pages) - 1; i >= 0; i-- {
		if s.Pages[i].Packets > 0 {
			lastPage = i
			break
		}
	}
	nLast := s.Pages[lastPage].Packets
	for i, p := range packets[2:] {
		s.Audio = append(s.Audio, AudioPacket{Data: p, Granule: grans[i+2], Last: i+2 >= len(packets)-nLast && lastPage >= s.headers})
	}
	return nil
}

// page is one page to write.
type page struct {
	flags   byte
	granule int64
	packets [][]byte
}

func appendPage(b []byte, serial, seq uint32, pg page) []byte {
	start := len(b)
	var hdr [pageHeaderLen]byte
	copy(hdr[:], "OggS")
	hdr[5] = pg.flags
	binary.LittleEndian.PutUint64(hdr[6:], uint64(pg.granule))
	binary.LittleEndian.PutUint32(hdr[14:], serial)
	binary.LittleEndian.PutUint32(hdr[18:], seq)
	var lacing []byte
	for _, p := range pg.packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		lacing = append(lacing, byte(n))
	}
	hdr[26] = byte(len(lacing))
	b = append(b, hdr[:]...)
	b = append(b, lacing...)
	for _, p := range pg.packets {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[start+22:], crc(b[start:]))
	return b
}

// segments is the number of lacing values a packet of n bytes takes.
func segments(n int) int { return n/255 + 1 }
