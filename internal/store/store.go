// Package store holds the gateway's small amount of shared state: revoked
// token and session IDs, and refresh-token records. Store is the interface
// a shared implementation for several replicas (Redis, say) must honour:
// every key has a time to live, and records change only by atomic
// compare-and-swap, never by read-modify-write. Memory is the
// single-process implementation.
package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"
)

// ErrUnavailable means a shared store could not answer or take a write:
// its server cannot be reached, or the local copy a read was answered
// from is too old to be trusted. Callers refuse what they could not check
// (fail closed) and tell the client to retry later. Memory never returns
// it.
var ErrUnavailable = errors.New("shared state unavailable")

// Store is a key-value store whose every key expires.
type Store interface {
	// Get returns the value of key, or ok false when it is absent or
	// expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key for ttl, replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Add stores value under key for ttl only if key is absent; ok reports
	// whether it did.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (ok bool, err error)
	// CompareAndSwap replaces key's value with next, for ttl, only if it is
	// currently old; ok reports whether it did.
	CompareAndSwap(ctx context.Context, key string, old, next []byte, ttl time.Duration) (ok bool, err error)
}

// Memory is an in-process Store. Expired keys are dropped when touched and
// by a sweep every so often, so memory follows the live keys.
type Memory struct {
	mu        sync.Mutex
	entries   map[string]entry
	now       func() time.Time
	lastSweep time.Time
}

type entry struct {
	value   []byte
	expires time.Time
}

// sweepEvery is how often Set and Add scan for expired keys.
const sweepEvery = time.Minute

// NewMemory returns an empty Memory; now is its clock (nil means time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{entries: map[string]entry{}, now: now}
}

func (m *Memory) live(key string, now time.Time) (entry, bool) {
	e, ok := m.entries[key]
	if ok && !now.Before(e.expires) {
		delete(m.entries, key)
		return entry{}, false
	}
	return e, ok
}

func (m *Memory) put(key string, value []byte, ttl time.Duration, now time.Time) {
	if now.Sub(m.lastSweep) > sweepEvery {
		m.lastSweep = now
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	m.entries[key] = entry{value: bytes.Clone(value), expires: now.Add(ttl)}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[key]; !ok {
		// The common case on every request (nothing revoked): no clock read.
		return nil, false, nil
	}
	e, ok := m.live(key, m.now())
	return bytes.Clone(e.value), ok, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, value, ttl, m.now())
	return nil
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, ok := m.live(key, now); ok {
		return false, nil
	}
	m.put(key, value, ttl, now)
	return true, nil
}

// CompareAndSwap implements Store.
func (m *Memory) CompareAndSwap(_ context.Context, key string, old, next []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e, ok := m.live(key, now)
	if !ok || !bytes.Equal(e.value, old) {
		return false, nil
	}
	m.put(key, next, ttl, now)
	return true, nil
}

// Len returns the number of keys held, expired ones not yet swept included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Live returns the number of keys that have not expired: what the store
// still holds on to, whether or not a sweep has run.
func (m *Memory) Live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.now(), 0
	for _, e := range m.entries {
		if now.Before(e.expires) {
			n++
		}
	}
	return n
}
