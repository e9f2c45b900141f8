package adapters

import "context"

type onDemandKey struct{}

// OnDemand marks ctx as a read somebody waits for (the local API's read of a
// device now): a Bus.Poll under it goes ahead of the queued polls like an
// operation, instead of waiting its turn behind them.
func OnDemand(ctx context.Context) context.Context {
	return context.WithValue(ctx, onDemandKey{}, true)
}

// IsOnDemand reports whether ctx is marked by OnDemand. Bus implementations
// ask it in Poll to choose the queue.
func IsOnDemand(ctx context.Context) bool {
	v, _ := ctx.Value(onDemandKey{}).(bool)
	return v
}
