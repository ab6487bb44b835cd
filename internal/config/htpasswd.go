package config

import (
	"bytes"
	"fmt"
	"strings"
)

// maxHtpasswdLine bounds one htpasswd line; a bcrypt entry is ~70 bytes.
const maxHtpasswdLine = 4096

type htpasswdEntry struct {
	line     int
	username string
	// hash is a slice of the file's bytes, not a copy: with 100,000 users
	// the file is one allocation instead of one per line.
	hash []byte
}

// parseHtpasswd reads "user:hash" lines, skipping blank lines and # comments.
// Only bcrypt is accepted: Apache's MD5, SHA1, crypt and plain-text forms are
// weak enough that silently accepting them would be a downgrade, so each is
// reported with its line number.
func parseHtpasswd(data []byte) ([]htpasswdEntry, []string) {
	var entries []htpasswdEntry
	var problems []string
	line := 0
	for raw := range bytes.Lines(data) {
		line++
		if len(raw) > maxHtpasswdLine {
			problems = append(problems, fmt.Sprintf("line %d: longer than %d bytes", line, maxHtpasswdLine))
			continue
		}
		text := bytes.TrimRight(raw, " \t\r\n")
		if len(text) == 0 || bytes.HasPrefix(bytes.TrimLeft(text, " \t"), []byte("#")) {
			continue
		}
		user, hash, ok := bytes.Cut(text, []byte(":"))
		if !ok || len(user) == 0 {
			problems = append(problems, fmt.Sprintf("line %d: want username:bcrypt-hash", line))
			continue
		}
		if kind := nonBcryptKind(string(hash)); kind != "" {
			problems = append(problems, fmt.Sprintf("line %d: user %q: %s hashes are not accepted, only bcrypt (htpasswd -B)", line, user, kind))
			continue
		}
		entries = append(entries, htpasswdEntry{line: line, username: string(user), hash: hash})
	}
	return entries, problems
}

// nonBcryptKind names the hash scheme of h when it is not bcrypt.
func nonBcryptKind(h string) string {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return ""
	case strings.HasPrefix(h, "$apr1$"):
		return "Apache MD5 ($apr1$)"
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1 ({SHA})"
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "SHA-crypt"
	case h == "":
		return "empty"
	default:
		return "crypt or plain-text"
	}
}
