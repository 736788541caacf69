package rules

import (
	"fmt"
	"strings"
	"testing"
)

// The table is what every package reads; these checks keep it coherent.
func TestTableCoherent(t *testing.T) {
	mimes, exts := map[string]bool{}, map[string]bool{}
	for _, typ := range AudioTypes() {
		if mimes[typ.MIME] || exts[typ.Ext] {
			t.Errorf("%s: MIME %s or extension %s appears twice", typ.Name, typ.MIME, typ.Ext)
		}
		mimes[typ.MIME], exts[typ.Ext] = true, true
		if typ.MaxBytes != AudioMaxBytes {
			t.Errorf("%s: max %d, want the audio limit", typ.Name, typ.MaxBytes)
		}
		for _, lookup := range []func() (MediaType, bool){
			func() (MediaType, bool) { return Lookup(typ.Container, typ.Codec) },
			func() (MediaType, bool) { return ByMIME(typ.MIME) },
			func() (MediaType, bool) { return ByExt(typ.Ext) },
		} {
			if got, ok := lookup(); !ok || got != typ {
				t.Errorf("%s: lookup gave %+v, %v", typ.Name, got, ok)
			}
		}
	}
	voice := Voice()
	if voice.MaxBytes >= AudioMaxBytes || voice.Container != ContainerOgg || voice.Codec != CodecOpus || !voice.MonoOnly || !IsVoiceType(voice.Container, voice.Codec) {
		t.Errorf("voice rule off: %+v", voice)
	}
	if v, ok := Lookup(voice.Container, voice.Codec); !ok || v.MIME != voice.MIME || v.Ext != voice.Ext {
		t.Errorf("a voice note must also be basic audio of the same MIME/extension: %+v", v)
	}
}

func TestLookups(t *testing.T) {
	cases := []struct {
		in   string
		f    func(string) (MediaType, bool)
		want string // MIME, "" for no match
	}{
		{"audio/ogg; codecs=opus", ByMIME, "audio/ogg"},
		{" AUDIO/MPEG ", ByMIME, "audio/mpeg"},
		{"audio/webm", ByMIME, ""},
		{"audio/amr-wb", ByMIME, ""},
		{"M4A", ByExt, "audio/mp4"},
		{".aac", ByExt, "audio/aac"},
		{"opus", ByExt, ""},
		{"", ByExt, ""},
	}
	for _, c := range cases {
		got, ok := c.f(c.in)
		if (c.want == "") == ok || (ok && got.MIME != c.want) {
			t.Errorf("%q: got %q, %v; want %q", c.in, got.MIME, ok, c.want)
		}
	}
	if _, ok := Lookup(ContainerOgg, "vorbis"); ok {
		t.Error("Vorbis in Ogg must not be accepted")
	}
	if len(MIMEs()) != len(AudioTypes()) {
		t.Error("MIMEs() length")
	}
}

// TestTablesNotMutable: what a caller does to the slices it is given does
// not change the rules (issue 10: no exported mutable tables).
func TestTablesNotMutable(t *testing.T) {
	types := AudioTypes()
	types[0].MaxBytes, types[0].MIME = 1, "x/y"
	if AudioTypes()[0].MaxBytes != AudioMaxBytes || AudioTypes()[0].MIME == "x/y" {
		t.Fatal("AudioTypes shares its backing array")
	}
	v := Voice()
	v.MaxBytes = 1
	if Voice().MaxBytes != VoiceMaxBytes {
		t.Fatal("Voice is shared")
	}
}

func TestCheck(t *testing.T) {
	note := Facts{Container: ContainerOgg, Codec: CodecOpus, Channels: 1, Size: 8000}
	with := func(f func(*Facts)) Facts { n := note; f(&n); return n }
	cases := []struct {
		name         string
		f            Facts
		audio, voice bool
		codes        []string
		voiceOnly    []bool
	}{
		{"mono ogg opus note", note, true, true, nil, nil},
		{"at the voice budget", with(func(f *Facts) { f.Size = VoiceMaxBytes }), true, true, nil, nil},
		{"over the voice budget", with(func(f *Facts) { f.Size = VoiceMaxBytes + 1 }), true, false, []string{ProblemTooLargeForVoice}, []bool{true}},
		{"own budget", with(func(f *Facts) { f.Size, f.VoiceMaxBytes = 2000, 1000 }), true, false, []string{ProblemTooLargeForVoice}, []bool{true}},
		{"over 16 MB", with(func(f *Facts) { f.Size = AudioMaxBytes + 1 }), false, false, []string{ProblemTooLarge}, []bool{false}},
		{"stereo ogg opus", with(func(f *Facts) { f.Channels = 2 }), false, false, []string{ProblemNotMono}, []bool{false}},
		{"ogg opus, channels unknown", with(func(f *Facts) { f.Channels = 0 }), false, false, []string{ProblemNotMono}, []bool{false}},
		{"chained", with(func(f *Facts) { f.Chained = true }), false, false, []string{ProblemChainedStream}, []bool{false}},
		{"two ogg streams", with(func(f *Facts) { f.Streams = 2 }), false, false, []string{ProblemChainedStream}, []bool{false}},
		{"truncated", with(func(f *Facts) { f.Truncated = true }), false, false, []string{ProblemTruncated}, []bool{false}},
		{"video", with(func(f *Facts) { f.HasVideo = true }), false, false, []string{ProblemHasVideo}, []bool{false}},
		{"vorbis in ogg", with(func(f *Facts) { f.Codec = "vorbis" }), false, false, []string{ProblemUnsupportedCodec}, []bool{false}},
		{"unknown codec in mp4", Facts{Container: ContainerMP4, Channels: 1, Size: 10}, false, false, []string{ProblemUnsupportedCodec}, []bool{false}},
		{"opus in webm", with(func(f *Facts) { f.Container = ContainerWebM }), false, false, []string{ProblemUnsupportedContainer}, []bool{false}},
		{"mono m4a: audio, not a voice note", Facts{Container: ContainerMP4, Codec: CodecAAC, Channels: 1, Size: 1000}, true, false, nil, nil},
		{"stereo mp3: audio, voice-only problem", Facts{Container: ContainerMP3, Codec: CodecMP3, Channels: 2, Size: 1000}, true, false, []string{ProblemNotMono}, []bool{true}},
		{"big mp3: no voice-size problem", Facts{Container: ContainerMP3, Codec: CodecMP3, Channels: 1, Size: VoiceMaxBytes + 1}, true, false, nil, nil},
		{"two m4a tracks", Facts{Container: ContainerMP4, Codec: CodecAAC, Channels: 1, Streams: 2, Size: 1000}, false, false, []string{ProblemChainedStream}, []bool{false}},
		{"everything wrong", Facts{Container: ContainerWAV, Codec: "pcm_s16le", Channels: 2, HasVideo: true, Truncated: true, Size: AudioMaxBytes + 1}, false, false,
			[]string{ProblemUnsupportedContainer, ProblemHasVideo, ProblemTruncated, ProblemNotMono, ProblemTooLarge}, []bool{false, false, false, true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Check(c.f)
			if v.Audio != c.audio || v.Voice != c.voice {
				t.Errorf("audio %v voice %v, want %v %v (%+v)", v.Audio, v.Voice, c.audio, c.voice, v.Problems)
			}
			var codes []string
			var vo []bool
			for _, p := range v.Problems {
				codes = append(codes, p.Code)
				vo = append(vo, p.VoiceOnly)
				if p.Message == "" {
					t.Errorf("%s: no message", p.Code)
				}
			}
			if strings.Join(codes, ",") != strings.Join(c.codes, ",") || fmt.Sprint(vo) != fmt.Sprint(c.voiceOnly) && len(vo) > 0 {
				t.Errorf("problems %v %v, want %v %v", codes, vo, c.codes, c.voiceOnly)
			}
			if len(v.Refusals()) > 0 == v.Audio {
				t.Errorf("refusals %v with audio %v", v.Refusals(), v.Audio)
			}
		})
	}
}
