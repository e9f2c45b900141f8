package backend

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/fieldgate/fieldgate/models"
)

// Config configures a reference backend.
type Config struct {
	DBPath string // one bbolt file holding all state; a restart keeps it
	Token  string // bearer token gateways must send on /api/v1; "" = no auth
	// AdminToken is the bearer token the admin API (/admin) asks for; "" =
	// none, for a backend on loopback only (the bench refuses it elsewhere).
	AdminToken string
	// AllowedHosts are the names, besides addresses and localhost, that the
	// admin API and the web view answer in a request's Host.
	AllowedHosts []string
	ModelsDir    string // model files (*.json, *.yaml, *.yml) loaded at Open; "" = none
	Rules        []Rule // assignment rules, merged by name over the persisted ones at Open
	// PendingRetryAfter is the retry-after a pending answer carries (default 30s).
	PendingRetryAfter time.Duration
	// Binders check the protocol parts of the models AddModel takes (the
	// adapters' binders: adapters.Table.Binders).
	Binders []models.Binder
}

// Server is the reference backend. Its methods are safe for concurrent use.
type Server struct {
	cfg        Config
	retryAfter int // seconds
	log        *slog.Logger
	db         *bolt.DB
	handler    http.Handler

	mu     sync.Mutex
	notify map[string]chan struct{} // per gateway; closed and removed when its inbox grows
	polls  map[string]*InboxState   // per gateway: its latest inbox poll (at most maxTrackedPolls)
	rules  []compiledRule           // ordered: highest priority first, then name

	gunzips sync.Pool // *gzip.Reader, reused by telemetry requests

	done      chan struct{} // closed by Close: wakes long-polls
	closeOnce sync.Once
	closeErr  error
}

// Bucket names. Layout (keys big-endian uint64 where numeric):
//
//	meta        counters (samples, values, events, duplicates)
//	models      id \x00 version → canonical document JSON
//	rules       name → Rule JSON
//	devices     device id → DeviceRecord JSON
//	gateways    gateway id → GatewayRecord JSON
//	inbox       gateway → bucket: seq → storedItem JSON (bucket sequence = last seq)
//	operations  id → OperationRecord JSON
//	seqs        gateway → bucket: first seq → last seq, the telemetry seqs seen (de-duplication)
//	samples     device id → bucket: ingest number → sample record (compact binary, see samplerec.go)
//	events      device id → bucket: ingest number → EventRecord JSON
//
// The ingest number (samples bucket sequence) orders everything stored, newest last.
// (Files of earlier versions also hold "seen" and "readings" buckets, now unused.)
const (
	bkMeta       = "meta"
	bkModels     = "models"
	bkRules      = "rules"
	bkDevices    = "devices"
	bkGateways   = "gateways"
	bkInbox      = "inbox"
	bkOperations = "operations"
	bkSeqs       = "seqs"
	bkSamples    = "samples"
	bkEvents     = "events"
)

func bucketNames() []string {
	return []string{bkMeta, bkModels, bkRules, bkDevices, bkGateways, bkInbox, bkOperations, bkSeqs, bkSamples, bkEvents}
}

// Open opens (or creates) the database, loads the models of cfg.ModelsDir and merges
// cfg.Rules over the persisted rules. A bad model file or rule is an error naming
// the file or rule and the field.
func Open(cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DBPath == "" {
		return nil, fmt.Errorf("backend: DBPath: must not be empty")
	}
	if cfg.PendingRetryAfter < 0 {
		return nil, fmt.Errorf("backend: PendingRetryAfter: must be >= 0, got %s", cfg.PendingRetryAfter)
	}
	if cfg.PendingRetryAfter == 0 {
		cfg.PendingRetryAfter = 30 * time.Second
	}
	if _, err := compileRules(cfg.Rules); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	for i, h := range cfg.AllowedHosts {
		if h == "" || len(h) > 253 || strings.ContainsAny(h, ":/ \t@[]") {
			return nil, fmt.Errorf("backend: allowedHosts[%d]: %q is not a host name (no scheme, port or path)", i, clip(h))
		}
	}
	db, err := bolt.Open(cfg.DBPath, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("backend: open %s: %w", cfg.DBPath, err)
	}
	s := &Server{
		cfg:        cfg,
		retryAfter: int((cfg.PendingRetryAfter + time.Second - 1) / time.Second),
		log:        log,
		db:         db,
		notify:     map[string]chan struct{}{},
		polls:      map[string]*InboxState{},
		done:       make(chan struct{}),
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("backend: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range bucketNames() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		// A file of an earlier version numbered what it stored in "readings":
		// go on from there, so that its events stay older than new ones.
		if old := tx.Bucket([]byte("readings")); old != nil {
			if b := tx.Bucket([]byte(bkSamples)); b.Sequence() < old.Sequence() {
				return b.SetSequence(old.Sequence())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.loadModelsDir(); err != nil {
		return err
	}
	return s.mergeRules(s.cfg.Rules)
}

// loadModelsDir adds every *.json, *.yaml and *.yml file of cfg.ModelsDir, in name order.
func (s *Server) loadModelsDir() error {
	if s.cfg.ModelsDir == "" {
		return nil
	}
	entries, err := os.ReadDir(s.cfg.ModelsDir)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	var errs []error
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".json", ".yaml", ".yml":
		default:
			continue
		}
		if e.IsDir() {
			continue
		}
		file := filepath.Join(s.cfg.ModelsDir, e.Name())
		src, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, _, err := s.addModel(src); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
	}
	return errors.Join(errs...)
}

// mergeRules stores rules over the persisted ones (same name replaces) and
// recompiles the in-memory rule list.
func (s *Server) mergeRules(rules []Rule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []Rule
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkRules))
		for _, r := range rules {
			if err := putJSON(b, []byte(r.Name), r); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			var r Rule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("stored rule %q: %w", k, err)
			}
			all = append(all, r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	compiled, err := compileRules(all)
	if err != nil {
		return err
	}
	s.rules = compiled
	return nil
}

// AddRule validates r and stores it, replacing a rule of the same name. It applies
// to registrations from now on; devices already decided keep their answer until
// their fingerprint changes.
func (s *Server) AddRule(r Rule) error {
	if err := r.validate("rule"); err != nil {
		return errorf(CodeBadRequest, err)
	}
	return s.mergeRules([]Rule{r})
}

// Rules lists the rules in the order they are tried.
func (s *Server) Rules() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.Rule
	}
	return out
}

func (s *Server) currentRules() []compiledRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules
}

// Handler serves /api/v1/..., /admin/... and the HTML view at /.
func (s *Server) Handler() http.Handler { return s.handler }

// Close wakes every waiting long-poll and closes the database. In-flight requests
// that still reach the database afterwards fail with 503.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// view and update run a transaction, mapping a closed database to "unavailable".
func (s *Server) view(fn func(tx *bolt.Tx) error) error   { return s.txn(false, fn) }
func (s *Server) update(fn func(tx *bolt.Tx) error) error { return s.txn(true, fn) }

func (s *Server) txn(write bool, fn func(tx *bolt.Tx) error) error {
	select {
	case <-s.done:
		return newError(CodeUnavailable, "backend is closed")
	default:
	}
	var err error
	if write {
		err = s.db.Update(fn)
	} else {
		err = s.db.View(fn)
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return newError(CodeUnavailable, "backend is closed")
	}
	return err
}

// DeviceID is the backend device id of (gateway, localID): short and stable.
func DeviceID(gateway, localID string) string {
	sum := sha256.Sum256([]byte(gateway + "/" + localID))
	return "dev-" + hex.EncodeToString(sum[:6])
}

func u64key(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// getJSON decodes key's value into v; false when the key is absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("stored %q: %w", key, err)
	}
	return true, nil
}

// record reads one stored record of a bucket by key; a record that cannot be
// read is logged and reported as absent.
func record[T any](s *Server, bucket, key, what string) (T, bool) {
	var v T
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket([]byte(bucket)), []byte(key), &v)
		return err
	})
	if err != nil {
		s.log.Error(what, "id", key, "err", err)
	}
	return v, found && err == nil
}

// counter adds delta to the named counter of the meta bucket and returns the sum.
func counter(tx *bolt.Tx, name string, delta int64) (int64, error) {
	b := tx.Bucket([]byte(bkMeta))
	var n int64
	if v := b.Get([]byte(name)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	if delta == 0 {
		return n, nil
	}
	n += delta
	return n, b.Put([]byte(name), u64key(uint64(n)))
}

// Stats counts devices, samples, values, events, duplicates and operations and
// lists the gateways.
func (s *Server) Stats() Stats {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		st.Devices = tx.Bucket([]byte(bkDevices)).Stats().KeyN
		st.Operations = tx.Bucket([]byte(bkOperations)).Stats().KeyN
		st.Samples, _ = counter(tx, "samples", 0)
		st.Values, _ = counter(tx, "values", 0)
		st.Readings = st.Values
		st.Events, _ = counter(tx, "events", 0)
		st.Duplicates, _ = counter(tx, "duplicates", 0)
		inbox := tx.Bucket([]byte(bkInbox))
		return tx.Bucket([]byte(bkGateways)).ForEach(func(k, v []byte) error {
			var g GatewayRecord
			if err := json.Unmarshal(v, &g); err != nil {
				return err
			}
			g.Inbox = &InboxState{}
			if b := inbox.Bucket(k); b != nil {
				g.Inbox.Last = int64(b.Sequence())
			}
			st.Gateways = append(st.Gateways, g)
			return nil
		})
	})
	if err != nil {
		s.log.Error("stats", "err", err)
	}
	// Outside the transaction: s.mu is never taken while one is open (mergeRules
	// opens one holding it).
	for i := range st.Gateways {
		g := &st.Gateways[i]
		last := g.Inbox.Last
		g.Inbox = s.inboxState(g.ID)
		g.Inbox.Last = last
	}
	sort.Slice(st.Gateways, func(i, j int) bool { return st.Gateways[i].ID < st.Gateways[j].ID })
	return st
}
