package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// modelCache holds compiled models by id@version. A model is fetched from the
// backend at most once (then it lives in the state file) and compiled at most
// once per process, however many devices use it.
type modelCache struct {
	store   *store.Store
	backend *backendclient.Client

	mu       sync.Mutex
	compiled map[string]*models.Compiled
	fetches  int // backend fetches done, for the tests and the local API
}

// errModelUnavailable: the model could not be fetched because of the network
// or the backend's state (timeout, reset, 5xx, truncated body), not because it
// is missing or invalid. It is no reason to refuse the assignment.
var errModelUnavailable = errors.New("model unavailable for now")

func newModelCache(st *store.Store, bc *backendclient.Client) *modelCache {
	return &modelCache{store: st, backend: bc, compiled: map[string]*models.Compiled{}}
}

// get returns the compiled model id@version: from memory, else from the state
// file, else fetched from the backend (and then stored). offline forbids the fetch.
func (c *modelCache) get(ctx context.Context, id, version string, offline bool) (*models.Compiled, error) {
	ref := id + "@" + version
	c.mu.Lock()
	defer c.mu.Unlock() // one fetch per ref at a time; fetches are rare
	if m, ok := c.compiled[ref]; ok {
		return m, nil
	}
	src, ok, err := c.store.Model(ref)
	if err != nil {
		return nil, fmt.Errorf("model %s: cache: %w", ref, err)
	}
	if ok {
		m, err := models.CompileSource(src)
		if err == nil {
			c.compiled[ref] = m
			return m, nil
		}
		// A cached source that no longer compiles is refetched, not trusted.
	}
	if offline {
		return nil, fmt.Errorf("model %s: not cached and the backend is not asked", ref)
	}
	src, err = c.backend.Model(ctx, id, version)
	if err != nil {
		if !backendclient.IsRefused(err) {
			// The way to the backend failed, not the model: try again soon.
			err = fmt.Errorf("%w: %w", errModelUnavailable, err)
		}
		return nil, fmt.Errorf("model %s: fetch: %w", ref, err)
	}
	c.fetches++
	m, err := models.CompileSource(src)
	if err != nil {
		return nil, fmt.Errorf("model %s from backend is invalid: %w", ref, err)
	}
	if m.ID != id || m.Version != version {
		return nil, fmt.Errorf("model %s from backend: document says %s", ref, m.Ref())
	}
	if err := c.store.PutModel(ref, m.Source); err != nil {
		return nil, fmt.Errorf("model %s: cache: %w", ref, err)
	}
	c.compiled[ref] = m
	return m, nil
}

func (c *modelCache) fetchCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}
