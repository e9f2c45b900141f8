package serial

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

func read(pattern string, kind models.Kind, scale, offset float64) *Read {
	re := regexp.MustCompile(pattern)
	return &Read{Property: 3, Pattern: re, Group: re.SubexpIndex("value"), Kind: kind, Scale: scale, Offset: offset, Timeout: time.Second}
}

func TestParseReply(t *testing.T) {
	num := `^T=(?P<value>\S+)$`
	cases := []struct {
		name  string
		r     *Read
		reply string
		want  models.Value
		bad   bool // QualityBad
	}{
		{"float", read(num, models.KindFloat, 1, 0), "T=21.5", models.FloatValue(21.5), false},
		{"float scaled", read(num, models.KindFloat, 0.1, -1), "T=215", models.FloatValue(20.5), false},
		{"float from hex", read(num, models.KindFloat, 1, 0), "T=0x10", models.FloatValue(16), false},
		{"float NaN", read(num, models.KindFloat, 1, 0), "T=NaN", models.FloatValue(math.NaN()), true},
		{"int", read(num, models.KindInt, 1, 0), "T=-42", models.IntValue(-42), false},
		{"int hex", read(num, models.KindInt, 1, 0), "T=0x1F", models.IntValue(31), false},
		{"int from decimal, rounded", read(num, models.KindInt, 1, 0), "T=21.6", models.IntValue(22), false},
		{"int scaled", read(num, models.KindInt, 10, 5), "T=3", models.IntValue(35), false},
		{"int overflow", read(num, models.KindInt, 1e300, 0), "T=1e10", models.IntValue(0), true},
		{"bool 1", read(num, models.KindBool, 1, 0), "T=1", models.BoolValue(true), false},
		{"bool OFF", read(num, models.KindBool, 1, 0), "T=OFF", models.BoolValue(false), false},
		{"bool true", read(num, models.KindBool, 1, 0), "T=True", models.BoolValue(true), false},
		{"string", read(`^ID:(?P<value>.*)$`, models.KindString, 1, 0), "ID: ACME TX-9 ", models.StringValue("ACME TX-9"), false},
		{"string not utf8", read(`^ID:(?P<value>.*)$`, models.KindString, 1, 0), "ID:\xff", models.StringValue("\uFFFD"), true},
		{"padded number", read(`^T=(?P<value>.*)$`, models.KindFloat, 1, 0), "T=  7 ", models.FloatValue(7), false},
	}
	now := time.Unix(1700000000, 0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rd, err := ParseReply(c.r, []byte(c.reply), now)
			if err != nil {
				t.Fatal(err)
			}
			if rd.Property != 3 || !rd.Time.Equal(now) {
				t.Errorf("reading %+v", rd)
			}
			sameNaN := c.want.Kind == models.KindFloat && math.IsNaN(c.want.Float) && math.IsNaN(rd.Value.Float)
			if rd.Value.Kind != c.want.Kind || (!sameNaN && !rd.Value.Equal(c.want)) {
				t.Errorf("value %v, want %v", rd.Value, c.want)
			}
			if (rd.Quality == models.QualityBad) != c.bad {
				t.Errorf("quality %s, want bad=%v", rd.Quality, c.bad)
			}
		})
	}
}

func TestParseReplyErrors(t *testing.T) {
	num := `^T=(?P<value>\S*)$`
	cases := []struct {
		name  string
		r     *Read
		reply string
		want  string
	}{
		{"no match", read(num, models.KindFloat, 1, 0), "ERR", `reply "ERR" does not match ^T=(?P<value>\S*)$`},
		{"long reply truncated", read(num, models.KindFloat, 1, 0), strings.Repeat("x", 100), `reply "` + strings.Repeat("x", 64) + `"…`},
		{"not a number", read(num, models.KindFloat, 1, 0), "T=abc", `reply "T=abc": value "abc": must be a decimal number`},
		{"empty number", read(num, models.KindInt, 1, 0), "T=", `value "": must be a decimal number`},
		{"go syntax", read(num, models.KindFloat, 1, 0), "T=1_000", `must be a decimal number`},
		{"bad bool", read(num, models.KindBool, 1, 0), "T=2", `value "2": must be 1/0, true/false, on/off or yes/no`},
		{"optional group absent", read(`^(T=(?P<value>\d+)|OK)$`, models.KindInt, 1, 0), "OK", `matched ^(T=(?P<value>\d+)|OK)$ without a value`},
		{"no pattern", &Read{Kind: models.KindInt}, "T=1", "read has no response pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseReply(c.r, []byte(c.reply), time.Now())
			if !errors.Is(err, adapters.ErrBadReply) {
				t.Fatalf("err = %v, want ErrBadReply", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nlacks %q", err, c.want)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte("T=21.5"), uint8(models.KindFloat), 1.0, 0.0)
	f.Add([]byte("T=0x7fffffffffffffff"), uint8(models.KindInt), 10.0, 1.0)
	f.Add([]byte("T=on"), uint8(models.KindBool), 1.0, 0.0)
	f.Add([]byte("T=\xff\xfe"), uint8(models.KindString), 1.0, 0.0)
	f.Add([]byte("T=-Inf"), uint8(models.KindFloat), -1.0, 0.0)
	f.Add([]byte("garbage\x00\r"), uint8(models.KindInt), 1.0, 0.0)
	re := regexp.MustCompile(`^T=(?P<value>.*)$`)
	f.Fuzz(func(t *testing.T, reply []byte, kind uint8, scale, offset float64) {
		r := &Read{Pattern: re, Group: 1, Kind: models.Kind(kind % 6), Scale: scale, Offset: offset}
		rd, err := ParseReply(r, reply, time.Time{})
		if err != nil {
			if !errors.Is(err, adapters.ErrBadReply) {
				t.Fatalf("error %v does not wrap ErrBadReply", err)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if rd.Value.Kind != r.Kind {
			t.Fatalf("value kind %s, want %s", rd.Value.Kind, r.Kind)
		}
		if rd.Quality == models.QualityGood {
			if rd.Value.Kind == models.KindFloat && (math.IsNaN(rd.Value.Float) || math.IsInf(rd.Value.Float, 0)) {
				t.Fatalf("good reading of %v", rd.Value)
			}
			if rd.Value.Kind == models.KindString && !utf8.ValidString(rd.Value.Str) {
				t.Fatalf("good reading of invalid UTF-8 %q", rd.Value.Str)
			}
		}
	})
}
