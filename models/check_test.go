package models

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// checkCase is one Check call and the action (rendered) or error it gives.
type checkCase = struct {
	name  string
	model *Compiled
	op    string
	input string
	want  string // the rendered action, or the error
}

func runCheckCases(t *testing.T, cases []checkCase, render func(*Action) string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkString(t, tc.model, tc.op, tc.input, render); got != tc.want {
				t.Fatalf("Check(%s, %s)\n got: %s\nwant: %s", tc.op, tc.input, got, tc.want)
			}
		})
	}
}

// checkString runs Check and renders its action with render, or its error.
func checkString(t *testing.T, c *Compiled, op, input string, render func(*Action) string) string {
	t.Helper()
	var in json.RawMessage
	if input != "" {
		in = json.RawMessage(input)
	}
	a, err := c.Check(op, in)
	if err != nil {
		var oe *OperationError
		if !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), oe.Code+": ") {
			t.Fatalf("error %v is not a coded *OperationError", err)
		}
		if a != nil {
			t.Fatalf("Check returned an action with its error: %+v", a)
		}
		return err.Error()
	}
	return render(a)
}
