package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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
	compile func(src []byte) (*models.Compiled, error) // with the adapters' binders

	mu       sync.Mutex // guards the maps and the count, never held across I/O
	compiled map[string]*models.Compiled
	loading  map[string]*sync.Mutex // one load (state file, backend) per ref at a time
	used     map[string]time.Time   // when each ref was last got (see prune)
	// keepRecent: prune keeps a model got this recently (modelKeepRecent).
	keepRecent time.Duration
	fetches    int // backend fetches done, for the tests and the local API
}

// errModelUnavailable: the model could not be fetched because of the network
// or the backend's state (timeout, reset, 5xx, truncated body), not because it
// is missing or invalid. It is no reason to refuse the assignment.
var errModelUnavailable = errors.New("model unavailable for now")

func newModelCache(st *store.Store, bc *backendclient.Client, compile func([]byte) (*models.Compiled, error)) *modelCache {
	return &modelCache{store: st, backend: bc, compile: compile, compiled: map[string]*models.Compiled{}, loading: map[string]*sync.Mutex{},
		used: map[string]time.Time{}, keepRecent: modelKeepRecent}
}

// get returns the compiled model id@version: from memory, else from the state
// file, else fetched from the backend (and then stored). offline forbids the fetch.
func (c *modelCache) get(ctx context.Context, id, version string, offline bool) (*models.Compiled, error) {
	ref := id + "@" + version
	c.mu.Lock()
	c.used[ref] = time.Now()
	c.mu.Unlock()
	if m, ok := c.cached(ref); ok {
		return m, nil
	}
	// Loads of one ref wait for each other (so a model is fetched once however
	// many devices ask); other refs, and the local API, do not wait for them.
	c.mu.Lock()
	l, ok := c.loading[ref]
	if !ok {
		l = &sync.Mutex{}
		c.loading[ref] = l
	}
	c.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if m, ok := c.cached(ref); ok {
		return m, nil
	}
	m, fetched, err := c.load(ctx, ref, id, version, offline)
	c.mu.Lock()
	defer c.mu.Unlock()
	if fetched {
		c.fetches++
	}
	if err != nil {
		return nil, err
	}
	c.compiled[ref] = m
	return m, nil
}

func (c *modelCache) cached(ref string) (*models.Compiled, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.compiled[ref]
	return m, ok
}

// load compiles ref from the state file, else fetches it from the backend
// (unless offline) and stores it; fetched says the backend was asked.
func (c *modelCache) load(ctx context.Context, ref, id, version string, offline bool) (m *models.Compiled, fetched bool, err error) {
	src, ok, err := c.store.Model(ref)
	if err != nil {
		return nil, false, fmt.Errorf("model %s: cache: %w", ref, err)
	}
	if ok {
		if m, err := c.compile(src); err == nil {
			return m, false, nil
		}
		// A cached source that no longer compiles is refetched, not trusted.
	}
	if offline {
		return nil, false, fmt.Errorf("model %s: not cached and the backend is not asked", ref)
	}
	src, err = c.backend.Model(ctx, id, version)
	if err != nil {
		if !backendclient.IsRefused(err) {
			// The way to the backend failed, not the model: try again soon.
			err = fmt.Errorf("%w: %w", errModelUnavailable, err)
		}
		return nil, false, fmt.Errorf("model %s: fetch: %w", ref, err)
	}
	m, err = c.compile(src)
	if err != nil {
		return nil, true, fmt.Errorf("model %s from backend is invalid: %w", ref, err)
	}
	if m.ID != id || m.Version != version {
		return nil, true, fmt.Errorf("model %s from backend: document says %s", ref, m.Ref())
	}
	if err := c.store.PutModel(ref, m.Source); err != nil {
		return nil, true, fmt.Errorf("model %s: cache: %w", ref, err)
	}
	return m, true, nil
}

func (c *modelCache) fetchCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}
