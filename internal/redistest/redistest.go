// Package redistest runs a real redis-server for tests, on a free loopback
// port in a temporary directory, without persistence. A test that needs
// one is skipped, naming the Debian package, when redis-server is missing,
// and fails instead under AUTHGATE_REQUIRE_INTEGRATION=1 (as CI runs).
package redistest

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by one test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	args []string
	// sentinel is the config file of a Sentinel; empty for a server.
	sentinel string
	// Addr is the host:port it listens on, the same across Restart.
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	admin  *redis.Client
}

// Start runs redis-server until the test ends; args are added to its
// command line (with --requirepass, Do and the others use the password).
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t), dir: t.TempDir(), args: args, Addr: freeAddr(t)}
	s.start()
	var password string
	if i := slices.Index(args, "--requirepass"); i >= 0 && i+1 < len(args) {
		password = args[i+1]
	}
	s.admin = redis.NewClient(&redis.Options{Addr: s.Addr, Password: password, ClientName: "redistest", MaxRetries: -1})
	t.Cleanup(func() {
		s.admin.Close()
		s.Kill()
	})
	return s
}

// binary finds redis-server or skips (fails in CI) naming its package.
func binary(t testing.TB) string {
	t.Helper()
	for _, candidate := range []string{"redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if path, err := exec.LookPath(candidate); err == nil {
			return path
		}
	}
	if os.Getenv("AUTHGATE_REQUIRE_INTEGRATION") != "" {
		t.Fatal("redis-server not found: install the Debian package \"redis-server\"")
	}
	t.Skip("redis-server not found: install the Debian package \"redis-server\" to run this test")
	return ""
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartSentinel runs a Sentinel that watches master under the name
// "mymaster", until the test ends.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t), dir: t.TempDir(), Addr: freeAddr(t)}
	host, port, _ := net.SplitHostPort(master.Addr)
	s.sentinel = filepath.Join(s.dir, "sentinel.conf")
	// Sentinel rewrites its config file, so it is one of its own.
	if err := os.WriteFile(s.sentinel, []byte("sentinel monitor mymaster "+host+" "+port+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	s.admin = redis.NewClient(&redis.Options{Addr: s.Addr, ClientName: "redistest", MaxRetries: -1})
	t.Cleanup(func() {
		s.admin.Close()
		s.Kill()
	})
	return s
}

func (s *Server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}
	if s.sentinel != "" {
		args = append([]string{s.sentinel, "--sentinel"}, args...)
	} else {
		args = append(append(args, "--save", "", "--appendonly", "no"), s.args...)
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Dir = s.dir
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() { s.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited before listening:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.t.Fatalf("redis-server did not listen on %s", s.Addr)
}

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Kill stops the server at once (SIGKILL), as a crash would; it is a
// no-op when it is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same address and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Do runs one command on an administrative connection (named
// "redistest"), failing the test on error.
func (s *Server) Do(args ...any) any {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := s.admin.Do(ctx, args...).Result()
	if err != nil && err != redis.Nil {
		s.t.Fatalf("redis %v: %v", args[0], err)
	}
	return v
}

// Info returns the fields of INFO section as name → value.
func (s *Server) Info(section string) map[string]string {
	s.t.Helper()
	out := map[string]string{}
	text, _ := s.Do("INFO", section).(string)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// CommandCalls returns how often each command ran since the server
// started, from INFO commandstats ("get", "evalsha", ...).
func (s *Server) CommandCalls() map[string]int64 {
	s.t.Helper()
	calls := map[string]int64{}
	for k, v := range s.Info("commandstats") {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for f := range strings.SplitSeq(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				calls[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return calls
}

// Clients counts the connections whose client name is name.
func (s *Server) Clients(name string) int {
	s.t.Helper()
	list, _ := s.Do("CLIENT", "LIST").(string)
	n := 0
	for line := range strings.SplitSeq(list, "\n") {
		if strings.Contains(" "+line+" ", " name="+name+" ") {
			n++
		}
	}
	return n
}

// Relay forwards TCP connections to a Redis address until Cut, which
// closes every connection it carries and refuses new ones until Heal: a
// network partition between one client and the server, the others
// unaffected.
type Relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

// NewRelay listens on a free loopback port and relays to target until
// the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); r.Cut() })
	go r.serve()
	return r
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		var up net.Conn
		if !r.cut {
			up, err = net.DialTimeout("tcp", r.target, time.Second)
		}
		if r.cut || err != nil {
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// URL is the relay's redis:// URL, database 0.
func (r *Relay) URL() string { return "redis://" + r.ln.Addr().String() + "/0" }

// Cut closes every relayed connection and refuses new ones.
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = true
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// Heal relays new connections again.
func (r *Relay) Heal() {
	r.mu.Lock()
	r.cut = false
	r.mu.Unlock()
}
