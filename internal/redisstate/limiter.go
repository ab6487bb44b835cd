package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter is throttle.Limiter's token bucket kept on Redis, so that every
// replica charges the same bucket: each key may fail Burst times, then
// once more per Interval. Its methods take the same meanings as
// throttle.Limiter's and fail with store.ErrUnavailable when Redis cannot
// be reached.
//
// A bucket is a small hash that expires once it would be full again, so
// a key lasts only while it is being throttled and a flood of distinct
// names costs memory for Burst×Interval at most. Its name is a hash of the
// key: a username of any length costs the same, and a password typed into
// the username field is not kept in clear. Time is the server's (TIME),
// so replicas' clocks do not matter.
type Limiter struct {
	r        *Redis
	name     string
	burst    int
	interval time.Duration
}

// Limiter returns a Limiter whose keys are named after name.
func (r *Redis) Limiter(name string, burst int, interval time.Duration) *Limiter {
	return &Limiter{r: r, name: name, burst: burst, interval: interval}
}

// bucketScript refills the bucket KEYS[1] (ARGV[1] tokens at most, one
// more every ARGV[2] ms) and then, by ARGV[3]: wait answers how many ms
// until a token is there; take takes one if there is a whole one, else
// answers the wait; refund gives one back. A key that does not exist is a
// full bucket.
var bucketScript = redis.NewScript(`
local burst, interval, op = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if b[1] then
  tokens = math.min(burst, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) / interval)
elseif op ~= 'take' then
  return 0
end
if op == 'wait' or (op == 'take' and tokens < 1) then
  if tokens >= 1 then return 0 end
  return math.ceil((1 - tokens) * interval)
end
if op == 'take' then
  tokens = tokens - 1
else
  tokens = math.min(burst, tokens + 1)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * interval) + 1)
return 0
`)

func (l *Limiter) key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return l.r.prefix + "th:" + l.name + ":" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (l *Limiter) run(ctx context.Context, op, key string) (time.Duration, error) {
	ms, err := bucketScript.Run(ctx, l.r.client, []string{l.key(key)}, l.burst, l.interval.Milliseconds(), op).Int64()
	if err != nil {
		return 0, unavailable("throttle "+op, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Wait returns how long key must wait before its next attempt; zero
// means it may try now.
func (l *Limiter) Wait(ctx context.Context, key string) (time.Duration, error) {
	return l.run(ctx, "wait", key)
}

// Take charges key one attempt if it may try now and returns zero;
// otherwise it returns how long key must wait, charging nothing.
func (l *Limiter) Take(ctx context.Context, key string) (time.Duration, error) {
	return l.run(ctx, "take", key)
}

// Refund gives back the attempt Take charged to key.
func (l *Limiter) Refund(ctx context.Context, key string) error {
	_, err := l.run(ctx, "refund", key)
	return err
}

// Reset forgets key's failures.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.r.client.Del(ctx, l.key(key)).Err(); err != nil {
		return unavailable("throttle reset", err)
	}
	return nil
}
