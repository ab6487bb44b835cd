// Package redisstate keeps authgate's state on a Redis (or Valkey)
// deployment that several replicas share, so that they act as one:
// revocations and refresh families (Redis, a store.Store) and login
// throttles (Limiter).
//
// The request path never waits on Redis. The keys under the prefixes
// Options.Mirror names (the revocations) are copied into every replica's
// memory, and Mirror answers from that copy. Each write of such a key is
// published on a channel by the same server-side script that makes it,
// and a replica subscribes before it reads every such key again, on every
// (re)connect: a write is either among the keys it reads or in what it is
// sent, so nothing written while it was away is missed. Writes that must
// not race (refresh rotation, the revocation epoch) are a single script,
// never a read followed by a write.
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/internal/store"
)

// Options configures a Redis.
type Options struct {
	// URL is the deployment's URL as go-redis reads it: redis.ParseURL's
	// form, or redis.ParseFailoverURL's when Sentinel is set.
	URL string
	// Sentinel says URL names Sentinels and, in master_name, the master
	// they watch.
	Sentinel bool
	// Password, when not empty, is the server's password, replacing the
	// URL's.
	Password string
	// KeyPrefix starts every key and the channel.
	KeyPrefix string
	// Mirror lists the key prefixes (after KeyPrefix) whose keys every
	// replica copies into memory, for Mirror to answer from. Their values
	// must only grow (a longer value is greater; of two as long, the
	// bytewise greater): the copy keeps the greatest value it learned of
	// a key and the latest expiry, so the order in which it learns of
	// writes does not matter.
	Mirror []string
	// MaxStaleness is how long Mirror keeps answering after the copy
	// stopped being known complete (the link to Redis was lost); it must
	// be positive.
	MaxStaleness time.Duration
	// Logger receives the link's changes; nil discards them.
	Logger *slog.Logger
	// OnSyncError is called for every lost link and failed attempt to
	// synchronise the copy; nil calls nothing.
	OnSyncError func()
}

// Redis is a store.Store on Redis whose mirrored keys are also kept in
// memory (Mirror). New starts a goroutine that keeps the copy in step;
// Close stops it.
type Redis struct {
	client   *redis.Client
	prefix   string
	channel  string
	mirrored []string
	mirror   *Mirror
	logger   *slog.Logger
	onError  func()
	// pingEvery is how often the link is proven alive; a ping unanswered
	// for pongTimeout ends it.
	pingEvery, pongTimeout time.Duration

	up        atomic.Bool
	firstSync chan struct{}
	syncOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// New connects to the deployment o names and starts keeping the mirrored
// keys in step. It does not wait for Redis: until the first
// synchronisation, Mirror answers store.ErrUnavailable (WaitSynced waits
// for it).
func New(o Options) (*Redis, error) {
	if o.MaxStaleness <= 0 {
		return nil, errors.New("redisstate: MaxStaleness must be positive")
	}
	client, err := newClient(o)
	if err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	onError := o.OnSyncError
	if onError == nil {
		onError = func() {}
	}
	ping := min(time.Second, o.MaxStaleness/4)
	r := &Redis{
		client:      client,
		prefix:      o.KeyPrefix,
		channel:     o.KeyPrefix + "revocations",
		mirrored:    o.Mirror,
		mirror:      newMirror(o.MaxStaleness),
		logger:      logger,
		onError:     onError,
		pingEvery:   ping,
		pongTimeout: 3 * ping,
		firstSync:   make(chan struct{}),
		done:        make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.follow(ctx)
	return r, nil
}

// newClient builds the go-redis client; every replica's connections are
// named "authgate" in CLIENT LIST unless the URL names them.
func newClient(o Options) (*redis.Client, error) {
	if o.Sentinel {
		fo, err := redis.ParseFailoverURL(o.URL)
		if err != nil {
			// Not err itself: it may quote the URL, password and all.
			return nil, errors.New("redisstate: the Sentinel URL cannot be parsed")
		}
		if o.Password != "" {
			fo.Password = o.Password
		}
		if fo.ClientName == "" {
			fo.ClientName = "authgate"
		}
		return redis.NewFailoverClient(fo), nil
	}
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, errors.New("redisstate: the Redis URL cannot be parsed")
	}
	if o.Password != "" {
		ro.Password = o.Password
	}
	if ro.ClientName == "" {
		ro.ClientName = "authgate"
	}
	return redis.NewClient(ro), nil
}

// Close stops following the deployment and closes every connection.
func (r *Redis) Close() error {
	r.cancel()
	<-r.done
	return r.client.Close()
}

// Mirror is the in-memory copy of the mirrored keys.
func (r *Redis) Mirror() *Mirror { return r.mirror }

// Up reports whether the link to Redis is alive and the copy in step.
func (r *Redis) Up() bool { return r.up.Load() }

// SyncAge is how long ago the copy was last known complete; since the
// start when it never was.
func (r *Redis) SyncAge() time.Duration { return r.mirror.age(time.Now()) }

// WaitSynced waits until the copy was first synchronised, or ctx is done.
func (r *Redis) WaitSynced(ctx context.Context) error {
	select {
	case <-r.firstSync:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unavailableError is a failed exchange with Redis; it is
// store.ErrUnavailable.
type unavailableError struct {
	op  string
	err error
}

func (e *unavailableError) Error() string { return "redis " + e.op + ": " + e.err.Error() }

func (e *unavailableError) Unwrap() []error { return []error{store.ErrUnavailable, e.err} }

func unavailable(op string, err error) error { return &unavailableError{op: op, err: err} }

// Get reads key from Redis itself, never from the copy: login, refresh
// and the epoch's compare-and-swap need what is there now.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.client.Get(ctx, r.prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable("get", err)
	}
	return v, true, nil
}

// Set implements store.Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, err := r.write(ctx, "set", key, value, nil, ttl)
	return err
}

// Add implements store.Store.
func (r *Redis) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	return r.write(ctx, "add", key, value, nil, ttl)
}

// CompareAndSwap implements store.Store, in one script on the server.
func (r *Redis) CompareAndSwap(ctx context.Context, key string, old, next []byte, ttl time.Duration) (bool, error) {
	return r.write(ctx, "cas", key, next, old, ttl)
}

// writeScript sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds: always
// (set), only if absent (add) or only if it holds ARGV[4] (cas); then, if
// it did and ARGV[5] names a channel, publishes ARGV[6] there. One script,
// so that no replica can see the write without the message being sent.
var writeScript = redis.NewScript(`
local key, value, ttl, mode = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if mode == 'add' then
  if not redis.call('SET', key, value, 'NX', 'PX', ttl) then return 0 end
elseif mode == 'cas' then
  if redis.call('GET', key) ~= ARGV[4] then return 0 end
  redis.call('SET', key, value, 'PX', ttl)
else
  redis.call('SET', key, value, 'PX', ttl)
end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
`)

func (r *Redis) write(ctx context.Context, mode, key string, value, old []byte, ttl time.Duration) (bool, error) {
	ms := max(ttl.Milliseconds(), 1)
	channel, message := "", ""
	mirrored := r.isMirrored(key)
	if mirrored {
		channel, message = r.channel, encodeMessage(key, value, ms)
	}
	sent := time.Now()
	n, err := writeScript.Run(ctx, r.client, []string{r.prefix + key}, value, ms, mode, old, channel, message).Int()
	if err != nil {
		return false, unavailable(mode, err)
	}
	if n == 1 && mirrored {
		// This replica refuses what it revoked at once, without waiting
		// for its own message.
		r.mirror.merge(key, value, sent.Add(time.Duration(ms)*time.Millisecond))
	}
	return n == 1, nil
}

func (r *Redis) isMirrored(key string) bool {
	for _, p := range r.mirrored {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// A message is "<ttl ms> <key length> <key><value>": keys and values are
// bytes, and no separator could be kept out of them.
func encodeMessage(key string, value []byte, ttlMillis int64) string {
	return strconv.FormatInt(ttlMillis, 10) + " " + strconv.Itoa(len(key)) + " " + key + string(value)
}

func decodeMessage(m string) (key string, value []byte, ttl time.Duration, err error) {
	ms, rest, ok1 := strings.Cut(m, " ")
	n, rest, ok2 := strings.Cut(rest, " ")
	t, err1 := strconv.ParseInt(ms, 10, 64)
	l, err2 := strconv.Atoi(n)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || t <= 0 || l < 0 || l > len(rest) {
		return "", nil, 0, fmt.Errorf("malformed message of %d bytes", len(m))
	}
	return rest[:l], []byte(rest[l:]), time.Duration(t) * time.Millisecond, nil
}

// LogTo sends go-redis's own log lines (a failed dial, say) to l at level
// Debug instead of unstructured lines on stderr; what matters of them, the
// link lost and back, is logged at Warn and Info through Options.Logger.
// go-redis has one logger for the whole process, so call it once, at
// start.
func LogTo(l *slog.Logger) {
	redis.SetLogger(libraryLog{l})
}

type libraryLog struct{ l *slog.Logger }

func (g libraryLog) Printf(ctx context.Context, format string, v ...any) {
	g.l.LogAttrs(ctx, slog.LevelDebug, "redis client", slog.String("detail", fmt.Sprintf(format, v...)))
}
