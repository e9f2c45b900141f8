package coap_test

import (
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/models"
)

func TestParseLinkFormat(t *testing.T) {
	links, err := coap.ParseLinkFormat([]byte(` </sensors/temp>;rt="temperature-c sensor";if=sensor;obs;rt=extra,
		</dev/info>;ct=50;title="Device, \"info\"" , </a>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 3 {
		t.Fatalf("links %+v", links)
	}
	l := links[0]
	if l.Target != "/sensors/temp" || strings.Join(l.Attrs["rt"], "|") != "temperature-c|sensor|extra" ||
		l.Attrs["if"][0] != "sensor" || len(l.Attrs["obs"]) != 1 || l.Attrs["obs"][0] != "" {
		t.Errorf("link 0 %+v", l)
	}
	if links[1].Attrs["title"][0] != `Device, "info"` || links[1].Attrs["ct"][0] != "50" || links[2].Attrs != nil {
		t.Errorf("links %+v", links[1:])
	}
	for _, bad := range []string{`<a`, `</a>;`, `</a>;rt="x`, `</a> </b>`, `</a>;rt=`, `/a`, `</a>;=x`} {
		if _, err := coap.ParseLinkFormat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if links, err := coap.ParseLinkFormat(nil); err != nil || len(links) != 0 {
		t.Errorf("empty: %v %v", links, err)
	}
}

// FuzzParseLinkFormat: the parser never panics, and what it accepts
// survives a round trip through the canonical form.
func FuzzParseLinkFormat(f *testing.F) {
	for _, s := range []string{
		`</sensors/temp>;rt="temperature-c sensor";if=sensor;obs`,
		`</a>;title="x, \"y\"";ct=0,</b>;rt=a;rt=b`,
		`<`, `</a>;`, `</a>;rt="unterminated`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		links, err := coap.ParseLinkFormat(b)
		if err != nil {
			return
		}
		canon := models.FormatLinks(links)
		again, err := coap.ParseLinkFormat([]byte(canon))
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", canon, err)
		}
		if c2 := models.FormatLinks(again); c2 != canon {
			t.Fatalf("canonical form not stable:\n%q\n%q", canon, c2)
		}
	})
}

func TestDecodePayload(t *testing.T) {
	dec, _ := cbor.DecOptions{}.DecMode()
	cb, _ := cbor.Marshal(map[string]any{"a": []any{1, 2.5, "x", true}})
	cases := []struct {
		format  coap.ContentFormat
		pointer []string
		kind    models.Kind
		scale   float64
		payload []byte
		want    models.Value
		err     string
	}{
		{coap.FormatText, nil, models.KindFloat, 1, []byte(" 21.5\n"), models.FloatValue(21.5), ""},
		{coap.FormatText, nil, models.KindInt, 10, []byte("4"), models.IntValue(40), ""},
		{coap.FormatText, nil, models.KindBool, 1, []byte("on"), models.BoolValue(true), ""},
		{coap.FormatText, nil, models.KindString, 1, []byte("hi"), models.StringValue("hi"), ""},
		{coap.FormatText, nil, models.KindInt, 1, []byte("warm"), models.Value{}, `text "warm" is not a int`},
		{coap.FormatJSON, []string{"rh", "value"}, models.KindFloat, 1, []byte(`{"rh":{"value":40.5}}`), models.FloatValue(40.5), ""},
		{coap.FormatJSON, []string{"a", "1"}, models.KindInt, 1, []byte(`{"a":[0, 7]}`), models.IntValue(7), ""},
		{coap.FormatJSON, []string{"b"}, models.KindInt, 1, []byte(`{"a":1}`), models.Value{}, `no member "b"`},
		{coap.FormatJSON, nil, models.KindInt, 1, []byte(`{"a":`), models.Value{}, "json payload"},
		{coap.FormatCBOR, []string{"a", "1"}, models.KindFloat, 2, cb, models.FloatValue(5), ""},
		{coap.FormatCBOR, []string{"a", "3"}, models.KindBool, 1, cb, models.BoolValue(true), ""},
		{coap.FormatCBOR, []string{"a", "2"}, models.KindFloat, 1, cb, models.Value{}, "not a float"},
		{coap.FormatCBOR, nil, models.KindInt, 1, []byte{0xbf}, models.Value{}, "cbor payload"},
	}
	for i, c := range cases {
		r := &coap.Read{Format: c.format, Pointer: c.pointer, Kind: c.kind, Scale: c.scale}
		v, err := coap.DecodePayload(dec, r, c.payload)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("case %d: err %v, want %q", i, err, c.err)
		case c.err == "" && (err != nil || v != c.want):
			t.Errorf("case %d: %v %v, want %v", i, v, err, c.want)
		}
	}
}

// FuzzDecodePayload: no payload makes a decoder panic, and every accepted
// value has the declared kind.
func FuzzDecodePayload(f *testing.F) {
	cb, _ := cbor.Marshal(map[string]any{"t": 21.5, "l": []any{1, "x"}})
	f.Add(uint8(1), "", uint8(2), []byte("21.5"))
	f.Add(uint8(2), "t", uint8(3), []byte(`{"t": 21.5}`))
	f.Add(uint8(2), "l/1", uint8(4), []byte(`{"l": [1, "x"]}`))
	f.Add(uint8(3), "t", uint8(3), cb)
	f.Add(uint8(3), "l/0", uint8(2), cb)
	f.Add(uint8(3), "", uint8(1), []byte{0xbf, 0x61})
	dec, _ := cbor.DecOptions{MaxNestedLevels: 32, MaxArrayElements: 4096, MaxMapPairs: 4096}.DecMode()
	f.Fuzz(func(t *testing.T, format uint8, pointer string, kind uint8, payload []byte) {
		var ptr []string
		if pointer != "" {
			ptr = strings.Split(pointer, "/")
		}
		r := &coap.Read{Format: coap.ContentFormat(format%3 + 1), Pointer: ptr, Kind: models.Kind(kind%4 + 1), Scale: 1}
		v, err := coap.DecodePayload(dec, r, payload)
		if err == nil && v.Kind != r.Kind {
			t.Fatalf("decoded %v of kind %s, want %s", v, v.Kind, r.Kind)
		}
	})
}
