package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateSection(t *testing.T) {
	t.Run("absent-means-in-process", func(t *testing.T) {
		cfg, err := Parse(withUser("token:\n  secret: "+secret+"\n"), t.TempDir(), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.State.Redis != nil || cfg.State.MaxStaleness != 30*time.Second {
			t.Errorf("State = %+v, want no Redis and max_staleness 30s", cfg.State)
		}
	})
	for _, tt := range []struct {
		name, doc string
		want      Redis
		staleness time.Duration
	}{
		{"defaults", "state:\n  redis:\n    url: redis://127.0.0.1:6379/0\n",
			Redis{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "authgate:"}, 30 * time.Second},
		{"every-key", "state:\n  max_staleness: 5s\n  redis:\n    url: rediss://:${PW}@redis.internal:6380/2?dial_timeout=2s\n    key_prefix: \"app1:\"\n",
			Redis{URL: "rediss://:s3cret@redis.internal:6380/2?dial_timeout=2s", KeyPrefix: "app1:"}, 5 * time.Second},
		{"sentinel", "state:\n  redis:\n    url: redis://sentinel-1:26379/0?master_name=mymaster&addr=sentinel-2:26379\n",
			Redis{URL: "redis://sentinel-1:26379/0?master_name=mymaster&addr=sentinel-2:26379", Sentinel: true, KeyPrefix: "authgate:"}, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(withUser("token:\n  secret: "+secret+"\n"+tt.doc), t.TempDir(), env(map[string]string{"PW": "s3cret"}))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if cfg.State.Redis == nil || *cfg.State.Redis != tt.want || cfg.State.MaxStaleness != tt.staleness {
				t.Errorf("State = %+v (Redis %+v), want Redis %+v, max_staleness %v", cfg.State, cfg.State.Redis, tt.want, tt.staleness)
			}
		})
	}
}

func TestStatePasswordFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "redis-password"), []byte("p@ss word\n"), 0o600)
	doc := "token:\n  secret: " + secret + "\nstate:\n  redis:\n    url: redis://127.0.0.1/0\n    password_file: redis-password\n"
	cfg, err := Parse(withUser(doc), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.State.Redis.Password; got != "p@ss word" {
		t.Errorf("Password = %q, want the file's line", got)
	}
	// Validate reads no file, as the health check needs.
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, withUser(doc), 0o600)
	os.Remove(filepath.Join(dir, "redis-password"))
	if _, err := Validate(path, env(nil)); err != nil {
		t.Errorf("Validate with the password file gone = %v, want it unread", err)
	}
}

func TestStateProblems(t *testing.T) {
	const head = "token:\n  secret: " + secret + "\n"
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"url-required", "state:\n  redis:\n    key_prefix: x\n",
			[]string{"5:5: state.redis.url: is required, as in redis://redis:6379/0"}},
		{"scheme", "state:\n  redis:\n    url: http://redis:6379\n",
			[]string{"5:10: state.redis.url: must be a redis:// or rediss:// URL with a host, as in redis://redis:6379/0 (a password with reserved characters must be percent-encoded, or put in password_file)"}},
		{"no-host", "state:\n  redis:\n    url: redis:///0\n",
			[]string{"5:10: state.redis.url: must be a redis:// or rediss:// URL with a host, as in redis://redis:6379/0 (a password with reserved characters must be percent-encoded, or put in password_file)"}},
		{"unknown-option", "state:\n  redis:\n    url: redis://redis/0?pool=3\n",
			[]string{"5:10: state.redis.url: is not a URL the Redis client accepts: check the database number (/0 to /15) and the query options (README: Several replicas)"}},
		{"bad-database", "state:\n  redis:\n    url: redis://redis/zero\n",
			[]string{"5:10: state.redis.url: is not a URL the Redis client accepts: check the database number (/0 to /15) and the query options (README: Several replicas)"}},
		{"password-twice", "state:\n  redis:\n    url: redis://:pw@redis/0\n    password_file: /run/secrets/redis\n",
			[]string{"6:20: state.redis.password_file: set the password in state.redis.url or in password_file, not both"}},
		{"password-file-unreadable", "state:\n  redis:\n    url: redis://redis/0\n    password_file: /nonexistent/redis\n",
			[]string{"6:20: state.redis.password_file: cannot read the file: no such file or directory"}},
		{"staleness", "state:\n  max_staleness: 500ms\n",
			[]string{"4:18: state.max_staleness: must be at least 1s: a replica checks its link to Redis every second"}},
		{"prefix", "state:\n  redis:\n    url: redis://127.0.0.1/0\n    key_prefix: " + strings.Repeat("k", 65) + "\n",
			[]string{"6:17: state.redis.key_prefix: must be printable text of at most 64 bytes"}},
		{"unknown-key", "state:\n  redis:\n    uri: redis://127.0.0.1/0\n",
			[]string{`5:5: state.redis.uri: unknown key; did you mean "url"?`, "5:5: state.redis.url: is required, as in redis://redis:6379/0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, head+tt.doc, tt.want)
		})
	}
}

// TestRedisPasswordNeverEchoed: a URL the client refuses, or one with a
// bad option, is reported without any part of it.
func TestRedisPasswordNeverEchoed(t *testing.T) {
	const pw = "Hunter2Secret"
	for _, url := range []string{
		"redis://:" + pw + "@redis/0?dial_timeout=" + pw,
		"redis://:" + pw + "@redis/" + pw,
		"redis://u:" + pw + "@redis:port" + pw,
		"redis://:" + pw + "@redis/0?master_name=m&dial_timeout=" + pw,
	} {
		_, err := Parse(withUser("token:\n  secret: "+secret+"\nstate:\n  redis:\n    url: \"${URL}\"\n"), t.TempDir(), env(map[string]string{"URL": url}))
		if err == nil {
			t.Errorf("a bad URL was accepted")
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the problem %q repeats the URL's password", err)
		}
	}
}

func TestPlainRedisToAnotherHostWarns(t *testing.T) {
	for _, tt := range []struct {
		url  string
		warn bool
	}{{"redis://127.0.0.1:6379/0", false}, {"rediss://redis.internal/0", false}, {"redis://redis.internal/0", true}} {
		cfg, err := Parse(withUser("token:\n  secret: "+secret+"\nstate:\n  redis:\n    url: "+tt.url+"\n"), t.TempDir(), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(strings.Join(cfg.Warnings, "\n"), "plain redis://"); got != tt.warn {
			t.Errorf("%s: warned %v, want %v (warnings %q)", tt.url, got, tt.warn, cfg.Warnings)
		}
	}
}
