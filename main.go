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
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.LookupEnv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "authgate:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program behind main, with its environment passed in so
// that tests can drive it directly.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	rest := args[1:]
	if len(rest) > 0 {
		switch rest[0] {
		case "check":
			return check(rest[1:], lookupEnv, stdout, stderr)
		case "hash-password":
			return hashPassword(rest[1:], stdin, stdout, stderr)
		case "healthcheck":
			return healthcheck(ctx, rest[1:], stderr)
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
	return serve(ctx, rest, lookupEnv, stderr)
}

const usage = `authgate: a reverse-proxy authentication gateway

Usage:
  authgate [-config FILE]          run the gateway (default config: gateway.yaml)
  authgate check [-config FILE]    validate a config, print every problem, exit 0 or 1
  authgate hash-password [-cost N] read a password from stdin, print its bcrypt hash
  authgate healthcheck [-url URL]  exit 0 if the gateway's /healthz answers 200
  authgate keygen --alg ALG [-id ID] [-out DIR]
                                   write a new RS256, ES256 or EdDSA key pair, print its JWK
  authgate version                 print the version
`
