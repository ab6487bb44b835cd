package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/logbuf"
	"github.com/authgate/authgate/internal/metrics"
	"github.com/authgate/authgate/internal/redisstate"
	"github.com/authgate/authgate/internal/server"
)

// errReported means the command already told the user what went wrong;
// main exits 1 without printing more.
var errReported = errors.New("already reported")

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errReported
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run 'authgate help'", fs.Arg(0))
	}
	return nil
}

// serve runs the gateway until ctx ends. Each value from hup reloads the
// config, as do changes to the files it names while reload.watch is on.
func serve(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, hup <-chan os.Signal, ready func(server.Addrs)) error {
	fs := newFlags("authgate", stderr)
	configPath := fs.String("config", "gateway.yaml", "config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, lookupEnv)
	if err != nil {
		return fmt.Errorf("invalid config %s:\n%w", *configPath, err)
	}
	logOut := stderr
	if cfg.Log.FlushInterval > 0 {
		lw := logbuf.New(stderr, 64<<10, cfg.Log.FlushInterval)
		defer lw.Close()
		logOut = lw
	}
	logger := newLogger(cfg.Log, logOut)
	logger.Info("authgate starting", "version", buildVersion(), "config", *configPath,
		"routes", len(cfg.Routes), "users", len(cfg.Users))
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	var accessLog *slog.Logger
	if cfg.Log.Level <= slog.LevelInfo {
		accessLog = logger
	}
	m := metrics.New(buildVersion())
	// Built here, once: revocations, refresh families and throttles outlive
	// any one config, so a gateway built from a reloaded config keeps them.
	// With state.redis they live there, shared by every replica.
	if cfg.State.Redis != nil {
		redisstate.LogTo(logger)
	}
	state, err := server.OpenState(cfg, server.StateOptions{Logger: logger, OnSyncError: m.StateSyncFailed})
	if err != nil {
		return err
	}
	defer state.Close()
	m.WatchState(state.Up, state.SyncAge)
	waitForState(ctx, state, logger)
	opts := server.Options{Logger: logger, AccessLog: accessLog, Metrics: m, State: state}
	gw, err := server.New(cfg, opts)
	if err != nil {
		return err
	}
	m.ConfigLoaded(time.Now())
	live := server.NewLive(gw)
	reloads := newReloader(*configPath, lookupEnv, cfg, opts, live)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serving := make(chan struct{})
	reloaderDone := make(chan struct{})
	go func() {
		defer close(reloaderDone)
		// Reloads begin once Run serves: Replace needs the first gateway
		// started. A SIGHUP sent before waits in hup.
		select {
		case <-serving:
			reloads.loop(ctx, hup)
		case <-ctx.Done():
		}
	}()
	// Parsing a large config leaves several times its size in garbage
	// (100,000 htpasswd users: ~60 MiB, against ~40 MiB kept); returning it
	// once, before serving, keeps the idle RSS near what is live (measured:
	// 121 → 53 MiB). It changes no runtime setting.
	debug.FreeOSMemory()
	err = live.Run(ctx, m.Handler(), func(a server.Addrs) {
		close(serving)
		if ready != nil {
			ready(a)
		}
	})
	cancel()
	<-reloaderDone
	return err
}

// stateWait bounds how long serving waits for the first copy of the
// shared revocations.
const stateWait = 5 * time.Second

// waitForState holds serving until the shared state's revocations are
// copied, so that a replica joining a rollout does not refuse its first
// tokens; Redis being down does not stop it from serving what needs no
// state (public routes, health checks).
func waitForState(ctx context.Context, state *server.State, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, stateWait)
	defer cancel()
	if err := state.WaitSynced(ctx); err != nil {
		logger.Warn("shared state: not synchronised with redis yet; token-bearing requests, logins and refreshes answer 503 until it is", "waited", stateWait.String())
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func check(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := newFlags("authgate check", stderr)
	configPath := fs.String("config", "gateway.yaml", "config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, lookupEnv)
	if err != nil {
		fmt.Fprintf(stdout, "%s is invalid:\n", *configPath)
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		return errReported
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	providers := ""
	if n := len(cfg.Providers); n > 0 {
		// Not fetched: a provider's discovery is the running gateway's
		// business, so check works offline and never waits on one.
		providers = fmt.Sprintf(", %d identity providers (not contacted)", n)
	}
	fmt.Fprintf(stdout, "%s is valid: %d routes, %d users%s\n", *configPath, len(cfg.Routes), len(cfg.Users), providers)
	return nil
}

func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("authgate hash-password", stderr)
	cost := fs.Int("cost", config.RecommendedCost, fmt.Sprintf("bcrypt cost (%d to %d)", config.MinBcryptCost, config.MaxBcryptCost))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cost < config.MinBcryptCost || *cost > config.MaxBcryptCost {
		return fmt.Errorf("-cost must be from %d to %d", config.MinBcryptCost, config.MaxBcryptCost)
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	switch {
	case len(password) == 0:
		return errors.New("empty password")
	case len(password) > 72:
		return errors.New("password longer than 72 bytes: bcrypt would ignore the rest")
	}
	hash, err := bcrypt.GenerateFromPassword(password, *cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}

// readPassword prompts without echo on a terminal and asks twice; from a
// pipe it reads the first line.
func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat password: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return nil, errors.New("passwords do not match")
		}
		return first, nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(stdin, 4096), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password: %w", err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

func healthcheck(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) error {
	fs := newFlags("authgate healthcheck", stderr)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "health endpoint to probe")
	configPath := fs.String("config", "", "probe the health endpoint this config's listener serves (instead of -url)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	transport := &http.Transport{}
	if *configPath != "" {
		// Only the listener and the path are needed: the files the config
		// names are not read every time the probe runs.
		cfg, err := config.Validate(*configPath, lookupEnv)
		if err != nil {
			return fmt.Errorf("healthcheck: invalid config %s:\n%w", *configPath, err)
		}
		*url = healthURL(cfg.Listen, cfg.Paths.Healthz)
		if cfg.TLS != nil {
			*url = "https" + strings.TrimPrefix(*url, "http")
			// The probe asks the listener on its own host whether it
			// answers: it sends nothing secret and reads only the status,
			// and the certificate names the public host, not the loopback
			// address dialled.
			transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *url, resp.StatusCode)
	}
	return nil
}

// healthURL is where a probe on the same host reaches the health endpoint
// of a listener bound to listen: an unspecified address (all interfaces)
// is reached on loopback.
func healthURL(listen, path string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "127.0.0.1", "8080"
	}
	switch ip := net.ParseIP(host); {
	case host == "" || ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("authgate keygen", stderr)
	alg := fs.String("alg", keys.EdDSA, "algorithm: RS256, ES256 or EdDSA")
	id := fs.String("id", "", "key ID (kid); default: the algorithm and today's date")
	out := fs.String("out", ".", "directory for ID.pem (private) and ID.pub.pem (public)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id == "" {
		*id = strings.ToLower(*alg) + "-" + time.Now().UTC().Format("20060102")
	} else if !keyFileID(*id) {
		return fmt.Errorf("-id %q: must be 1 to 64 letters, digits, '.', '_' or '-', start with a letter or digit and not contain \"..\": it names the key files in -out", *id)
	}
	k, private, public, err := keys.Generate(*id, *alg)
	if err != nil {
		return err
	}
	privatePath := filepath.Join(*out, *id+".pem")
	publicPath := filepath.Join(*out, *id+".pub.pem")
	if err := writeNew(publicPath, public, 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	if err := writeNew(privatePath, private, 0o600); err != nil {
		os.Remove(publicPath)
		return fmt.Errorf("write private key: %w", err)
	}
	jwk, _ := keys.PublicJWK(k)
	entry, _ := json.MarshalIndent(jwk, "", "  ")
	fmt.Fprintf(stderr, "wrote %s (private, keep it secret) and %s\n", privatePath, publicPath)
	// Absolute: the config resolves a relative key_file against its own
	// folder, not against where keygen ran.
	if abs, err := filepath.Abs(privatePath); err == nil {
		privatePath = abs
	}
	fmt.Fprintf(stderr, "add to gateway.yaml:\n  token:\n    algorithm: %s\n    keys:\n      - id: %s\n        key_file: %s\n", *alg, *id, privatePath)
	fmt.Fprintln(stdout, string(entry))
	return nil
}

// writeNew writes data to a file that must not exist yet (O_EXCL): keygen
// never overwrites a key, private or public, that may still be in use, even
// when two ids' file names meet ("a.pub"'s private key is a.pub.pem, "a"'s
// public key too).
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// keyFileID reports whether id can name key files inside keygen's -out
// directory: it is joined into a path, so a separator, a ".." or a leading
// dot would write somewhere else or hide the file. The characters are the
// ones a key id in the config may use, so every id keygen accepts loads.
func keyFileID(id string) bool {
	if id == "" || len(id) > 64 || strings.Contains(id, "..") {
		return false
	}
	for i := range len(id) {
		c := id[i]
		alnum := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}
