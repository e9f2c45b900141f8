package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// apiDevice is what the local API says of a device (the fields shown here).
type apiDevice struct {
	LocalID     string                  `json:"localId"`
	Bus         string                  `json:"bus"`
	Status      string                  `json:"status"`
	Reason      string                  `json:"reason"`
	Model       string                  `json:"model"`
	Health      string                  `json:"health"`
	LastError   string                  `json:"lastError"`
	Fingerprint models.Fingerprint      `json:"fingerprint"`
	Readings    map[string]apiLastValue `json:"readings"`
}

// apiLastValue is a device's last polled value of a property.
type apiLastValue struct {
	Value   json.RawMessage `json:"value"`
	Unit    string          `json:"unit"`
	Quality string          `json:"quality"`
	Time    time.Time       `json:"time"`
}

const devicesSynopsis = "devices [--config FILE] [--api ADDR] [--token-file FILE] [-v]"

func cmdDevices(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("devices")
	af := addAPIFlags(fs)
	verbose := fs.Bool("v", false, "also show each device's identity in full and its last readings with units and age")
	if err := parseFlags(fs, devicesSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("devices: unexpected argument %q", fs.Arg(0))}
	}
	c, err := af.client("devices")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var devs []apiDevice
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/devices", nil, &devs); err != nil {
		return err
	}
	printDevices(stdout, devs, *verbose, time.Now())
	return nil
}

// printDevices lists devices one a line: local id, bus, status, model,
// health, a short identity, and why a device is pending, rejected or failing.
// verbose adds, per device, its whole fingerprint and its last readings.
func printDevices(w io.Writer, devs []apiDevice, verbose bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCAL ID\tBUS\tSTATUS\tMODEL\tHEALTH\tIDENTITY\tNOTE")
	for _, d := range devs {
		note := d.LastError
		if d.Reason != "" {
			note = d.Reason
		}
		health := d.Health
		if d.Model == "" {
			health = "-" // not polled: no model
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.LocalID, d.Bus, d.Status, dash(d.Model), health,
			dash(shortIdentity(d.Fingerprint)), oneLine(note))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d devices\n", len(devs))
	if !verbose {
		return
	}
	for _, d := range devs {
		fmt.Fprintf(w, "\n%s  (%s, %s)\n", d.LocalID, d.Status, dash(d.Model))
		for _, line := range identityLines(d.Fingerprint) {
			fmt.Fprintf(w, "  %s\n", line)
		}
		if len(d.Readings) == 0 {
			continue
		}
		names := make([]string, 0, len(d.Readings))
		for n := range d.Readings {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "  readings:")
		rw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, n := range names {
			r := d.Readings[n]
			fmt.Fprintf(rw, "    %s\t%s\t%s\t%s ago\n", n, withUnit(r.Value, r.Unit), r.Quality, age(now.Sub(r.Time)))
		}
		_ = rw.Flush()
	}
}

// identityKeys are the identity fields shown first, in this order.
var identityKeys = []string{"vendor", "product", "revision"}

// shortIdentity is a fingerprint in a few words, whatever the protocol: the
// identity (vendor, product, revision), else the first probe answer, else
// the CoAP resources, else the USB adapter.
func shortIdentity(fp models.Fingerprint) string {
	var parts []string
	for _, k := range identityKeys {
		if v := fp.Identity[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		for _, k := range sortedKeys(fp.Identity) {
			parts = append(parts, k+"="+fp.Identity[k])
		}
	}
	switch {
	case len(parts) > 0:
	case len(fp.Probes) > 0:
		parts = append(parts, fmt.Sprintf("%s → %q", fp.Probes[0].Request, fp.Probes[0].Answer))
	case len(fp.Links) > 0:
		var targets []string
		for i, l := range fp.Links {
			if i == 3 {
				targets = append(targets, fmt.Sprintf("+%d", len(fp.Links)-3))
				break
			}
			targets = append(targets, l.Target)
		}
		parts = append(parts, strings.Join(targets, " "))
	case len(fp.USB) > 0:
		parts = append(parts, "usb "+fp.USB["vendor"]+":"+fp.USB["product"])
	}
	return clipText(strings.Join(parts, " "), 60)
}

// identityLines is a fingerprint in full, one field a line.
func identityLines(fp models.Fingerprint) []string {
	lines := []string{fmt.Sprintf("protocol %s/%s, address %s", fp.Protocol, fp.Transport, fp.Address)}
	for _, k := range sortedKeys(fp.Identity) {
		lines = append(lines, fmt.Sprintf("identity.%s: %s", k, fp.Identity[k]))
	}
	for _, k := range sortedKeys(fp.USB) {
		lines = append(lines, fmt.Sprintf("usb.%s: %s", k, fp.USB[k]))
	}
	for _, p := range fp.Probes {
		lines = append(lines, fmt.Sprintf("probe %q → %q", p.Request, p.Answer))
	}
	for _, l := range fp.Links {
		var attrs []string
		for _, k := range sortedKeys(l.Attrs) {
			if v := strings.Join(l.Attrs[k], " "); v != "" {
				attrs = append(attrs, k+"="+v)
			} else {
				attrs = append(attrs, k) // an attribute without a value (obs)
			}
		}
		lines = append(lines, strings.TrimSpace(fmt.Sprintf("link <%s> %s", l.Target, strings.Join(attrs, "; "))))
	}
	if fp.Hint != "" {
		lines = append(lines, "hint: "+fp.Hint)
	}
	return lines
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// withUnit is a JSON value as text with its unit: 21.5 °C, true, "ok".
func withUnit(v json.RawMessage, unit string) string {
	s := string(v)
	if unit != "" {
		s += " " + unit
	}
	return s
}

// age is a duration for a person: 850ms, 12s, 3m4s, 2h5m.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Hour:
		d = d.Round(time.Minute)
	default:
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a note on its line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clipText bounds a column's text.
func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
