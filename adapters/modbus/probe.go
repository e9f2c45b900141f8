package modbus

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"unicode"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

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

// prober fingerprints units the same way on every transport.
type prober struct {
	set       *unitSettings
	transport string // the fingerprint's Transport: "tcp", "rtu"
	log       *slog.Logger
}

// probeUnit finds out whether a unit answers and fingerprints it: Read Device
// Identification first, a read of holding register 0 when the unit has none
// (illegal function, or a broken reply). A unit is there when it sends a valid
// reply or a Modbus exception; a timeout, a malformed reply to the plain read,
// or a gateway's "target failed to respond" / "path unavailable" exception
// (what Modbus TCP-to-RTU gateways answer for absent units) means it is not.
func (p prober) probeUnit(ctx context.Context, tr transactor, unit byte, target string) (models.Fingerprint, bool, error) {
	fp := models.Fingerprint{Protocol: "modbus", Transport: p.transport, Hint: p.set.hint}
	present := false
	fallback := !p.set.identity
	if p.set.identity {
		objs, err := p.deviceID(ctx, tr, unit, deviceIDCodeBasic, 0)
		var ex *ExceptionError
		switch {
		case err == nil:
			present = true
			if more, err := p.deviceID(ctx, tr, unit, deviceIDCodeRegular, firstRegularObjectID); err == nil {
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
		_, err := readTable(ctx, tr, unit, TableHolding, 0, 1, p.set.probeTimeout, 0)
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
	for _, pr := range p.set.probes {
		regs, err := readTable(ctx, tr, unit, pr.table, pr.address, pr.count, p.set.probeTimeout, 0)
		var ex *ExceptionError
		switch {
		case err == nil:
			fp.Probes = append(fp.Probes, models.Probe{Request: pr.request, Answer: hex.EncodeToString(regs)})
		case errors.As(err, &ex):
			fp.Probes = append(fp.Probes, models.Probe{Request: pr.request, Answer: "exception:" + strconv.Itoa(int(ex.Code))})
		default:
			p.log.Debug("probe read failed; left out of the fingerprint", "target", target, "probe", pr.name, "err", err)
		}
	}
	return fp, true, nil
}

func gatewayAbsent(ex *ExceptionError) bool {
	return ex.Code == ExceptionGatewayPath || ex.Code == ExceptionGatewayTarget
}

// deviceID reads the identification objects of one category, following the
// reply's "more follows" chain a bounded number of times.
func (p prober) deviceID(ctx context.Context, tr transactor, unit, code, object byte) (map[byte]string, error) {
	objs := map[byte]string{}
	for range maxDeviceIDParts {
		req := deviceIDRequest(code, object)
		fn, data, err := tr.do(ctx, &txn{unit: unit, req: req, timeout: p.set.probeTimeout, retry: true, probe: true}, false)
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
