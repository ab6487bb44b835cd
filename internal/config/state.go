package config

import (
	"bytes"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// State says where revocations, refresh families and login throttles
// live.
type State struct {
	// Redis, when not nil, keeps them on a Redis (or Valkey) deployment
	// that several replicas share; nil keeps them in the process, for one
	// replica.
	Redis *Redis
	// MaxStaleness is how long a replica that lost Redis keeps judging
	// tokens by its last synchronised copy of the revocations before it
	// refuses every token-bearing request (fail closed) until it has
	// synchronised again. Only used with Redis.
	MaxStaleness time.Duration
}

// Redis is the deployment shared state lives on.
type Redis struct {
	// URL is the deployment's URL with ${VAR} expanded, in go-redis's
	// form (redis.ParseURL; redis.ParseFailoverURL when Sentinel). It may
	// hold a password: it is never logged.
	URL string
	// Sentinel says URL names Sentinels and the master they watch (its
	// query has master_name), not the server itself.
	Sentinel bool
	// Password, read from password_file, is the server's password; empty
	// means the URL's, if any.
	Password string
	// KeyPrefix starts every key and the channel authgate uses, so that
	// several gateways (or other programs) can share one database.
	KeyPrefix string
}

// LogValue keeps the URL and the password out of logs.
func (r *Redis) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("sentinel", r.Sentinel), slog.String("key_prefix", r.KeyPrefix))
}

type fileState struct {
	At           position  `yaml:",inline"`
	Redis        fileRedis `yaml:"redis"`
	MaxStaleness duration  `yaml:"max_staleness"`
}

type fileRedis struct {
	At           position `yaml:",inline"`
	URL          text     `yaml:"url"`
	PasswordFile text     `yaml:"password_file"`
	KeyPrefix    text     `yaml:"key_prefix"`
}

// DefaultKeyPrefix starts authgate's keys in Redis.
const DefaultKeyPrefix = "authgate:"

func (v *validator) state(fs *fileState) State {
	s := State{MaxStaleness: v.duration("state.max_staleness", &fs.MaxStaleness, 30*time.Second)}
	if s.MaxStaleness < time.Second {
		v.fail("state.max_staleness", at(&fs.MaxStaleness), "must be at least 1s: a replica checks its link to Redis every second")
	}
	fr := &fs.Redis
	if fr.At.Line == 0 {
		return s
	}
	r := &Redis{KeyPrefix: v.textOr("state.redis.key_prefix", &fr.KeyPrefix, DefaultKeyPrefix)}
	if !printable(r.KeyPrefix) || len(r.KeyPrefix) > 64 {
		v.fail("state.redis.key_prefix", at(&fr.KeyPrefix), "must be printable text of at most 64 bytes")
	}
	raw, _ := v.text("state.redis.url", &fr.URL)
	if raw == "" {
		v.fail("state.redis.url", where(&fr.URL, fr.At), "is required, as in redis://redis:6379/0")
	} else {
		r.URL, r.Sentinel = raw, v.redisURL(raw, &fr.URL)
	}
	if name, _ := v.text("state.redis.password_file", &fr.PasswordFile); name != "" {
		if urlPassword(raw, r.Sentinel) {
			v.fail("state.redis.password_file", at(&fr.PasswordFile), "set the password in state.redis.url or in password_file, not both")
		} else {
			v.plan.redisPassword = v.fileRef("state.redis.password_file", &fr.PasswordFile, name)
		}
	}
	s.Redis = r
	return s
}

// redisURL checks a Redis URL as go-redis will read it and reports whether
// it names Sentinels. No message repeats the URL or any part of it: it may
// hold a password.
func (v *validator) redisURL(raw string, n *text) (sentinel bool) {
	const path = "state.redis.url"
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		v.fail(path, at(n), "must be a redis:// or rediss:// URL with a host, as in redis://redis:6379/0 (a password with reserved characters must be percent-encoded, or put in password_file)")
		return false
	}
	sentinel = u.Query().Has("master_name")
	if sentinel {
		_, err = redis.ParseFailoverURL(raw)
	} else {
		_, err = redis.ParseURL(raw)
	}
	if err != nil {
		// go-redis's message may quote a value from the URL.
		v.fail(path, at(n), "is not a URL the Redis client accepts: check the database number (/0 to /15) and the query options (README: Several replicas)")
		return sentinel
	}
	if u.Scheme == "redis" && !isLoopbackHost(u.Hostname()) {
		v.warn("%s is plain redis://: passwords and revocations cross the network unencrypted; use rediss:// unless the network is private", path)
	}
	return sentinel
}

// urlPassword reports whether a Redis URL holds the server's password:
// in its user info, or for Sentinels (whose user info is theirs) in its
// password option.
func urlPassword(raw string, sentinel bool) bool {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return false
	case sentinel:
		return u.Query().Get("password") != ""
	case u.User != nil:
		_, set := u.User.Password()
		return set
	}
	return false
}

// loadState reads the Redis password file.
func loadState(cfg *Config, p *plan, r *report) {
	if p.redisPassword.file == "" || cfg.State.Redis == nil {
		return
	}
	data, ok := readFile(r, p.redisPassword, 4<<10)
	if !ok {
		return
	}
	pw := bytes.TrimRight(data, "\r\n")
	if len(pw) == 0 || bytes.ContainsAny(pw, "\r\n") {
		r.fail(p.redisPassword.path, p.redisPassword.at, "the file must hold the password on one line")
		return
	}
	cfg.State.Redis.Password = string(pw)
}
