// Package webdriver is a W3C WebDriver client for the project's browser
// tests, just what they need: chromedriver drives a headless Chromium over
// plain HTTP JSON, so no Go dependency is added. Tests of the gateway's page
// and of the reference backend's web view use it.
package webdriver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// webDriverCallTimeout bounds every WebDriver call (a session start on a busy
// machine is the slowest).
const webDriverCallTimeout = 90 * time.Second

// webElementKey is the W3C name of an element reference in JSON.
const webElementKey = "element-6066-11e4-a52e-4f735466cecf"

// Browser is one headless Chromium session of a test.
type Browser struct {
	t      *testing.T
	base   string // http://127.0.0.1:<port>/session/<id>
	client *http.Client
	driver string
}

// FindBrowser returns the paths of chromium and chromedriver, or skips the test
// when they are missing outside CI (under CI, or `make test`, which installs
// them, a missing browser is a failure).
func FindBrowser(t *testing.T) (chromium, driver string) {
	t.Helper()
	var missing []string
	for _, names := range [][]string{{"chromium", "chromium-browser"}, {"chromedriver"}} {
		var found string
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, names[0])
		}
		if chromium == "" {
			chromium = found
		} else {
			driver = found
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%v not installed (Debian: apt-get install chromium chromium-driver; `make test` installs them)", missing)
		if os.Getenv("CI") == "" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	return chromium, driver
}

// Start starts chromedriver on a loopback port and a headless Chromium
// session whose viewport is width×height CSS pixels: a phone's (touch, mobile
// emulation) when phone is set, else a desktop window. Both end with the test.
func Start(t *testing.T, chromium, driver string, width, height int, phone bool) *Browser {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--log-path="+filepath.Join(dir, "chromedriver.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromedriver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "chromedriver.log")); err == nil {
				t.Logf("chromedriver log (last 4 KiB):\n%s", tail(log, 4096))
			}
		}
	})
	b := &Browser{t: t, client: &http.Client{Timeout: webDriverCallTimeout}, driver: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := b.client.Get(b.driver + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Chromium as root needs --no-sandbox; without the background-networking
	// flags it dials out (updates, sync, QUIC), which this closed network
	// refuses. A fresh profile each time.
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(dir, "profile")}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	options := map[string]any{"binary": chromium, "args": append(args, fmt.Sprintf("--window-size=%d,%d", width, height))}
	if phone {
		// A phone's viewport (a headless window is at least 500 px wide).
		options["mobileEmulation"] = map[string]any{"deviceMetrics": map[string]any{"width": width, "height": height, "pixelRatio": 1.0, "touch": true}}
	}
	err := b.call("POST", b.driver+"/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:loggingPrefs":  map[string]string{"browser": "ALL"},
		"goog:chromeOptions": options,
	}}}, &created)
	if err != nil {
		t.Fatalf("starting a Chromium session: %v", err)
	}
	b.base = b.driver + "/session/" + created.SessionID
	t.Cleanup(func() { _ = b.call("DELETE", b.base, nil, nil) })
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// call sends one WebDriver command and decodes its "value" into out.
func (b *Browser) call(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, tail(data, 500))
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Value, &e)
		return &webDriverError{Status: resp.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

type webDriverError struct {
	Status        int
	Code, Message string
}

func (e *webDriverError) Error() string {
	return fmt.Sprintf("webdriver %d %s: %s", e.Status, e.Code, string(tail([]byte(e.Message), 300)))
}

// Must fails the test when err is not nil, saying what was being done.
func (b *Browser) Must(err error, what string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Navigate opens url.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Must(b.call("POST", b.base+"/url", map[string]string{"url": url}, nil), "open "+url)
}

// Find returns the element matching a CSS selector, or an error.
func (b *Browser) Find(css string) (string, error) {
	var ref map[string]string
	if err := b.call("POST", b.base+"/element", map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
		return "", err
	}
	return ref[webElementKey], nil
}

// Script runs JavaScript in the page and decodes what it returns into out.
func (b *Browser) Script(js string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return b.call("POST", b.base+"/execute/sync", map[string]any{"script": js, "args": args}, out)
}

// WaitFor polls a JavaScript condition (a function body returning a string:
// "" when it holds, else what is still missing) until it holds or within
// passes.
func (b *Browser) WaitFor(within time.Duration, what, js string, args ...any) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		var got string
		err := b.Script(js, &got, args...)
		switch {
		case err == nil && got == "":
			return
		case err != nil:
			last = err.Error()
		default:
			last = got
		}
		if time.Now().After(deadline) {
			b.Screenshot("failed-" + what)
			b.t.Fatalf("%s: not within %s: %s", what, within, last)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// Click clicks the element matching css (as a user does: scrolled into view,
// at its centre).
func (b *Browser) Click(css string) {
	b.t.Helper()
	id, err := b.Find(css)
	b.Must(err, "find "+css)
	b.Must(b.call("POST", b.base+"/element/"+id+"/click", map[string]any{}, nil), "click "+css)
}

// TypeInto clears the input matching css and types text into it.
func (b *Browser) TypeInto(css, text string) {
	b.t.Helper()
	id, err := b.Find(css)
	b.Must(err, "find "+css)
	b.Must(b.call("POST", b.base+"/element/"+id+"/clear", map[string]any{}, nil), "clear "+css)
	b.Must(b.call("POST", b.base+"/element/"+id+"/value", map[string]string{"text": text}, nil), "type into "+css)
}

// Screenshot saves the page as <artifacts>/<name>.png and logs the path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	var data string
	if err := b.call("GET", b.base+"/screenshot", nil, &data); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(ArtifactDir(b.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// ArtifactDir is where a test keeps what a person may want to look at after
// it: $FIELDGATE_ARTIFACTS/<test name> when set (`make test` sets it to
// ./artifacts), else the test's artifact directory (kept with `go test
// -artifacts -outputdir DIR`, removed after the test otherwise).
func ArtifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("FIELDGATE_ARTIFACTS")
	if root == "" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(root, filepath.Base(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ConsoleLog returns what the page wrote to the browser's console since the
// last call (script errors, CSP violations, failed loads), one line each.
func (b *Browser) ConsoleLog() []string {
	b.t.Helper()
	var entries []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	b.Must(b.call("POST", b.base+"/se/log", map[string]string{"type": "browser"}, &entries), "browser log")
	var out []string
	for _, e := range entries {
		out = append(out, e.Level+" "+e.Message)
	}
	return out
}
