package backend

import (
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

const (
	inboxPageMax   = 100
	inboxRetention = 7 * 24 * time.Hour
	inboxPruneMax  = 100 // items examined for pruning per enqueue
	// MaxInboxWait is the longest long-poll wait; longer requests are clamped.
	MaxInboxWait = 60 * time.Second
	// maxTrackedPolls bounds the gateways whose inbox polls are remembered
	// (polls name the gateway in the URL: anyone may make up names).
	maxTrackedPolls = 10000
)

// storedItem is an inbox item with the time it was enqueued (for retention).
type storedItem struct {
	Item    backendclient.InboxItem `json:"item"`
	Created time.Time               `json:"created"`
}

// enqueue appends item to gw's inbox with the next per-gateway seq (from 1; the
// bucket sequence persists, so it continues after a restart) and prunes items
// older than the retention. The caller wakes gw's long-polls after the commit.
func enqueue(tx *bolt.Tx, gw string, item backendclient.InboxItem) (int64, error) {
	b, err := tx.Bucket([]byte(bkInbox)).CreateBucketIfNotExists([]byte(gw))
	if err != nil {
		return 0, err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	item.Seq = int64(seq)
	now := time.Now().UTC()
	if err := putJSON(b, u64key(seq), storedItem{Item: item, Created: now}); err != nil {
		return 0, err
	}
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(old) < inboxPruneMax; k, v = c.Next() {
		var si storedItem
		if json.Unmarshal(v, &si) != nil || now.Sub(si.Created) < inboxRetention {
			break
		}
		old = append(old, k)
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return item.Seq, nil
}

// Inbox returns up to 100 items of gw's inbox with seq > after, oldest first.
func (s *Server) Inbox(gw string, after int64) ([]backendclient.InboxItem, error) {
	items := []backendclient.InboxItem{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkInbox)).Bucket([]byte(gw))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64key(uint64(after) + 1)); k != nil && len(items) < inboxPageMax; k, v = c.Next() {
			var si storedItem
			if err := json.Unmarshal(v, &si); err != nil {
				return err
			}
			items = append(items, si.Item)
		}
		return nil
	})
	return items, err
}

// WaitInbox is the long-poll: it returns at once when gw has items after the
// cursor, else waits up to wait for one, returning early when ctx ends (the client
// went away) or the server closes; then it returns what there is, maybe nothing.
func (s *Server) WaitInbox(ctx context.Context, gw string, after int64, wait time.Duration) (backendclient.InboxPage, error) {
	wait = min(max(wait, 0), MaxInboxWait)
	defer s.polled(gw, after)()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// Bounded by the timer: each pass either returns or waits for a wake, and
	// after the timer fires the next pass returns.
	expired := false
	for {
		ch := s.waiter(gw) // before reading, so an enqueue after the read is not missed
		items, err := s.Inbox(gw, after)
		if err != nil {
			return backendclient.InboxPage{}, err
		}
		if len(items) > 0 || wait == 0 || expired {
			return page(items, after), nil
		}
		select {
		case <-ch:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			return page(nil, after), ctx.Err()
		case <-s.done:
			return page(nil, after), nil
		}
	}
}

func page(items []backendclient.InboxItem, after int64) backendclient.InboxPage {
	p := backendclient.InboxPage{Items: items, Cursor: after}
	if p.Items == nil {
		p.Items = []backendclient.InboxItem{}
	}
	if n := len(items); n > 0 {
		p.Cursor = items[n-1].Seq
	}
	return p
}

// polled notes a poll of gw's inbox from after and returns what notes its end.
func (s *Server) polled(gw string, after int64) (done func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.polls[gw]
	if !ok {
		if len(s.polls) >= maxTrackedPolls {
			return func() {}
		}
		p = &InboxState{}
		s.polls[gw] = p
	}
	p.Cursor, p.PolledAt = after, time.Now().UTC()
	p.Waiting++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		p.Waiting--
	}
}

// inboxState returns a copy of what is known of gw's inbox polls.
func (s *Server) inboxState(gw string) *InboxState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := InboxState{}
	if p, ok := s.polls[gw]; ok {
		st = *p
	}
	return &st
}

// waiter returns the channel that is closed when gw's inbox next grows.
func (s *Server) waiter(gw string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.notify[gw]
	if !ok {
		ch = make(chan struct{})
		s.notify[gw] = ch
	}
	return ch
}

// wake wakes gw's long-polls; the next waiter gets a fresh channel.
func (s *Server) wake(gw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.notify[gw]; ok {
		close(ch)
		delete(s.notify, gw)
	}
}

// InjectInboxItem puts item in gw's inbox as it is, valid or not (its Seq is
// assigned): fault injection for tests of how a gateway copes with an item it
// cannot use. It returns the item's seq.
func (s *Server) InjectInboxItem(gw string, item backendclient.InboxItem) (int64, error) {
	var seq int64
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		seq, err = enqueue(tx, gw, item)
		return err
	})
	if err == nil {
		s.wake(gw)
	}
	return seq, err
}
