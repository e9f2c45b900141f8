package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// The commissioning commands talk to a running daemon's local API.

const defaultAPI = "127.0.0.1:8481"

// apiDevice is what the local API says of a device (the fields shown here).
type apiDevice struct {
	LocalID     string `json:"localId"`
	Bus         string `json:"bus"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	Model       string `json:"model"`
	Health      string `json:"health"`
	LastError   string `json:"lastError"`
	Fingerprint struct {
		Identity map[string]string `json:"identity"`
	} `json:"fingerprint"`
	Readings map[string]struct {
		Value json.RawMessage `json:"value"`
	} `json:"readings"`
}

func cmdDevices(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", "", "the daemon's local API, host:port (default: api.listen of the config, else "+defaultAPI+")")
	cfgPath := fs.String("config", "", "the daemon's config, for api.listen and the token (default: "+DefaultConfigPath+" when readable)")
	tokenFile := fs.String("token-file", "", "the local API token (default: api.tokenFile of the config, else api.token in the state directory)")
	verbose := fs.Bool("v", false, "show each device's last readings")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	target, err := findAPI(*cfgPath, *api, *tokenFile)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, _, err := net.SplitHostPort(target.addr); err != nil {
		return usageError{fmt.Sprintf("%s: --api must be host:port, got %q", name, target.addr)}
	}
	method, path, timeout := http.MethodGet, "/api/v1/devices", 10*time.Second
	if name == "scan" {
		// A scan of a bus of slow units can take a while: wait for it.
		method, path, timeout = http.MethodPost, "/api/v1/discover", 5*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+target.addr+path, nil)
	if err != nil {
		return err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if target.token != "" {
		req.Header.Set("Authorization", "Bearer "+target.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: is the daemon running with its local API on %s? %w", name, target.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", name, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && target.tokenErr != nil {
		return fmt.Errorf("%s: %s needs the local API token, which could not be read: %w (run as root or the fieldgate user, or give --token-file)",
			name, target.addr, target.tokenErr)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s answered %s: %s", name, target.addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var devs []apiDevice
	if err := json.Unmarshal(body, &devs); err != nil {
		return fmt.Errorf("%s: the answer of %s is not a device list: %w", name, target.addr, err)
	}
	printDevices(stdout, devs, *verbose)
	return nil
}

func printDevices(w io.Writer, devs []apiDevice, verbose bool) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCAL ID\tBUS\tSTATUS\tMODEL\tHEALTH\tIDENTITY\tNOTE")
	for _, d := range devs {
		note := d.LastError
		if d.Reason != "" {
			note = d.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.LocalID, d.Bus, d.Status, dash(d.Model), d.Health,
			dash(identity(d.Fingerprint.Identity)), note)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d devices\n", len(devs))
	if !verbose {
		return
	}
	for _, d := range devs {
		if len(d.Readings) == 0 {
			continue
		}
		names := make([]string, 0, len(d.Readings))
		for n := range d.Readings {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "\n%s\n", d.LocalID)
		for _, n := range names {
			fmt.Fprintf(w, "  %-20s %s\n", n, d.Readings[n].Value)
		}
	}
}

// identity is the short form of a fingerprint's identity: vendor, product, revision.
func identity(id map[string]string) string {
	var parts []string
	for _, k := range []string{"vendor", "product", "revision"} {
		if v := id[k]; v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
