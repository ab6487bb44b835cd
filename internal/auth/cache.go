package auth

import (
	"hash/maphash"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and claims verified, so a
// token costs one signature check in its life rather than one per request
// (an EdDSA or ES256 check costs far more than proxying the request).
// Entries are keyed by a seeded hash but hold the whole token, which is
// compared in full: a hash collision can only miss, never admit. An entry
// never outlives the token's exp; revocation is checked by the caller on
// every request, cache or not. Memory is bounded: a full shard drops an
// arbitrary entry.
type verifiedCache struct {
	seed     maphash.Seed
	shards   [cacheShards]cacheShard
	perShard int
	now      func() time.Time
}

const cacheShards = 16

type cacheShard struct {
	mu      sync.Mutex
	entries map[uint64]cacheEntry
}

type cacheEntry struct {
	token string
	id    Identity
}

func newVerifiedCache(size int, now func() time.Time) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), perShard: max(size/cacheShards, 1), now: now}
	for i := range c.shards {
		c.shards[i].entries = make(map[uint64]cacheEntry)
	}
	return c
}

func (c *verifiedCache) shard(raw string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, raw)
	return &c.shards[h%cacheShards], h
}

func (c *verifiedCache) get(raw string) (Identity, bool) {
	s, h := c.shard(raw)
	s.mu.Lock()
	e, ok := s.entries[h]
	s.mu.Unlock()
	if !ok || e.token != raw || !c.now().Before(e.id.ExpiresAt) {
		return Identity{}, false
	}
	return e.id, true
}

func (c *verifiedCache) put(raw string, id Identity) {
	s, h := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.perShard {
		for k := range s.entries { // map order is random: an arbitrary victim
			delete(s.entries, k)
			break
		}
	}
	s.entries[h] = cacheEntry{token: raw, id: id}
}
