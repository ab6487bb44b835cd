package redisstate

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/internal/store"
)

// Mirror is a replica's in-memory copy of the mirrored keys. Its Get is
// what the request path reads: a map lookup, never a network round trip.
type Mirror struct {
	mu      sync.RWMutex
	entries map[string]mirrored
	// syncedAt is when (Unix nanoseconds) the copy was last known to hold
	// every write made until then; 0 until the first synchronisation.
	syncedAt     atomic.Int64
	started      time.Time
	maxStaleness time.Duration
}

type mirrored struct {
	value   []byte
	expires time.Time
}

func newMirror(maxStaleness time.Duration) *Mirror {
	return &Mirror{entries: map[string]mirrored{}, started: time.Now(), maxStaleness: maxStaleness}
}

// Get returns key's value as last learned, like store.Store's Get. When
// the copy has not been known complete for longer than MaxStaleness it
// returns store.ErrUnavailable: a revocation may have been missed, so the
// caller must refuse rather than admit.
func (m *Mirror) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := time.Now()
	if age := m.age(now); age > m.maxStaleness {
		return nil, false, unavailable("mirror", fmt.Errorf("revocations not synchronised for %s", age.Round(time.Second)))
	}
	m.mu.RLock()
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false, nil
	}
	return bytes.Clone(e.value), true, nil
}

// age is how long ago the copy was last known complete.
func (m *Mirror) age(now time.Time) time.Duration {
	at := m.syncedAt.Load()
	if at == 0 {
		return now.Sub(m.started)
	}
	return now.Sub(time.Unix(0, at))
}

// synced records that the copy held every write made until t.
func (m *Mirror) synced(t time.Time) {
	m.syncedAt.Store(t.UnixNano())
}

// merge learns that key was written with value, to expire at expires. It
// keeps the greater of the values it knows and the later expiry, so that
// learning of writes out of order (from a message and from a full read,
// say) ends in the same copy.
func (m *Mirror) merge(key string, value []byte, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || !time.Now().Before(e.expires) {
		m.entries[key] = mirrored{value: bytes.Clone(value), expires: expires}
		return
	}
	if greater(value, e.value) {
		e.value = bytes.Clone(value)
	}
	if expires.After(e.expires) {
		e.expires = expires
	}
	m.entries[key] = e
}

// greater orders values as Options.Mirror says they grow.
func greater(a, b []byte) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return bytes.Compare(a, b) > 0
}

// sweep drops the keys that expired, so memory follows the live ones.
func (m *Mirror) sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
}

// Len returns the number of keys held, expired ones not yet swept
// included.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

var _ store.Store = (*Redis)(nil)
