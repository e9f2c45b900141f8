package backendclient_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// An item that is not JSON at all (a NaN in its input, a bare word) is
// delivered with Err and what could be read of it; the items around it are
// delivered as usual. A page whose frame is broken, or whose bad item has no
// readable seq, is an invalid answer as a whole.
func TestInboxItemThatIsNotJSONIsSteppedPast(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)

	body = `{"items":[
	  {"seq":1,"kind":"operation","operation":{"id":"op-nan","localId":"dev/1","name":"write","input":{"setpoint":NaN}}},
	  {"seq":2,"kind":"operation","operation":{"id":"op-ok","localId":"dev/1","name":"write","input":{"setpoint":1, "s":"a \"quoted\" ] }"}}},
	  {"seq":3,"kind":"unassignment","unassignment":{"localId":"dev/2", "x": nope}}
	],"cursor":3}`
	page, err := c.Inbox(testCtx(t), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Cursor != 3 {
		t.Fatalf("page %+v", page)
	}
	bad := page.Items[0]
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), "items[0]") || bad.Seq != 1 || bad.Operation == nil ||
		bad.Operation.ID != "op-nan" || bad.Operation.LocalID != "dev/1" || bad.Operation.Name != "write" {
		t.Errorf("bad item %+v (op %+v)", bad, bad.Operation)
	}
	if ok := page.Items[1]; ok.Err != nil || ok.Operation == nil || ok.Operation.ID != "op-ok" || string(ok.Operation.Input) != `{"setpoint":1, "s":"a \"quoted\" ] }"}` {
		t.Errorf("good item %+v", ok)
	}
	if u := page.Items[2]; u.Err == nil || u.Seq != 3 || u.Kind != backendclient.KindUnassignment {
		t.Errorf("bad unassignment %+v", u)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"html", "<html>proxy</html>", "invalid character '<'"},
		{"no readable seq", `{"items":[{"seq":NaN,"kind":"operation"}],"cursor":1}`, "invalid character 'N'"},
		{"broken frame", `{"items":[{"seq":1,"kind":"operation"],"cursor":1}`, "invalid character"},
		{"bad cursor", `{"items":[{"seq":1,"kind":"x",y}],"cursor":NaN}`, "invalid character"},
	} {
		body = tc.body
		_, err := c.Inbox(testCtx(t), 0, time.Duration(0))
		if err == nil || !backendclient.IsInvalidAnswer(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an invalid answer with %q, got %v", tc.name, tc.want, err)
		}
	}
}
