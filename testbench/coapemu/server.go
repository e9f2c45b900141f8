package coapemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	piondtls "github.com/pion/dtls/v3"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// defaultGroups are the All-CoAP-Nodes groups a multicast responder joins.
func defaultGroups() []string { return []string{"224.0.1.187", "ff02::fd"} }

// Device is one running emulated CoAP device.
type Device struct {
	spec  DeviceSpec
	log   *slog.Logger
	addrs []net.Addr
	stops []func()
	wg    sync.WaitGroup

	ctx    context.Context
	cancel context.CancelFunc

	mu  sync.Mutex
	res map[string]*resource
	seq uint32 // observe sequence, shared by all resources

	sent      map[string]sentNote // notifications by peer address and message id
	sentOrder []string            // keys of sent, oldest first (bounded)
}

// sentNote is the observer a notification went to: a client that rejects
// the notification with a reset (RFC 7641 §3.6) is no observer any more.
type sentNote struct {
	path, key string
}

// maxSentNotes bounds how many notifications a reset can still refer to.
const maxSentNotes = 1024

// resource is one resource's live state.
type resource struct {
	spec      ResourceSpec
	value     any
	dir       float64 // change direction: +1 or -1
	gets      int     // plain GETs (not observe registrations)
	registers int     // observe registrations
	writes    int     // PUT/POST executed
	noObserve bool    // answers registrations without Observe (spec fault, SetNoObserve)
	observers map[string]observer
}

type observer struct {
	conn  mux.Conn
	token []byte
}

// Listen starts the device on spec.Listen (plain UDP, DTLS with spec.PSK, or
// a multicast responder) and runs it until ctx is done or Close.
func Listen(ctx context.Context, spec DeviceSpec, log *slog.Logger) (*Device, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{spec: spec, log: log.With("device", spec.Name), res: map[string]*resource{}, sent: map[string]sentNote{}}
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.reset()
	router := mux.HandlerFunc(d.serve)
	var err error
	switch {
	case spec.PSK != nil:
		err = d.listenDTLS(router)
	case spec.Multicast != nil:
		err = d.listenMulticast(router)
	default:
		err = d.listenUDP("udp", spec.Listen, nil, router)
		for _, a := range spec.AlsoListen {
			if err == nil {
				err = d.listenUDP("udp", a, nil, router)
			}
		}
	}
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	for path, r := range d.res {
		if r.spec.Change != nil {
			d.wg.Go(func() { d.drift(path, r.spec.Change.Period) })
		}
	}
	return d, nil
}

func (d *Device) listenUDP(network, addr string, join func(*coapNet.UDPConn) error, h mux.Handler) error {
	l, err := coapNet.NewListenUDP(network, addr)
	if err != nil {
		return fmt.Errorf("coap device %s: %w", d.spec.Name, err)
	}
	if join != nil {
		if err := join(l); err != nil {
			_ = l.Close()
			return fmt.Errorf("coap device %s: %w", d.spec.Name, err)
		}
	}
	s := udp.NewServer(options.WithMux(h), options.WithContext(d.ctx), options.WithErrors(d.logError))
	d.addrs = append(d.addrs, l.LocalAddr())
	d.wg.Go(func() { _ = s.Serve(l) })
	d.stops = append(d.stops, func() { s.Stop(); _ = l.Close() })
	return nil
}

func (d *Device) listenMulticast(h mux.Handler) error {
	m := d.spec.Multicast
	ifi, err := net.InterfaceByName(m.Interface)
	if err != nil {
		return fmt.Errorf("coap device %s: multicast.interface: %w", d.spec.Name, err)
	}
	groups := m.Groups
	if len(groups) == 0 {
		groups = defaultGroups()
	}
	var v4, v6 []net.IP
	for _, g := range groups {
		a := netip.MustParseAddr(g) // validated
		if a.Is4() {
			v4 = append(v4, a.AsSlice())
		} else {
			v6 = append(v6, a.AsSlice())
		}
	}
	_, port, _ := net.SplitHostPort(d.spec.Listen)
	joiner := func(ips []net.IP) func(*coapNet.UDPConn) error {
		return func(l *coapNet.UDPConn) error {
			for _, ip := range ips {
				if err := l.JoinGroup(ifi, &net.UDPAddr{IP: ip}); err != nil {
					return fmt.Errorf("join %s on %s: %w", ip, ifi.Name, err)
				}
			}
			return nil
		}
	}
	host, _, _ := net.SplitHostPort(d.spec.Listen)
	if len(v4) > 0 || len(v6) == 0 {
		if err := d.listenUDP("udp4", net.JoinHostPort(host, port), joiner(v4), h); err != nil {
			return err
		}
	}
	if len(v6) > 0 {
		if err := d.listenUDP("udp6", net.JoinHostPort("::", port), joiner(v6), h); err != nil {
			return err
		}
	}
	return nil
}

func (d *Device) listenDTLS(h mux.Handler) error {
	key := []byte(d.spec.PSK.Key)
	l, err := coapNet.NewDTLSListener("udp", d.spec.Listen, coapNet.NewDTLSServerOptions(
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(d.spec.PSK.Identity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256),
	))
	if err != nil {
		return fmt.Errorf("coap device %s: %w", d.spec.Name, err)
	}
	s := coapdtls.NewServer(options.WithMux(h), options.WithContext(d.ctx), options.WithErrors(d.logError))
	d.addrs = append(d.addrs, l.Addr())
	d.wg.Go(func() { _ = s.Serve(l) })
	d.stops = append(d.stops, func() { s.Stop(); _ = l.Close() })
	return nil
}

func (d *Device) logError(err error) { d.log.Debug("coap server", "err", err) }

// Addr is the address the device listens on (its first socket).
func (d *Device) Addr() string { return d.addrs[0].String() }

// Addrs are the addresses of all the device's sockets, Listen's first.
func (d *Device) Addrs() []string {
	out := make([]string, len(d.addrs))
	for i, a := range d.addrs {
		out[i] = a.String()
	}
	return out
}

// Close stops the device and waits for its goroutines. Like libcoap's
// server, it first tells every observer that its observation ends: a final
// 4.04 Not Found notification (RFC 7641 §3.2: an error response, without an
// Observe option, removes the observer).
func (d *Device) Close() error {
	if d.ctx.Err() == nil {
		d.goodbye()
	}
	d.cancel()
	for _, stop := range d.stops {
		stop()
	}
	d.wg.Wait()
	return nil
}

// reset puts every resource in its initial state and forgets all observers,
// as a rebooted device would.
func (d *Device) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, rs := range d.spec.Resources {
		old := d.res[rs.Path]
		r := &resource{spec: rs, value: clone(rs.Value), dir: 1, observers: map[string]observer{},
			noObserve: rs.Fault != nil && rs.Fault.NoObserve}
		if old != nil {
			r.gets, r.registers, r.writes = old.gets, old.registers, old.writes
		}
		d.res[rs.Path] = r
	}
}

// Reboot resets the device as its reboot resource does.
func (d *Device) Reboot() { d.reset() }

// Gets is how many plain GET requests (not observe registrations) path got.
func (d *Device) Gets(path string) int {
	return d.counter(path, func(r *resource) int { return r.gets })
}

// Registrations is how many observe registrations path got.
func (d *Device) Registrations(path string) int {
	return d.counter(path, func(r *resource) int { return r.registers })
}

// Writes is how many PUT/POST requests path executed.
func (d *Device) Writes(path string) int {
	return d.counter(path, func(r *resource) int { return r.writes })
}

// Observers is how many observers path has now.
func (d *Device) Observers(path string) int {
	return d.counter(path, func(r *resource) int { return len(r.observers) })
}

func (d *Device) counter(path string, f func(*resource) int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.res[path]; ok {
		return f(r)
	}
	return 0
}

// Value is the resource's current value.
func (d *Device) Value(path string) any {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.res[path]; ok {
		return clone(r.value)
	}
	return nil
}

// SetNoObserve makes an observable resource refuse (true) or accept (false)
// new observe registrations, as a device short of observer slots would; a
// reboot restores the spec's fault.
func (d *Device) SetNoObserve(path string, refuse bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.res[path]; ok {
		r.noObserve = refuse
	}
}

// SetValue changes a resource's value and notifies its observers.
func (d *Device) SetValue(path string, v any) {
	d.mu.Lock()
	r, ok := d.res[path]
	if ok {
		r.value = v
	}
	d.mu.Unlock()
	if ok {
		d.notify(path)
	}
}

// drift changes a resource's value every period and notifies its observers.
func (d *Device) drift(path string, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		r := d.res[path]
		c := r.spec.Change
		v, _ := number(member(r.value, c.Key))
		next := v + r.dir*c.Step
		if next > c.Max || next < c.Min {
			r.dir = -r.dir
			next = v + r.dir*c.Step
		}
		next = min(max(next, c.Min), c.Max)
		r.value = setMember(r.value, c.Key, next)
		d.mu.Unlock()
		d.notify(path)
	}
}

// notify sends the current representation to every observer of path.
func (d *Device) notify(path string) {
	d.mu.Lock()
	r := d.res[path]
	d.seq++
	seq := d.seq
	body, mt, err := represent(r.spec, r.value)
	obs := make([]observer, 0, len(r.observers))
	for _, o := range r.observers {
		obs = append(obs, o)
	}
	d.mu.Unlock()
	if err != nil {
		d.log.Warn("cannot represent value", "path", path, "err", err)
		return
	}
	for _, o := range obs {
		m := o.conn.AcquireMessage(d.ctx)
		m.SetCode(codes.Content)
		m.SetToken(o.token)
		m.SetType(message.NonConfirmable)
		m.SetContentFormat(mt)
		m.SetObserve(seq)
		m.SetOptionUint32(message.MaxAge, maxAge(r.spec))
		m.SetBody(bytes.NewReader(body))
		if err := d.writeNote(o, path, m, len(body)); err != nil {
			d.forget(path, o)
		}
		o.conn.ReleaseMessage(m)
	}
}

// goodbye sends every observer the final notification of its observation.
func (d *Device) goodbye() {
	type final struct {
		path string
		o    observer
	}
	d.mu.Lock()
	var all []final
	for path, r := range d.res {
		for _, o := range r.observers {
			all = append(all, final{path, o})
		}
		clear(r.observers)
	}
	d.mu.Unlock()
	for _, f := range all {
		m := f.o.conn.AcquireMessage(d.ctx)
		m.SetCode(codes.NotFound)
		m.SetToken(f.o.token)
		m.SetType(message.NonConfirmable)
		m.SetContentFormat(message.TextPlain)
		m.SetBody(strings.NewReader("device shutting down: " + f.path))
		if err := f.o.conn.WriteMessage(m); err != nil {
			d.log.Debug("final notification not sent", "path", f.path, "err", err)
		}
		f.o.conn.ReleaseMessage(m)
	}
}

func (d *Device) forget(path string, o observer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.res[path].observers, observerKey(o.conn, o.token))
}

// writeNote sends a notification. One that fits a single block goes
// straight to the session under a message id the device picks and
// remembers, so that a reset can name it (go-coap's block-wise writer would
// pick another id). A larger one, and every one of a multicast responder
// (whose wildcard sockets need go-coap's choice of source address), goes
// through go-coap and cannot be reset.
func (d *Device) writeNote(o observer, path string, m *pool.Message, size int) error {
	c, ok := o.conn.(*udpclient.Conn)
	if !ok || size > 1024 || d.spec.Multicast != nil {
		return o.conn.WriteMessage(m)
	}
	mid := c.GetMessageID()
	m.SetMessageID(mid)
	d.remember(o, path, mid)
	return c.Session().WriteMessage(m)
}

// remember records which observer notification mid went to.
func (d *Device) remember(o observer, path string, mid int32) {
	k := sentKey(o.conn, mid)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.sent[k]; !dup {
		d.sentOrder = append(d.sentOrder, k)
	}
	d.sent[k] = sentNote{path: path, key: observerKey(o.conn, o.token)}
	if len(d.sentOrder) > maxSentNotes {
		delete(d.sent, d.sentOrder[0])
		d.sentOrder = d.sentOrder[1:]
	}
}

// rejected handles a reset: the observer the notification went to is removed.
func (d *Device) rejected(c mux.Conn, mid int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.sent[sentKey(c, mid)]
	if !ok {
		return
	}
	if r, ok := d.res[n.path]; ok {
		delete(r.observers, n.key)
	}
}

func sentKey(c mux.Conn, mid int32) string {
	return c.RemoteAddr().String() + "#" + strconv.Itoa(int(mid))
}

func observerKey(c mux.Conn, token []byte) string {
	return c.RemoteAddr().String() + "/" + string(token)
}

func maxAge(s ResourceSpec) uint32 {
	if s.MaxAge == 0 {
		return 60
	}
	return uint32(max(s.MaxAge/time.Second, 1))
}

// serve handles every request.
func (d *Device) serve(w mux.ResponseWriter, r *mux.Message) {
	if r.Type() == message.Reset {
		d.rejected(w.Conn(), r.MessageID())
		return
	}
	path, _ := r.Options().Path()
	if path == "" {
		path = "/"
	}
	if path == "/.well-known/core" {
		if r.Code() != codes.GET {
			_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
			return
		}
		_ = w.SetResponse(codes.Content, message.AppLinkFormat, strings.NewReader(d.linkFormat()))
		return
	}
	d.mu.Lock()
	res, ok := d.res[path]
	d.mu.Unlock()
	if !ok {
		_ = w.SetResponse(codes.NotFound, message.TextPlain, strings.NewReader("no resource "+path))
		return
	}
	if f := res.spec.Fault; f != nil {
		if f.Silent {
			return
		}
		if f.Late > 0 {
			t := time.NewTimer(f.Late)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
				return
			}
		}
		if c, ok := parseCode(f.Code); ok {
			_ = w.SetResponse(codes.Code(c), message.TextPlain, strings.NewReader(f.Diagnostic))
			return
		}
	}
	switch r.Code() {
	case codes.GET:
		d.get(w, r, path)
	case codes.PUT, codes.POST:
		d.write(w, r, path)
	default:
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
	}
}

func (d *Device) get(w mux.ResponseWriter, r *mux.Message, path string) {
	obs, err := r.Options().Observe()
	d.mu.Lock()
	res := d.res[path]
	observable := res.spec.Observable && !res.noObserve
	register := err == nil && obs == 0 && observable
	key := observerKey(w.Conn(), r.Token())
	switch {
	case register:
		res.registers++
		res.observers[key] = observer{conn: w.Conn(), token: append([]byte(nil), r.Token()...)}
	case err == nil && obs == 1:
		delete(res.observers, key)
		res.gets++
	default:
		res.gets++
	}
	d.seq++
	seq := d.seq
	body, mt, rerr := represent(res.spec, res.value)
	spec := res.spec
	d.mu.Unlock()
	if rerr != nil {
		_ = w.SetResponse(codes.InternalServerError, message.TextPlain, strings.NewReader(rerr.Error()))
		return
	}
	_ = w.SetResponse(codes.Content, mt, bytes.NewReader(body))
	w.Message().SetOptionUint32(message.MaxAge, maxAge(spec))
	if register {
		w.Message().SetObserve(seq)
	}
}

func (d *Device) write(w mux.ResponseWriter, r *mux.Message, path string) {
	d.mu.Lock()
	spec := d.res[path].spec
	d.mu.Unlock()
	if spec.Reboot {
		d.mu.Lock()
		d.res[path].writes++
		d.mu.Unlock()
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
		d.reset()
		return
	}
	if !spec.Writable {
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, strings.NewReader(path+" is read-only"))
		return
	}
	var body []byte
	if r.Body() != nil {
		b, err := r.ReadBody()
		if err != nil {
			_ = w.SetResponse(codes.BadRequest, message.TextPlain, strings.NewReader(err.Error()))
			return
		}
		body = b
	}
	v, err := parseRepresentation(spec.Format, body)
	if err != nil {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, strings.NewReader(err.Error()))
		return
	}
	d.mu.Lock()
	d.res[path].value = v
	d.res[path].writes++
	d.mu.Unlock()
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	d.notify(path)
}

// linkFormat is the device's /.well-known/core document.
func (d *Device) linkFormat() string {
	paths := make([]string, 0, len(d.spec.Resources))
	for _, r := range d.spec.Resources {
		paths = append(paths, r.Path)
	}
	sort.Strings(paths)
	var links []string
	for _, p := range paths {
		var s ResourceSpec
		for _, r := range d.spec.Resources {
			if r.Path == p {
				s = r
			}
		}
		l := "<" + p + ">"
		if len(s.RT) > 0 {
			l += `;rt="` + strings.Join(s.RT, " ") + `"`
		}
		if len(s.IF) > 0 {
			l += `;if="` + strings.Join(s.IF, " ") + `"`
		}
		_, mt, _ := represent(s, s.Value)
		l += ";ct=" + strconv.Itoa(int(mt))
		if s.Title != "" {
			l += `;title="` + s.Title + `"`
		}
		if s.Observable {
			l += ";obs"
		}
		links = append(links, l)
	}
	return strings.Join(links, ",")
}

// represent encodes a value in the resource's format (or malformed on purpose).
func represent(s ResourceSpec, v any) ([]byte, message.MediaType, error) {
	malformed := s.Fault != nil && s.Fault.Malformed
	switch s.Format {
	case "json":
		if malformed {
			return []byte(`{"broken": [1, `), message.AppJSON, nil
		}
		b, err := json.Marshal(v)
		return b, message.AppJSON, err
	case "cbor":
		if malformed {
			return []byte{0xbf, 0x61, 0x61}, message.AppCBOR, nil
		}
		b, err := cbor.Marshal(v)
		return b, message.AppCBOR, err
	}
	if malformed {
		return []byte{0xff, 0xfe, 'x'}, message.TextPlain, nil
	}
	switch v := v.(type) {
	case nil:
		return nil, message.TextPlain, nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'g', -1, 64)), message.TextPlain, nil
	}
	return []byte(fmt.Sprint(v)), message.TextPlain, nil
}

// parseRepresentation decodes a written payload in a resource's format.
func parseRepresentation(format string, body []byte) (any, error) {
	var v any
	switch format {
	case "json":
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("payload is not JSON: %w", err)
		}
	case "cbor":
		dm, _ := cbor.DecOptions{DefaultMapType: reflect.TypeFor[map[string]any]()}.DecMode()
		if err := dm.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("payload is not CBOR with text keys: %w", err)
		}
	default:
		s := strings.TrimSpace(string(body))
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
		return s, nil
	}
	return v, nil
}

func setMember(v any, key string, n float64) any {
	if key == "" {
		return n
	}
	if m, ok := v.(map[string]any); ok {
		m[key] = n
	}
	return v
}

// clone deep-copies a YAML/JSON value tree (maps and lists).
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}
