package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/skip2/go-qrcode"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/names"
)

// apikey serves "authgate apikey new": it makes a key, prints it once on
// stdout, and on stderr the line to add under the user's api_keys. The
// key itself is never written anywhere else.
func apikey(args []string, now time.Time, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New("usage: authgate apikey new -user NAME [-name LABEL] [-expires 90d]")
	}
	fs := newFlags("authgate apikey new", stderr)
	user := fs.String("user", "", "the user the key signs in as (required)")
	name := fs.String("name", "", "the key's label in metrics and logs; default: USER-DATE")
	expires := fs.String("expires", "", "lifetime such as 90d or 720h, or a date (2026-12-31); default: never")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := names.Check(*user); *user == "" || err != nil {
		return errors.New("-user must name a user of the config")
	}
	if *name == "" {
		*name = *user + "-" + now.UTC().Format("20060102")
	}
	if !validLabel(*name) {
		return fmt.Errorf("-name %q: must be 1 to 64 letters, digits, '.', '_' or '-'", *name)
	}
	until, err := expiry(*expires, now)
	if err != nil {
		return err
	}
	key, hash := auth.NewAPIKey()
	line := fmt.Sprintf("- {name: %s, hash: %q", *name, config.APIKeyHashPrefix+base64.RawURLEncoding.EncodeToString(hash[:]))
	if until != "" {
		line += ", expires: " + until
	}
	line += "}"
	fmt.Fprintf(stderr, "add under users[%s].api_keys (the key below is shown once; only its hash is kept):\n  api_keys:\n    %s\n", *user, line)
	fmt.Fprintln(stdout, key)
	return nil
}

// expiry turns -expires into the config's expires: "" for never, a
// lifetime (90d, 720h) into the RFC 3339 time it ends, a date as it is.
func expiry(s string, now time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return s, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 3650 {
			return "", fmt.Errorf("-expires %q: days must be from 1 to 3650", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if parsed, err := time.ParseDuration(s); err == nil && parsed > 0 {
		d = parsed
	} else {
		return "", fmt.Errorf("-expires %q: must be a lifetime such as 90d or 720h, or a date such as 2026-12-31", s)
	}
	return now.Add(d).UTC().Truncate(time.Second).Format(time.RFC3339), nil
}

// validLabel is the rule for an API key's name (config.plainToken).
func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// totpEnroll serves "authgate totp-enroll": it writes a new TOTP secret
// to a file of its own (mode 0600, never over an existing one) and prints
// the otpauth:// URI and its QR code for the user's authenticator app,
// and the line to add under the user.
func totpEnroll(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("authgate totp-enroll", stderr)
	user := fs.String("user", "", "the user to enrol (required)")
	out := fs.String("out", "", "the secret file to write; default: USER.totp")
	issuer := fs.String("issuer", "authgate", "the name authenticator apps show beside the user")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := names.Check(*user); *user == "" || err != nil {
		return errors.New("-user must name a user of the config")
	}
	if *out == "" {
		if !keyFileID(*user) {
			return fmt.Errorf("-user %q cannot name a file: give -out", *user)
		}
		*out = *user + ".totp"
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: *issuer, AccountName: *user})
	if err != nil {
		return fmt.Errorf("make a TOTP secret: %w", err)
	}
	if err := writeNew(*out, []byte(key.Secret()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the secret: %w", err)
	}
	qr, err := qrcode.New(key.URL(), qrcode.Medium)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	path := *out
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Fprintf(stderr, "wrote %s (mode 0600; whoever reads it has the second factor)\nadd under users[%s]:\n    totp_secret_file: %s\n", *out, *user, path)
	fmt.Fprintf(stdout, "Scan with an authenticator app, or enter the URI:\n%s\n%s\n", qr.ToSmallString(false), key.URL())
	return nil
}
