package gateway

import (
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// codeInvalidOperation: the backend sent an operation the gateway cannot read.
const codeInvalidOperation = "invalid-operation"

// refuseInboxItem handles an inbox item the client could not use: the inbox
// steps past it (one bad item never stalls the ones behind it), and whoever can
// be told is told: an operation with a readable id is reported FAILED with the
// reason, once (a redelivery finds it in the journal).
func (g *Gateway) refuseInboxItem(item backendclient.InboxItem) {
	g.log.Warn("inbox item refused", "seq", item.Seq, "kind", item.Kind, "err", item.Err)
	if item.Kind != backendclient.KindOperation || item.Operation == nil || item.Operation.ID == "" {
		return
	}
	id := item.Operation.ID
	if _, seen, err := g.store.Op(id); err != nil || seen {
		return
	}
	g.ops.fail(store.OpRecord{ID: id, LocalID: item.Operation.LocalID, Name: item.Operation.Name}, codeInvalidOperation, item.Err.Error())
}
