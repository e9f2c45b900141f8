package backend

import (
	"os"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

func TestDecodeDemoRules(t *testing.T) {
	src, err := os.ReadFile("../demo/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := DecodeRules(src)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := compileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	match := func(vendor, product string) string {
		fp := models.Fingerprint{Identity: map[string]string{"vendor": vendor, "product": product}}
		for i := range compiled {
			if compiled[i].matches(fp) {
				return compiled[i].Model + "@" + compiled[i].Version
			}
		}
		return ""
	}
	for _, c := range []struct{ vendor, product, want string }{
		{"ACME Controls", "TH-100", "acme-th100@1.0.0"},
		{"ACME Controls", "TH-150", "acme-th100@1.0.0"},
		{"ACME Controls", "XTH-100", ""},
		{"Voltix", "PM-3", "voltix-pm3@1.0.0"},
		{"Voltix", "PM-30", ""},
		{"Mystery Inc", "M-1", ""},
	} {
		if got := match(c.vendor, c.product); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.vendor, c.product, got, c.want)
		}
	}
}

func TestDecodeRulesErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"- name: a\n  match: {x: y}\n  model: m\n  version: 1\n  modle: z\n", "[0].modle: unknown field (line 5)"},
		{"- name: a\n  match: {x: y}\n  model: m\n  version: 1\n- name: b\n  priority: high\n  match: {x: y}\n  reject: no\n", "[1]: line 6: cannot unmarshal !!str `high`"},
		{"- name: a\n  match: {x: '/[/'}\n  model: m\n  version: 1\n", "[0].match[x]: invalid regex \"/[/\""},
		{"- name: a\n  match: {x: y}\n  model: m\n  version: 1\n- name: a\n  match: {x: y}\n  reject: dup\n", `[1].name: "a" already used by [0]`},
		{"- name: a\n  match: {x: y}\n", `[0]: needs model and version (or reject), got model "" version ""`},
		{"- name: a\n  match: {x: y}\n  reject: r\n  pollIntervalMs: -5\n", "[0].pollIntervalMs: must be >= 0, got -5"},
		{"name: a\n", "rules: must be a YAML list"},
		{"- 5\n", "[0]: must be a mapping"},
	}
	for _, c := range cases {
		_, err := DecodeRules([]byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
	if rules, err := DecodeRules([]byte("")); err != nil || len(rules) != 0 {
		t.Errorf("empty: %v %v", rules, err)
	}
}
