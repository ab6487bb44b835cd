package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/internal/store"
)

// open connects to srv's URL (or url, when not empty) and waits for the
// first synchronisation; it is closed when the test ends.
func open(t *testing.T, url string, staleness time.Duration) *Redis {
	t.Helper()
	r, err := New(Options{URL: url, KeyPrefix: "t:", Mirror: []string{"deny:", "epoch:"}, MaxStaleness: staleness})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	return r
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 5s", what)
}

func TestStoreSemantics(t *testing.T) {
	srv := redistest.Start(t)
	r := open(t, srv.URL(), 30*time.Second)
	ctx := context.Background()
	if _, ok, err := r.Get(ctx, "rf:a"); ok || err != nil {
		t.Fatalf("Get(absent) = %v, %v; want absent", ok, err)
	}
	if ok, err := r.Add(ctx, "rf:a", []byte("1"), time.Minute); !ok || err != nil {
		t.Fatalf("Add(absent) = %v, %v; want true", ok, err)
	}
	if ok, _ := r.Add(ctx, "rf:a", []byte("2"), time.Minute); ok {
		t.Errorf("Add over a live key succeeded")
	}
	if ok, _ := r.CompareAndSwap(ctx, "rf:a", []byte("2"), []byte("3"), time.Minute); ok {
		t.Errorf("CompareAndSwap from a value the key does not hold succeeded")
	}
	if ok, _ := r.CompareAndSwap(ctx, "rf:absent", nil, []byte("3"), time.Minute); ok {
		t.Errorf("CompareAndSwap on an absent key succeeded")
	}
	if ok, err := r.CompareAndSwap(ctx, "rf:a", []byte("1"), []byte("3"), time.Minute); !ok || err != nil {
		t.Errorf("CompareAndSwap(1→3) = %v, %v; want true", ok, err)
	}
	if v, ok, _ := r.Get(ctx, "rf:a"); !ok || string(v) != "3" {
		t.Errorf("Get = %q, %v; want 3", v, ok)
	}
	if err := r.Set(ctx, "rf:b", []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := srv.Do("PTTL", "t:rf:b").(int64); ttl <= 0 || ttl > 50 {
		t.Errorf("PTTL of a key set for 50ms = %d, want 1..50", ttl)
	}
	eventually(t, "a key expires", func() bool { _, ok, _ := r.Get(ctx, "rf:b"); return !ok })
	if n, _ := srv.Do("EXISTS", "t:rf:a").(int64); n != 1 {
		t.Errorf("the key is not stored under the prefix")
	}
}

func TestCompareAndSwapIsAtomicAcrossClients(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv.URL(), 30*time.Second), open(t, srv.URL(), 30*time.Second)
	ctx := context.Background()
	a.Set(ctx, "rf:x", []byte("fresh"), time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 50 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			if ok, _ := s.CompareAndSwap(ctx, "rf:x", []byte("fresh"), []byte(fmt.Sprint("used", i)), time.Minute); ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d swaps won, want exactly 1", wins)
	}
}

// TestMirrorFollowsWrites: a mirrored write on one replica reaches the
// other's copy through the channel; other keys are not mirrored; the copy
// keeps the greatest value whatever order it learns them in.
func TestMirrorFollowsWrites(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv.URL(), 30*time.Second), open(t, srv.URL(), 30*time.Second)
	ctx := context.Background()
	if err := a.Set(ctx, "deny:sid:x", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Mirror().Get(ctx, "deny:sid:x"); !ok {
		t.Errorf("the writer's own copy lacks what it wrote")
	}
	eventually(t, "the other replica learns the revocation", func() bool { _, ok, _ := b.Mirror().Get(ctx, "deny:sid:x"); return ok })
	a.Set(ctx, "rf:y", []byte("v"), time.Minute)
	a.Add(ctx, "epoch:alice", []byte("20"), time.Minute)
	eventually(t, "the epoch arrives", func() bool { v, _, _ := b.Mirror().Get(ctx, "epoch:alice"); return string(v) == "20" })
	if _, ok, _ := b.Mirror().Get(ctx, "rf:y"); ok {
		t.Errorf("a refresh family was mirrored")
	}
	b.Mirror().merge("epoch:alice", []byte("100"), time.Now().Add(time.Minute))
	b.Mirror().merge("epoch:alice", []byte("99"), time.Now().Add(time.Hour))
	if v, _, _ := b.Mirror().Get(ctx, "epoch:alice"); string(v) != "100" {
		t.Errorf("after learning 100 then 99, the copy holds %q, want 100", v)
	}
}

// TestResyncCatchesUpAfterAPartition: what was revoked while a replica
// was cut off reaches it when it reconnects; while cut off, its copy
// answers for MaxStaleness, then refuses with store.ErrUnavailable.
func TestResyncCatchesUpAfterAPartition(t *testing.T) {
	srv := redistest.Start(t)
	link := redistest.NewRelay(t, srv.Addr)
	a := open(t, srv.URL(), 30*time.Second)
	b := open(t, link.URL(), 2*time.Second)
	ctx := context.Background()
	link.Cut()
	if err := a.Set(ctx, "deny:jti:away", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, ok, err := b.Mirror().Get(ctx, "deny:jti:away"); ok || err != nil {
		t.Fatalf("cut off, within max_staleness: Get = %v, %v; want absent, no error", ok, err)
	}
	eventually(t, "the copy goes stale", func() bool {
		_, _, err := b.Mirror().Get(ctx, "deny:jti:other")
		return errors.Is(err, store.ErrUnavailable)
	})
	if b.Up() {
		t.Errorf("Up() = true while cut off")
	}
	link.Heal()
	eventually(t, "the replica resynchronises", func() bool {
		_, ok, err := b.Mirror().Get(ctx, "deny:jti:away")
		return ok && err == nil
	})
	if !b.Up() || b.SyncAge() > 3*time.Second {
		t.Errorf("after the resync: Up() = %v, SyncAge() = %v", b.Up(), b.SyncAge())
	}
}

func TestLimiterIsOneBucketForAll(t *testing.T) {
	srv := redistest.Start(t)
	rs := []*Redis{open(t, srv.URL(), 30*time.Second), open(t, srv.URL(), 30*time.Second), open(t, srv.URL(), 30*time.Second)}
	ctx := context.Background()
	const burst = 5
	limiters := make([]*Limiter, len(rs))
	for i, r := range rs {
		limiters[i] = r.Limiter("u", burst, time.Hour)
	}
	for i := range burst {
		if w, err := limiters[i%3].Take(ctx, "u:alice"); w != 0 || err != nil {
			t.Fatalf("attempt %d = %v, %v; want admitted", i+1, w, err)
		}
	}
	for i, l := range limiters {
		if w, _ := l.Take(ctx, "u:alice"); w < 59*time.Minute {
			t.Errorf("replica %d after the burst: wait %v, want about an hour", i, w)
		}
		if w, _ := l.Wait(ctx, "u:alice"); w < 59*time.Minute {
			t.Errorf("replica %d Wait after the burst = %v, want about an hour", i, w)
		}
	}
	limiters[1].Refund(ctx, "u:alice")
	if w, _ := limiters[2].Take(ctx, "u:alice"); w != 0 {
		t.Errorf("after a refund: wait %v, want admitted", w)
	}
	limiters[0].Reset(ctx, "u:alice")
	if w, _ := limiters[1].Wait(ctx, "u:alice"); w != 0 {
		t.Errorf("after a reset: wait %v, want 0", w)
	}
	if w, _ := limiters[1].Wait(ctx, "u:bob"); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	ttl, _ := srv.Do("PTTL", limiters[0].key("u:alice")).(int64)
	if ttl != -2 {
		t.Errorf("a reset bucket's PTTL = %d, want -2 (gone)", ttl)
	}
	limiters[0].Take(ctx, "u:carol")
	ttl, _ = srv.Do("PTTL", limiters[0].key("u:carol")).(int64)
	if ttl <= 0 || ttl > time.Hour.Milliseconds()+1 {
		t.Errorf("a bucket one failure down expires in %d ms, want at most an interval", ttl)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	r := open(t, srv.URL(), 30*time.Second)
	srv.Kill()
	ctx := context.Background()
	if _, _, err := r.Get(ctx, "rf:a"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get with redis down = %v, want store.ErrUnavailable", err)
	}
	if err := r.Set(ctx, "deny:jti:a", nil, time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Set with redis down = %v, want store.ErrUnavailable", err)
	}
	if _, err := r.Limiter("u", 1, time.Second).Take(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Take with redis down = %v, want store.ErrUnavailable", err)
	}
	if _, _, err := r.Mirror().Get(ctx, "deny:jti:a"); err != nil {
		t.Errorf("the copy within max_staleness = %v, want an answer", err)
	}
}

func TestMessages(t *testing.T) {
	for _, tt := range []struct {
		key   string
		value string
	}{{"deny:sid:\"\":abc", ""}, {"epoch:\"\":a b", "1234"}, {"k", "x y z\n"}} {
		m := encodeMessage(tt.key, []byte(tt.value), 1500)
		k, v, ttl, err := decodeMessage(m)
		if err != nil || k != tt.key || string(v) != tt.value || ttl != 1500*time.Millisecond {
			t.Errorf("decodeMessage(encodeMessage(%q, %q)) = %q, %q, %v, %v", tt.key, tt.value, k, v, ttl, err)
		}
	}
	for _, bad := range []string{"", "x", "10 5 abc", "-1 1 a", "10 x a", "0 1 a"} {
		if _, _, _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%q) succeeded", bad)
		}
	}
	if got := escapeGlob(`a*b?[c]\`); got != `a\*b\?\[c\]\\` {
		t.Errorf("escapeGlob = %q", got)
	}
}

// TestThrottleFloodIsBounded: 100,000 distinct usernames and 100,000
// distinct client addresses, each failing once, as a flood from many
// addresses would: every bucket expires within its interval, and each
// costs the same whatever the length of its name. Run with -v for the
// figures (README: Several replicas).
func TestThrottleFloodIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 200,000 requests to redis")
	}
	srv := redistest.Start(t)
	r := open(t, srv.URL(), 30*time.Second)
	// The defaults of login.throttle.
	users, clients := r.Limiter("user", 10, 30*time.Second), r.Limiter("client", 30, 2*time.Second)
	memory := func() int64 {
		n, _ := strconv.ParseInt(srv.Info("memory")["used_memory"], 10, 64)
		return n
	}
	before := memory()
	const n = 100_000
	long := strings.Repeat("x", 1000)
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				name := fmt.Sprint("u:user", i)
				if i%2 == 0 {
					name += long // a name of any length costs one hash
				}
				if _, err := users.Take(ctx, name); err != nil {
					t.Error(err)
					return
				}
				if _, err := clients.Take(ctx, fmt.Sprintf("c:10.%d.%d.%d", i>>16, i>>8&255, i&255)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	keys, _ := srv.Do("DBSIZE").(int64)
	bytes := memory() - before
	t.Logf("after %d distinct usernames and %d distinct addresses in %v: %d keys, %d bytes (%.0f per key)", n, n, took.Round(time.Millisecond), keys, bytes, float64(bytes)/float64(keys))
	if keys > 2*n {
		t.Errorf("%d keys for %d buckets", keys, 2*n)
	}
	if per := float64(bytes) / float64(keys); per > 250 {
		t.Errorf("%.0f bytes per bucket, want at most 250 whatever the name's length", per)
	}
	for _, k := range []string{users.key("u:user1"), users.key("u:user2" + long)} {
		if ttl, _ := srv.Do("PTTL", k).(int64); ttl <= 0 || ttl > 30_000+1 {
			t.Errorf("a bucket one failure down expires in %d ms, want within the 30s interval", ttl)
		}
	}
	// Redis drops expired keys in the background, a sample at a time, and
	// whenever a key is touched: a SCAN touches them all.
	time.Sleep(2100 * time.Millisecond)
	var live int
	for cursor := uint64(0); ; {
		keys, next, err := r.client.Scan(ctx, cursor, "t:th:*", 10_000).Result()
		if err != nil {
			t.Fatal(err)
		}
		live += len(keys)
		if cursor = next; cursor == 0 {
			break
		}
	}
	left, _ := srv.Do("DBSIZE").(int64)
	t.Logf("2.1 s later (the client interval is 2s): %d live buckets, DBSIZE %d, %d bytes", live, left, memory()-before)
	if live > n {
		t.Errorf("%d live buckets once the client buckets were full again, want at most the %d user buckets", live, n)
	}
}

// TestSentinel: a URL with master_name reaches the master through a real
// Sentinel, mirror and all.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	r, err := New(Options{URL: "redis://" + sentinel.Addr + "/0?master_name=mymaster", Sentinel: true,
		KeyPrefix: "t:", Mirror: []string{"deny:"}, MaxStaleness: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced through the Sentinel: %v", err)
	}
	if err := r.Set(ctx, "deny:jti:x", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, _ := master.Do("EXISTS", "t:deny:jti:x").(int64); n != 1 {
		t.Errorf("the write did not reach the master")
	}
	if _, ok, _ := r.Mirror().Get(ctx, "deny:jti:x"); !ok {
		t.Errorf("the copy lacks the write")
	}
}
