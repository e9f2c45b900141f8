package serial

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// maxAnswer bounds a probe answer kept in a fingerprint.
const maxAnswer = 256

// Discover sends each probe command and collects the answers; a probe without
// an answer (timeout, garbage) is left out. At least one answer makes the
// port's device a candidate, fingerprinted with its probe answers and the
// port's USB descriptor. A port that is down yields nothing (and no error).
func (b *bus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	var probes []models.Probe
	progress := adapters.TrackScan(ctx, len(b.set.probes))
	for _, p := range b.set.probes {
		cmd := append([]byte(p), b.set.term...)
		reply, err := b.transact(ctx, false, cmd, true, b.set.probeTimeout, nil)
		// Found counts the port's device once, with its first answer.
		progress.Probed(btoi(err == nil && len(probes) == 0), "probe "+strconv.Quote(p))
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, adapters.ErrLinkDown):
			b.log.Debug("port down; nothing to discover", "port", b.set.port.String(), "err", err)
			return nil, nil
		case err != nil:
			b.log.Debug("probe not answered", "probe", p, "err", err)
			continue
		}
		probes = append(probes, models.Probe{Request: p, Answer: answerText(reply)})
	}
	if len(probes) == 0 {
		return nil, nil
	}
	fp := models.Fingerprint{
		Protocol:  "serial",
		Transport: "rs232",
		Address:   b.portID,
		USB:       b.owner.Info().USB,
		Probes:    probes,
		Hint:      b.set.hint,
	}
	return []adapters.Candidate{{LocalID: LocalID(b.portID), Target: b.portID, Fingerprint: fp}}, nil
}

// answerText makes a probe answer safe to send upstream and match: valid
// UTF-8, control characters dropped, surrounding space trimmed, bounded.
func answerText(reply []byte) string {
	s := strings.ToValidUTF8(string(reply), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxAnswer {
		s = strings.ToValidUTF8(s[:maxAnswer], "")
	}
	return s
}

// btoi is 1 for true.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
