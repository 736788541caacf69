package rules

import "testing"

// The table is what every package reads; these checks keep it coherent.
func TestTableCoherent(t *testing.T) {
	mimes, exts := map[string]bool{}, map[string]bool{}
	for _, typ := range AudioTypes {
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
	if Voice.MaxBytes >= AudioMaxBytes || Voice.Container != ContainerOgg || Voice.Codec != CodecOpus || !Voice.MonoOnly {
		t.Errorf("voice rule off: %+v", Voice)
	}
	if v, ok := Lookup(Voice.Container, Voice.Codec); !ok || v.MIME != Voice.MIME || v.Ext != Voice.Ext {
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
	if len(MIMEs()) != len(AudioTypes) {
		t.Error("MIMEs() length")
	}
}
