package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemoryExpiresKeys(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	m := NewMemory(c.now)
	ctx := context.Background()
	m.Set(ctx, "a", []byte("1"), time.Minute)
	if v, ok, _ := m.Get(ctx, "a"); !ok || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	if ok, _ := m.Add(ctx, "a", []byte("2"), time.Minute); ok {
		t.Errorf("Add over a live key succeeded")
	}
	c.add(time.Minute)
	if _, ok, _ := m.Get(ctx, "a"); ok {
		t.Errorf("a key outlived its TTL")
	}
	if ok, _ := m.Add(ctx, "a", []byte("2"), time.Minute); !ok {
		t.Errorf("Add over an expired key failed")
	}
	for i := range 100 {
		m.Set(ctx, fmt.Sprint("k", i), nil, time.Second)
	}
	c.add(2 * time.Minute)
	if n := m.Live(); n != 0 {
		t.Errorf("Live() = %d after every key expired, want 0", n)
	}
	m.Set(ctx, "trigger", nil, time.Minute)
	if n := m.Len(); n != 1 {
		t.Errorf("after the sweep %d keys remain, want 1", n)
	}
}

func TestCompareAndSwapIsAtomic(t *testing.T) {
	m := NewMemory(nil)
	ctx := context.Background()
	m.Set(ctx, "rt", []byte("fresh"), time.Minute)
	var wg sync.WaitGroup
	wins := make(chan int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := m.CompareAndSwap(ctx, "rt", []byte("fresh"), []byte("used"), time.Minute); ok {
				wins <- i
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d goroutines won the swap, want exactly 1", n)
	}
	if ok, _ := m.CompareAndSwap(ctx, "absent", nil, []byte("x"), time.Minute); ok {
		t.Errorf("swap on an absent key succeeded")
	}
}
