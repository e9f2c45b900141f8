package modbus

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// scanParallel bounds how many endpoints are scanned at once.
const scanParallel = 8

// maxDeviceIDParts bounds the "more follows" chain of one identification read.
const maxDeviceIDParts = 8

// identityKey names Read Device Identification object id (0..6) in a fingerprint.
func identityKey(id byte) string {
	switch id {
	case 0:
		return "vendor"
	case 1:
		return "product"
	case 2:
		return "revision"
	case 3:
		return "vendorUrl"
	case 4:
		return "productName"
	case 5:
		return "modelName"
	case 6:
		return "userAppName"
	}
	return ""
}

// Discover scans every configured endpoint (and every host of every range on
// its port) for the configured unit ids and fingerprints what answers.
// Endpoints are scanned concurrently, the units of one endpoint in order
// through its owner. Candidates come back sorted by LocalID.
func (b *tcpBus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	endpoints := slices.Clone(b.set.endpoints)
	for _, r := range b.set.ranges {
		for _, a := range r.hosts() {
			if ep := hostPort(a, r.port); !b.set.configured[ep] && !slices.Contains(endpoints, ep) {
				endpoints = append(endpoints, ep)
			}
		}
	}

	var (
		mu    sync.Mutex
		found []adapters.Candidate
		errs  []error
		wg    sync.WaitGroup
		slots = make(chan struct{}, scanParallel)
	)
loop:
	for _, ep := range endpoints {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			cands, err := b.scanEndpoint(ctx, ep)
			mu.Lock()
			defer mu.Unlock()
			found = append(found, cands...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(found, func(a, b adapters.Candidate) int { return strings.Compare(a.LocalID, b.LocalID) })
	if err := ctx.Err(); err != nil {
		return found, err
	}
	return found, errors.Join(errs...)
}

// scanEndpoint probes each unit id on one endpoint. An endpoint that cannot be
// connected is skipped at once; a range host where nothing answered has its
// link released again.
func (b *tcpBus) scanEndpoint(ctx context.Context, ep string) ([]adapters.Candidate, error) {
	b.mu.Lock()
	_, existed := b.links[ep]
	b.mu.Unlock()
	l, err := b.link(ep)
	if err != nil {
		return nil, err
	}
	var found []adapters.Candidate
	for _, unit := range b.set.units {
		if ctx.Err() != nil {
			break
		}
		fp, ok, err := b.probeUnit(ctx, l, unit)
		if errors.Is(err, adapters.ErrLinkDown) {
			b.log.Debug("endpoint not reachable; skipped", "endpoint", ep, "err", err)
			break
		}
		if !ok {
			continue
		}
		target := Target(ep, unit)
		fp.Address = target
		found = append(found, adapters.Candidate{LocalID: LocalID(target), Target: target, Fingerprint: fp})
	}
	if len(found) == 0 && !existed && !b.set.configured[ep] {
		b.forget(l)
	}
	return found, nil
}

// probeUnit finds out whether a unit answers and fingerprints it: Read Device
// Identification first, a read of holding register 0 when the unit has none
// (illegal function, or a broken reply). A unit is there when it sends a valid
// reply or a Modbus exception; a timeout, a malformed reply to the plain read,
// or a gateway's "target failed to respond" / "path unavailable" exception
// (what Modbus TCP-to-RTU gateways answer for absent units) means it is not.
func (b *tcpBus) probeUnit(ctx context.Context, l *link, unit byte) (models.Fingerprint, bool, error) {
	fp := models.Fingerprint{Protocol: "modbus", Transport: "tcp", Hint: b.set.hint}
	present := false
	fallback := !b.set.identity
	if b.set.identity {
		objs, err := b.deviceID(ctx, l, unit, deviceIDCodeBasic, 0)
		var ex *ExceptionError
		switch {
		case err == nil:
			present = true
			if more, err := b.deviceID(ctx, l, unit, deviceIDCodeRegular, firstRegularObjectID); err == nil {
				for id, v := range more {
					objs[id] = v
				}
			}
			fp.Identity = identity(objs)
		case errors.As(err, &ex) && ex.Code == ExceptionIllegalFunction, errors.Is(err, adapters.ErrBadReply):
			fallback = true // no (or a broken) identification: try a plain read
		case errors.As(err, &ex):
			present = !gatewayAbsent(ex)
		default:
			return fp, false, err
		}
	}
	if fallback {
		_, err := b.read(ctx, l, unit, models.TableHolding, 0, 1, b.set.probeTimeout)
		var ex *ExceptionError
		switch {
		case err == nil:
			present = true
		case errors.As(err, &ex):
			present = !gatewayAbsent(ex)
		default:
			return fp, false, err
		}
	}
	if !present {
		return fp, false, nil
	}
	for _, p := range b.set.probes {
		regs, err := b.read(ctx, l, unit, p.table, p.address, p.count, b.set.probeTimeout)
		var ex *ExceptionError
		switch {
		case err == nil:
			fp.Probes = append(fp.Probes, models.Probe{Request: p.request, Answer: hex.EncodeToString(regs)})
		case errors.As(err, &ex):
			fp.Probes = append(fp.Probes, models.Probe{Request: p.request, Answer: "exception:" + strconv.Itoa(int(ex.Code))})
		default:
			b.log.Debug("probe read failed; left out of the fingerprint", "target", Target(l.endpoint, unit), "probe", p.name, "err", err)
		}
	}
	return fp, true, nil
}

func gatewayAbsent(ex *ExceptionError) bool {
	return ex.Code == ExceptionGatewayPath || ex.Code == ExceptionGatewayTarget
}

// deviceID reads the identification objects of one category, following the
// reply's "more follows" chain a bounded number of times.
func (b *tcpBus) deviceID(ctx context.Context, l *link, unit, code, object byte) (map[byte]string, error) {
	objs := map[byte]string{}
	for range maxDeviceIDParts {
		req := deviceIDRequest(code, object)
		fn, data, err := l.do(ctx, &txn{unit: unit, req: req, timeout: b.set.probeTimeout, retry: true}, false)
		if err != nil {
			return nil, err
		}
		r, err := decodeDeviceIDReply(code, fn, data)
		if err != nil {
			return nil, err
		}
		for id, v := range r.objects {
			objs[id] = v
		}
		if !r.moreFollows || r.next <= object {
			break
		}
		object = r.next
	}
	return objs, nil
}

// identity maps objects 0..6 onto fingerprint keys, as clean printable text.
func identity(objs map[byte]string) map[string]string {
	id := map[string]string{}
	for oid, v := range objs {
		key := identityKey(oid)
		if key == "" {
			continue
		}
		v = strings.Map(func(r rune) rune {
			if unicode.IsPrint(r) {
				return r
			}
			return -1
		}, strings.ToValidUTF8(v, ""))
		if v = strings.TrimSpace(v); v != "" {
			id[key] = v
		}
	}
	if len(id) == 0 {
		return nil
	}
	return id
}
