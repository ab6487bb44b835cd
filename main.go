// Command authgate is a reverse-proxy authentication gateway: it serves
// POST /login, validates bearer tokens on every other route, and forwards
// authenticated requests upstream with the username in a header.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authgate/authgate/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP reloads the config instead of ending the process. The channel
	// holds one: SIGHUPs that arrive during a reload make one more.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := run(ctx, os.Args, os.LookupEnv, os.Stdin, os.Stdout, os.Stderr, hup, nil)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// run is the whole program behind main, with what it takes from the process
// passed in so that tests can drive it directly. Each value from hup
// (main's SIGHUPs) makes a serving gateway reload its config; nil never
// does. ready, if not nil, is called with the bound addresses once the
// gateway serves; main passes nil (a process's readiness is /readyz) and
// the other commands never call it.
//
// The hook is one more parameter rather than a struct of the process's
// environment: with parameters every caller must say what it passes for
// stdin, stdout and stderr, where a struct would let one be left nil and run
// would have to guess a default.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer, hup <-chan os.Signal, ready func(server.Addrs)) error {
	rest := args[1:]
	if len(rest) > 0 {
		switch rest[0] {
		case "check":
			return check(rest[1:], lookupEnv, stdout, stderr)
		case "hash-password":
			return hashPassword(rest[1:], stdin, stdout, stderr)
		case "healthcheck":
			return healthcheck(ctx, rest[1:], lookupEnv, stderr)
		case "keygen":
			return keygen(rest[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "authgate", buildVersion())
			return nil
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return serve(ctx, rest, lookupEnv, stderr, hup, ready)
}

// exitStatus prints err as the command line reports it, unless the command
// already did, and returns the process's exit status for it.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "authgate:", err)
	}
	return 1
}

const usage = `authgate: a reverse-proxy authentication gateway

Usage:
  authgate [-config FILE]          run the gateway (default config: gateway.yaml)
  authgate check [-config FILE]    validate a config, print every problem, exit 0 or 1
  authgate hash-password [-cost N] read a password from stdin, print its bcrypt hash
  authgate healthcheck [-url URL | -config FILE]
                                   exit 0 if the gateway's /healthz answers 200
  authgate keygen [--alg ALG] [-id ID] [-out DIR]
                                   write a new RS256, ES256 or EdDSA (default) key pair, print its JWK
  authgate version                 print the version
`
