package gateway

import (
	"time"
)

// modelKeepRecent: a model got this recently is kept by a prune although no
// device refers to it yet (it is being assigned right now).
const modelKeepRecent = time.Minute

// pruneModels forgets the cached model versions that no device refers to any
// more (its assigned instance or the model it runs), in memory and in the
// state file: a backend that moves devices from version to version does not
// grow the cache without bound. It runs when an assignment replaces a model
// or an unassignment drops one, and once at start.
func (g *Gateway) pruneModels() {
	keep := map[string]bool{}
	for _, d := range g.devices.all() {
		if rec := d.record(); rec.Instance != nil {
			keep[rec.Instance.Model+"@"+rec.Instance.Version] = true
		}
		if run := d.current(); run != nil {
			keep[run.model.Ref()] = true
		}
	}
	dropped, err := g.models.prune(keep)
	if err != nil {
		g.log.Warn("prune model cache", "err", err)
	}
	if len(dropped) > 0 {
		g.log.Info("model versions no device uses dropped from the cache", "models", dropped)
	}
}

// prune drops every model not in keep and not got within keepRecent.
func (c *modelCache) prune(keep map[string]bool) (dropped []string, err error) {
	refs, err := c.store.ModelRefs()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	c.mu.Lock()
	for ref := range c.compiled {
		refs = append(refs, ref)
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		if seen[ref] || keep[ref] || now.Sub(c.used[ref]) < c.keepRecent {
			continue
		}
		seen[ref] = true
		dropped = append(dropped, ref)
		delete(c.compiled, ref)
		delete(c.used, ref)
		delete(c.loading, ref)
	}
	c.mu.Unlock()
	return dropped, c.store.DeleteModels(dropped)
}
