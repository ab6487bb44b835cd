package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reconnection waits between minBackoff and maxBackoff, doubling.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// sweepEvery is how often expired keys leave the copy.
	sweepEvery = time.Minute
	// scanBatch is how many keys one SCAN step asks for.
	scanBatch = 1000
)

// follow keeps the copy in step until ctx ends: subscribe, read every
// mirrored key, then apply each message, over and over as links fail.
func (r *Redis) follow(ctx context.Context) {
	defer close(r.done)
	backoff := minBackoff
	for {
		synced, err := r.session(ctx)
		r.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		r.onError()
		// Once per outage at Warn; its retries, every few seconds, at Debug.
		level := slog.LevelDebug
		if synced {
			level, backoff = slog.LevelWarn, minBackoff
		}
		r.logger.LogAttrs(ctx, level, "shared state: link to redis lost; retrying",
			slog.String("error", err.Error()), slog.Duration("sync_age", r.SyncAge().Round(time.Millisecond)))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session is one link: it subscribes, reads every mirrored key, then
// applies messages and proves the link alive with pings until it fails.
// synced reports whether it got as far as synchronising.
func (r *Redis) session(ctx context.Context) (synced bool, err error) {
	ps := r.client.Subscribe(ctx, r.channel)
	defer ps.Close()
	// A read does not watch ctx; closing the connection ends it, so that
	// Close need not wait for the next ping.
	defer context.AfterFunc(ctx, func() { ps.Close() })()
	// The confirmation comes once the server has registered the
	// subscription: every write after it is sent here, every write before
	// it is among the keys read next.
	msg, err := ps.ReceiveTimeout(ctx, r.pongTimeout)
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return false, fmt.Errorf("subscribe: unexpected %T", msg)
	}
	if err := r.resync(ctx); err != nil {
		return false, err
	}
	var pingSent time.Time // zero when no ping is outstanding
	next, nextSweep := time.Now(), time.Now().Add(sweepEvery)
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(next) {
			// The first ping goes at once: its answer comes after every
			// message sent while the keys were being read.
			switch {
			case pingSent.IsZero():
				if err := ps.Ping(ctx); err != nil {
					return synced, fmt.Errorf("ping: %w", err)
				}
				pingSent = now
			case now.Sub(pingSent) > r.pongTimeout:
				return synced, fmt.Errorf("no answer to a ping for %s", now.Sub(pingSent).Round(time.Millisecond))
			}
			next = now.Add(r.pingEvery)
		}
		if !now.Before(nextSweep) {
			r.mirror.sweep(now)
			nextSweep = now.Add(sweepEvery)
		}
		msg, err := ps.ReceiveTimeout(ctx, time.Until(next))
		if err != nil {
			if isTimeout(err) {
				continue
			}
			return synced, fmt.Errorf("receive: %w", err)
		}
		switch m := msg.(type) {
		case *redis.Message:
			key, value, ttl, err := decodeMessage(m.Payload)
			if err != nil {
				// Not one of ours: another program publishing on the
				// channel. It cannot be applied, and what it meant to say
				// is in Redis for the next full read.
				r.logger.LogAttrs(ctx, slog.LevelWarn, "shared state: ignored a message on the revocation channel", slog.String("error", err.Error()))
				continue
			}
			r.mirror.merge(key, value, time.Now().Add(ttl))
		case *redis.Pong:
			// Every message published before the server answered this
			// ping, so before it was sent, has been applied.
			r.mirror.synced(pingSent)
			pingSent = time.Time{}
			if !synced {
				synced = true
				r.up.Store(true)
				r.syncOnce.Do(func() { close(r.firstSync) })
				r.logger.LogAttrs(ctx, slog.LevelInfo, "shared state: synchronised with redis", slog.Int("mirrored_keys", r.mirror.Len()))
			}
		}
	}
	return synced, ctx.Err()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// resync reads every mirrored key with its remaining lifetime into the
// copy. It only adds to the copy: a key that vanished from Redis expires
// from the copy in its own time, so a Redis that lost its data (restarted
// without persistence) does not make the replicas forget revocations.
func (r *Redis) resync(ctx context.Context) error {
	for _, p := range r.mirrored {
		match := escapeGlob(r.prefix+p) + "*"
		var cursor uint64
		for {
			keys, next, err := r.client.Scan(ctx, cursor, match, scanBatch).Result()
			if err != nil {
				return fmt.Errorf("resync: scan: %w", err)
			}
			if err := r.load(ctx, keys); err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// load reads keys' values and lifetimes in one round trip into the copy.
func (r *Redis) load(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := r.client.Pipeline()
	values := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		values[i], ttls[i] = pipe.Get(ctx, k), pipe.PTTL(ctx, k)
	}
	read := time.Now()
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("resync: read: %w", err)
	}
	for i, k := range keys {
		v, err := values[i].Bytes()
		ttl := ttls[i].Val()
		if err != nil || ttl == -2 {
			continue // gone since the scan
		}
		if ttl < 0 {
			// Set without a lifetime, not by authgate: kept as long as
			// any lifetime authgate gives.
			ttl = 100 * 365 * 24 * time.Hour
		}
		r.mirror.merge(strings.TrimPrefix(k, r.prefix), v, read.Add(ttl))
	}
	return nil
}

// escapeGlob quotes the characters SCAN's MATCH treats as a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
