package backendclient

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The response decoders take bytes from the network: whatever they get, they
// return a page/result or an error, never panic, and a page they accept is valid.

func FuzzDecodeInbox(f *testing.F) {
	f.Add([]byte(`{"items":[],"cursor":0}`), int64(0))
	f.Add([]byte(`{"items":[{"seq":3,"kind":"operation","operation":{"id":"o","localId":"l","name":"reboot","input":{"a":1}}}],"cursor":3}`), int64(2))
	f.Add([]byte(`{"items":[{"seq":1,"kind":"assignment","assignment":{"localId":"l","instance":{"model":"m","version":"1","revision":2}}},{"seq":2,"kind":"unassignment","unassignment":{"localId":"l"}}],"cursor":2}`), int64(0))
	f.Add([]byte(`{"items":[{"seq":1,"kind":"bogus"}]`), int64(0))
	f.Add([]byte(`null`), int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, after int64) {
		p, err := decodeInbox(body, after)
		if err != nil {
			if p != nil {
				t.Fatal("page with error")
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		prev := after
		for i, it := range p.Items {
			if it.Seq <= prev {
				t.Fatalf("items[%d].seq %d accepted after %d", i, it.Seq, prev)
			}
			prev = it.Seq
			if it.Err != nil {
				if strings.TrimSpace(it.Err.Error()) == "" {
					t.Fatalf("items[%d]: empty error", i)
				}
				continue // delivered as unusable: the gateway steps past it
			}
			switch it.Kind {
			case KindOperation:
				if it.Operation == nil || it.Operation.ID == "" {
					t.Fatalf("items[%d]: operation accepted without payload", i)
				}
			case KindAssignment:
				if it.Assignment == nil || it.Assignment.Instance.Model == "" {
					t.Fatalf("items[%d]: assignment accepted without payload", i)
				}
			case KindUnassignment:
				if it.Unassignment == nil {
					t.Fatalf("items[%d]: unassignment accepted without payload", i)
				}
			default:
				t.Fatalf("items[%d]: kind %q accepted", i, it.Kind)
			}
		}
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	f.Add([]byte(`{"status":"assigned","deviceId":"d","instance":{"model":"m","version":"1","revision":1,"pollIntervalMs":1000,"settings":{"a":"b"}}}`))
	f.Add([]byte(`{"status":"pending","deviceId":"d","retryAfter":30}`))
	f.Add([]byte(`{"status":"rejected","reason":"no"}`))
	f.Add([]byte(`{"status":"assigned"}`))
	f.Add([]byte(`{"status":`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRegistration(body)
		if err != nil {
			if r != nil {
				t.Fatal("result with error")
			}
			return
		}
		switch r.Status {
		case StatusAssigned:
			if r.Instance == nil || r.Instance.Model == "" || r.Instance.Version == "" {
				t.Fatalf("assigned accepted without instance: %+v", r)
			}
		case StatusPending, StatusRejected:
		default:
			t.Fatalf("status %q accepted", r.Status)
		}
	})
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"error":{"code":"not-found","message":"no such model"}}`))
	f.Add([]byte("<html>502 Bad Gateway</html>"))
	f.Add([]byte("\xff\xfe broken utf-8 \x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, msg := parseErrorBody(body)
		if strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
			return // an envelope's message is passed on as sent
		}
		if len(msg) > maxErrorText || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("message %d bytes, valid UTF-8 %v: %q", len(msg), utf8.ValidString(msg), msg)
		}
	})
}
