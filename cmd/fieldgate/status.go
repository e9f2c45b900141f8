package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// apiStatus is what GET /api/v1/status answers (the fields shown here).
type apiStatus struct {
	Gateway string `json:"gateway"`
	Version string `json:"version"`
	Backend struct {
		URL         string    `json:"url"`
		Reachable   bool      `json:"reachable"`
		State       string    `json:"state"`
		Kind        string    `json:"kind"`
		Since       time.Time `json:"since"`
		LastError   string    `json:"lastError"`
		LastCall    string    `json:"lastCall"`
		LastErrorAt time.Time `json:"lastErrorAt"`
	} `json:"backend"`
	Config struct {
		LastGoodFallback string `json:"lastGoodFallback"`
	} `json:"config"`
	Outbox struct {
		Pending int64  `json:"pending"`
		Values  int64  `json:"values"`
		Bytes   int64  `json:"bytes"`
		LastSeq uint64 `json:"lastSeq"`
		Dropped uint64 `json:"dropped"`
	} `json:"outbox"`
	Links []struct {
		Bus   string    `json:"bus"`
		Link  string    `json:"link"`
		Up    bool      `json:"up"`
		Since time.Time `json:"since"`
		Error string    `json:"error"`
		Downs int       `json:"downs"`
	} `json:"links"`
	Devices      int            `json:"devices"`
	DeviceStatus map[string]int `json:"deviceStatus"`
	DeviceHealth map[string]int `json:"deviceHealth"`
}

const statusSynopsis = "status [--config FILE] [--api ADDR] [--token-file FILE]"

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("status")
	af := addAPIFlags(fs)
	if err := parseFlags(fs, statusSynopsis, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	c, err := af.client("status")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var st apiStatus
	if _, err := c.call(ctx, http.MethodGet, "/api/v1/status", nil, &st); err != nil {
		return err
	}
	printStatus(stdout, &st, time.Now())
	return nil
}

func printStatus(w io.Writer, st *apiStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "gateway\t%s (fieldgate %s)\n", st.Gateway, dash(st.Version))
	if st.Config.LastGoodFallback != "" {
		fmt.Fprintf(tw, "config\tRUNNING ON THE LAST GOOD CONFIG: %s\n", oneLine(st.Config.LastGoodFallback))
	}
	b := st.Backend
	since := ""
	if !b.Since.IsZero() {
		since = fmt.Sprintf(" since %s (%s ago)", b.Since.Local().Format(time.DateTime), age(now.Sub(b.Since)))
	}
	switch {
	case b.Reachable:
		fmt.Fprintf(tw, "backend\t%s reachable%s\n", b.URL, since)
		if b.LastError != "" {
			fmt.Fprintf(tw, "\tlast error %s ago (%s): %s\n", age(now.Sub(b.LastErrorAt)), b.LastCall, oneLine(b.LastError))
		}
	case b.State == "down":
		fmt.Fprintf(tw, "backend\t%s NOT REACHABLE (%s)%s\n", b.URL, b.Kind, since)
		fmt.Fprintf(tw, "\tlast error %s ago (%s): %s\n", age(now.Sub(b.LastErrorAt)), b.LastCall, oneLine(b.LastError))
	default:
		fmt.Fprintf(tw, "backend\t%s not called yet\n", b.URL)
	}
	if len(st.Links) == 0 {
		fmt.Fprintf(tw, "links\tnone yet\n")
	}
	sort.Slice(st.Links, func(i, j int) bool {
		if st.Links[i].Bus != st.Links[j].Bus {
			return st.Links[i].Bus < st.Links[j].Bus
		}
		return st.Links[i].Link < st.Links[j].Link
	})
	for i, l := range st.Links {
		label := ""
		if i == 0 {
			label = "links"
		}
		state := "up"
		if !l.Up {
			state = "DOWN"
		}
		line := fmt.Sprintf("%s\t%s %s %s since %s (%s ago)", label, l.Bus, l.Link, state, l.Since.Local().Format(time.DateTime), age(now.Sub(l.Since)))
		if l.Downs > 0 {
			line += fmt.Sprintf(", down %d times", l.Downs)
		}
		if !l.Up && l.Error != "" {
			line += ": " + oneLine(l.Error)
		}
		fmt.Fprintln(tw, line)
	}
	o := st.Outbox
	fmt.Fprintf(tw, "outbox\t%d records, %d values, %s waiting to be sent; %d dropped (full outbox); last sequence %d\n",
		o.Pending, o.Values, bytesText(o.Bytes), o.Dropped, o.LastSeq)
	fmt.Fprintf(tw, "devices\t%d%s\n", st.Devices, counts(st.DeviceStatus))
	if len(st.DeviceHealth) > 0 {
		fmt.Fprintf(tw, "\tassigned ones:%s\n", strings.TrimPrefix(counts(st.DeviceHealth), ":"))
	}
	_ = tw.Flush()
}

// counts is ": 3 assigned, 1 pending" (sorted by name), or "" when empty.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return ": " + strings.Join(parts, ", ")
}

// bytesText is a byte count for a person.
func bytesText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
