package gateway

import (
	"encoding/json"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// codeInvalidOperation: the backend sent an operation the gateway cannot read.
const codeInvalidOperation = "invalid-operation"

// eventOperationRefused: a gateway event for an operation whose id is too
// long to be reported under (backendclient.MaxIDBytes).
const eventOperationRefused = "operation-refused"

// refuseInboxItem handles an inbox item the client could not use: the inbox
// steps past it (one bad item never stalls the ones behind it), and whoever can
// be told is told: an operation with a readable id is reported FAILED with the
// reason, once (a redelivery finds it in the journal).
func (ib *inbox) refuseInboxItem(item backendclient.InboxItem) {
	ib.log.Warn("inbox item refused", "seq", item.Seq, "kind", item.Kind, "err", item.Err)
	if item.Kind != backendclient.KindOperation || item.Operation == nil || item.Operation.ID == "" {
		return
	}
	id := item.Operation.ID
	if len(id) > backendclient.MaxIDBytes {
		// No status can be reported under an id the backend API does not
		// take, nor journaled: the refusal goes upstream as a gateway event
		// naming the item by its inbox seq and the id's start.
		detail, _ := json.Marshal(map[string]any{"seq": item.Seq, "id": backendclient.Clip(id, 64), "idBytes": len(id),
			"reason": item.Err.Error()})
		ib.gatewayEvent(eventOperationRefused, string(detail))
		return
	}
	if _, seen, err := ib.store.Op(id); err != nil || seen {
		return
	}
	ib.ops.fail(store.OpRecord{ID: id, LocalID: item.Operation.LocalID, Name: item.Operation.Name}, codeInvalidOperation, item.Err.Error())
}
