package throttle

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newLimiter(c *clock, slots int) *Limiter {
	return New(Options{Slots: slots, Burst: 3, Interval: 10 * time.Second, Now: c.now})
}

func TestBurstThenRefill(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := newLimiter(c, 64)
	for i := range 3 {
		if w := l.Wait("alice"); w != 0 {
			t.Fatalf("attempt %d: Wait = %v, want 0", i, w)
		}
		l.Fail("alice")
	}
	if w := l.Wait("alice"); w != 10*time.Second {
		t.Fatalf("after the burst: Wait = %v, want 10s", w)
	}
	if w := l.Wait("bob"); w != 0 {
		t.Errorf("another key is throttled too: Wait(bob) = %v", w)
	}
	c.add(4 * time.Second)
	if w := l.Wait("alice"); w != 6*time.Second {
		t.Errorf("4s later: Wait = %v, want 6s", w)
	}
	c.add(6 * time.Second)
	if w := l.Wait("alice"); w != 0 {
		t.Errorf("after one interval: Wait = %v, want 0", w)
	}
	l.Fail("alice")
	if w := l.Wait("alice"); w == 0 {
		t.Errorf("a failure right after the refill was not throttled")
	}
	l.Reset("alice")
	if w := l.Wait("alice"); w != 0 {
		t.Errorf("after Reset: Wait = %v, want 0", w)
	}
}

func TestTakeChargesOnlyWhatItAdmits(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := newLimiter(c, 64)
	// Concurrent attempts each Take before any of them has an outcome:
	// exactly the burst is admitted.
	var admitted int
	for range 10 {
		if l.Take("alice") == 0 {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("admitted %d of 10 concurrent attempts, want the burst of 3", admitted)
	}
	if w := l.Take("alice"); w != 10*time.Second {
		t.Errorf("refused Take = %v, want a wait of 10s", w)
	}
	// A refused Take charged nothing: one interval later there is one
	// attempt again, and a success gives its charge back.
	c.add(10 * time.Second)
	if w := l.Take("alice"); w != 0 {
		t.Fatalf("after one interval: Take = %v, want 0", w)
	}
	l.Refund("alice")
	if w := l.Wait("alice"); w != 0 {
		t.Errorf("after Refund: Wait = %v, want 0", w)
	}
	// Refund never raises a key above its burst.
	l.Refund("bob")
	for range 5 {
		l.Refund("alice")
	}
	for i := range 3 {
		if w := l.Take("alice"); w != 0 {
			t.Fatalf("Take %d after refunds = %v, want 0", i, w)
		}
	}
	if w := l.Take("alice"); w == 0 {
		t.Errorf("refunds raised alice above the burst")
	}
}

func TestMemoryIsFixedAndThrottledKeysSurviveASpray(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := newLimiter(c, 64)
	for range 3 {
		l.Fail("victim-under-attack")
	}
	// An attacker sprays many other names, each failing once, to try to
	// evict the throttled entry.
	for i := range 10000 {
		l.Fail(fmt.Sprintf("spray-%d", i))
	}
	if len(l.sets) != 16 {
		t.Errorf("table grew to %d sets, want 16", len(l.sets))
	}
	if w := l.Wait("victim-under-attack"); w == 0 {
		t.Errorf("the spray evicted a throttled key")
	}
}

func TestUsernameKeyFoldsVariants(t *testing.T) {
	base := UsernameKey("alice")
	for _, v := range []string{"ALICE", "Alice", " alice", "alice ", "al\u200bice", "\ufeffalice", "ａｌｉｃｅ", "ＡＬＩＣＥ", "al\tice"} {
		if got := UsernameKey(v); got != base {
			t.Errorf("UsernameKey(%q) = %q, want %q", v, got, base)
		}
	}
	if UsernameKey("bob") == base || UsernameKey("alice2") == base {
		t.Errorf("different names share a key")
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	}
	for _, tt := range tests {
		if ClientKey(netip.MustParseAddr(tt.a)) != ClientKey(netip.MustParseAddr(tt.b)) {
			t.Errorf("ClientKey(%s) != ClientKey(%s)", tt.a, tt.b)
		}
	}
	if ClientKey(netip.MustParseAddr("2001:db8:1:2::1")) == ClientKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Errorf("different /64s share a key")
	}
	if ClientKey(netip.MustParseAddr("192.0.2.1")) == ClientKey(netip.MustParseAddr("192.0.2.2")) {
		t.Errorf("different IPv4 addresses share a key")
	}
}
