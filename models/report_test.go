package models

import (
	"strconv"
	"testing"
	"time"
)

func TestValidateReport(t *testing.T) {
	prop := func(name, typ, extra string, addr int) string {
		return `{"name":"` + name + `","type":"` + typ + `"` + extra + `,"stub":{"at":` + strconv.Itoa(addr) + `}}`
	}
	cases := []validateCase{
		{"valid",
			stubDoc(`"defaults":{"report":{"mode":"change","deadband":0.5,"heartbeat":"5m"}}`,
				prop("a", "float", "", 0)+","+
					prop("b", "bool", "", 2)+","+ // the default deadband is ignored for a bool
					prop("c", "int", `,"report":{"mode":"poll"}`, 3)+","+
					prop("d", "float", `,"report":{"deadbandPercent":2,"deadband":0.1}`, 4)+","+
					prop("e", "string", `,"report":{"heartbeat":"1h"}`, 6), ""),
			nil},
		{"model parameters without mode change are defaults",
			stubDoc(`"defaults":{"report":{"deadbandPercent":1,"heartbeat":"10m"}}`,
				prop("a", "float", `,"report":{"mode":"change"}`, 0)+","+prop("b", "float", "", 2), ""),
			nil},
		{"problems",
			stubDoc(`"defaults":{"report":{"mode":"sometimes","deadband":-1,"deadbandPercent":-0.5,"heartbeat":"10ms"}}`,
				prop("a", "float", `,"report":{"mode":"always","deadband":-1}`, 0)+","+
					prop("b", "bool", `,"report":{"mode":"change","deadband":1,"deadbandPercent":1}`, 2)+","+
					prop("c", "string", `,"report":{"mode":"change","deadbandPercent":1}`, 3)+","+
					prop("d", "int", `,"report":{"deadband":1}`, 5)+","+ // the model's mode is invalid: nothing more to say
					prop("g", "int", `,"telemetry":false,"report":{"mode":"change"}`, 8)+","+
					prop("h", "int", `,"access":"w","report":{"mode":"change"}`, 9), ""),
			[]string{
				`defaults.report.mode: must be one of poll, change, got "sometimes"`,
				"defaults.report.deadband: must be a finite number >= 0, got -1",
				"defaults.report.deadbandPercent: must be a finite number >= 0, got -0.5",
				"defaults.report.heartbeat: must be 100ms..168h0m0s, got 10ms",
				`properties[0].report.mode: must be one of poll, change, got "always"`,
				"properties[0].report.deadband: must be a finite number >= 0, got -1",
				"properties[1].report.deadband: only for int and float properties, not bool",
				"properties[1].report.deadbandPercent: only for int and float properties, not bool",
				"properties[2].report.deadbandPercent: only for int and float properties, not string",
				"properties[4].report: only for telemetry properties",
				"properties[5].report: only for telemetry properties",
			}},
		{"parameters need mode change",
			stubDoc("",
				prop("d", "int", `,"report":{"deadband":1,"heartbeat":"1m"}`, 5)+","+
					prop("e", "int", `,"report":{"mode":"poll","heartbeat":"1m","deadbandPercent":3}`, 6)+","+
					prop("f", "int", `,"report":{"mode":"change","heartbeat":"8760h"}`, 7), ""),
			[]string{
				"properties[0].report.deadband: only with mode change (the property's mode is poll)",
				"properties[0].report.heartbeat: only with mode change (the property's mode is poll)",
				"properties[1].report.deadbandPercent: only with mode change (the property's mode is poll)",
				"properties[1].report.heartbeat: only with mode change (the property's mode is poll)",
				"properties[2].report.heartbeat: must be 100ms..168h0m0s, got 8760h0m0s",
			}},
	}
	runValidateCases(t, cases)
}

func TestCompileReport(t *testing.T) {
	c, err := CompileSource([]byte(stubDoc(`"defaults":{"report":{"mode":"change","deadbandPercent":1,"heartbeat":"10m"}}`,
		`{"name":"inherits","type":"float","stub":{}},`+
			`{"name":"own","type":"float","report":{"deadband":0.2,"heartbeat":"5m"},"stub":{}},`+
			`{"name":"both","type":"int","report":{"deadband":2,"deadbandPercent":5},"stub":{}},`+
			`{"name":"polled","type":"float","report":{"mode":"poll"},"stub":{}},`+
			`{"name":"flag","type":"bool","stub":{}},`+
			`{"name":"quiet","type":"float","telemetry":false,"stub":{}}`, "")), stub{})
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportPolicy{
		{OnChange: true, DeadbandPercent: 1, Heartbeat: 10 * time.Minute},
		{OnChange: true, Deadband: 0.2, Heartbeat: 5 * time.Minute}, // the property's deadband replaces the model's percentage
		{OnChange: true, Deadband: 2, DeadbandPercent: 5, Heartbeat: 10 * time.Minute},
		{},
		{OnChange: true, Heartbeat: 10 * time.Minute}, // no deadband for a bool
		{},
	}
	for i, w := range want {
		if got := c.Properties[i].Report; got != w {
			t.Errorf("%s: Report = %+v, want %+v", c.Properties[i].Name, got, w)
		}
	}
}
