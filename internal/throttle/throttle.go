// Package throttle limits failed attempts per key (a username, a client
// address) in a fixed amount of memory.
//
// A map keyed by attacker input grows with the attack; this package uses a
// fixed table of small set-associative buckets addressed by a seeded hash,
// so memory is set at start and an attacker who does not know the seed
// cannot aim collisions at a victim's bucket. When a set is full, the entry
// closest to idle is replaced, never one that is currently throttled.
package throttle

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/authgate/authgate/internal/names"
)

const ways = 4

// Limiter is a fixed-size table of token buckets. Each key may fail Burst
// times, then once more per Interval.
type Limiter struct {
	seed     maphash.Seed
	sets     []set
	burst    float64
	interval time.Duration
	now      func() time.Time
}

type set struct {
	mu      sync.Mutex
	buckets [ways]bucket
}

type bucket struct {
	key     uint64 // 0 means empty
	tokens  float64
	updated time.Time
}

// Options configures a Limiter.
type Options struct {
	// Slots is the number of keys tracked at once (rounded up to a
	// multiple of 4); it bounds the memory used.
	Slots int
	// Burst is how many failures a key may have before it is throttled.
	Burst int
	// Interval is how often a throttled key earns one more attempt.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Limiter. Slots, Burst and Interval must be positive.
func New(o Options) *Limiter {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	n := max((o.Slots+ways-1)/ways, 1)
	return &Limiter{seed: maphash.MakeSeed(), sets: make([]set, n), burst: float64(o.Burst), interval: o.Interval, now: now}
}

func (l *Limiter) locate(key string) (*set, uint64) {
	h := maphash.String(l.seed, key) | 1 // never 0, which marks an empty bucket
	return &l.sets[h%uint64(len(l.sets))], h
}

// refill brings b's tokens up to date.
func (l *Limiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.updated); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.interval))
		b.updated = now
	}
}

// Wait returns how long key must wait before its next attempt; zero means
// it may try now.
func (l *Limiter) Wait(key string) time.Duration {
	s, h := l.locate(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.buckets {
		b := &s.buckets[i]
		if b.key != h {
			continue
		}
		l.refill(b, now)
		if b.tokens >= 1 {
			return 0
		}
		return time.Duration((1 - b.tokens) * float64(l.interval))
	}
	return 0
}

// Take charges key one attempt if it may try now, as if the attempt had
// already failed, and returns zero; otherwise it returns how long key must
// wait, charging nothing. Charging before the attempt, in one step with
// the check, means concurrent attempts cannot all pass a check that only
// the first of them should: a password check takes long enough for a
// flooder's other connections to arrive in the meantime. Give the charge
// back with Refund or Reset when the attempt succeeds.
func (l *Limiter) Take(key string) time.Duration {
	return l.charge(key, true)
}

// Fail records a failed attempt by key.
func (l *Limiter) Fail(key string) {
	l.charge(key, false)
}

// charge takes a token from key's bucket; onlyIfFree refuses instead when
// there is not a whole one, returning the wait.
func (l *Limiter) charge(key string, onlyIfFree bool) time.Duration {
	s, h := l.locate(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	victim := -1
	for i := range s.buckets {
		b := &s.buckets[i]
		if b.key == h {
			l.refill(b, now)
			if onlyIfFree && b.tokens < 1 {
				return time.Duration((1 - b.tokens) * float64(l.interval))
			}
			b.tokens = max(0, b.tokens-1)
			return 0
		}
		if b.key != 0 {
			l.refill(b, now)
		}
		// Prefer an empty bucket, else the one with the most tokens left:
		// the key closest to never having failed.
		if b.key == 0 || victim < 0 || (s.buckets[victim].key != 0 && b.tokens > s.buckets[victim].tokens) {
			victim = i
		}
	}
	v := &s.buckets[victim]
	if v.key != 0 && v.tokens < 1 {
		// Every entry here is throttled; dropping one would free an
		// attacker, so this key goes untracked (the other limits still
		// apply to it).
		return 0
	}
	*v = bucket{key: h, tokens: l.burst - 1, updated: now}
	return 0
}

// Refund gives back the attempt Take charged to key.
func (l *Limiter) Refund(key string) {
	s, h := l.locate(key)
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.buckets {
		if b := &s.buckets[i]; b.key == h {
			l.refill(b, now)
			b.tokens = min(l.burst, b.tokens+1)
		}
	}
}

// Reset forgets key's failures, after it succeeded.
func (l *Limiter) Reset(key string) {
	s, h := l.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.buckets {
		if s.buckets[i].key == h {
			s.buckets[i] = bucket{}
		}
	}
}

// UsernameKey folds the spellings of a username that a person or a
// Unicode-normalising component would take for the same name into one key
// (names.Fold: compatibility forms such as fullwidth "ａｌｉｃｅ", case,
// whitespace and invisible format characters), so variants cannot open
// fresh buckets. The config refuses two accounts whose names fold together,
// so no account shares its bucket with another.
func UsernameKey(name string) string {
	return "u:" + names.Fold(name)
}

// ClientKey is the key for a client address: the address itself for IPv4,
// its /64 for IPv6, since one subscriber commonly holds a whole /64.
func ClientKey(addr netip.Addr) string {
	if addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		return "c:" + p.String()
	}
	return "c:" + addr.Unmap().String()
}
