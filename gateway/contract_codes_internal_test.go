package gateway

import (
	"os"
	"strings"
	"testing"
)

// TestOperationErrorCodesInContract: every operation error code the gateway
// itself decides is in the contract's registry (openapi.yaml,
// OperationStatus), and so is every event name a backend must expect from
// the operation path.
func TestOperationErrorCodesInContract(t *testing.T) {
	spec, err := os.ReadFile("../backendclient/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{codeUnknownDevice, codeNotAssigned, codeExpired, codeDevice, codeInterrupted, codeTimeout,
		codeJournal, codeStateReset, codeInvalidOperation, eventOperationReportRefused, eventOperationRefused, eventAssignmentStale, eventLocalOperation} {
		if !strings.Contains(string(spec), "`"+code+"`") {
			t.Errorf("%s: not in openapi.yaml", code)
		}
	}
}
