// Package names holds the one rule for the user and group names authgate
// accepts, whoever vouches for them (the config, an htpasswd file, a
// trusted provider's token), and says when two spellings are one name.
//
// A name ends up in an identity header an upstream trusts, in logs and in
// throttle keys, so it must read the same to every component on the way: a
// name with an invisible, control or separator character, or one that a
// Unicode-normalising component reads as holding a separator, could make
// an upstream see a different user, a second list item or a forged line.
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxBytes bounds a name's length in bytes.
const MaxBytes = 128

// Separators are the ASCII characters a name must not contain: ',' splits
// list headers (X-Forwarded-Groups), ':' htpasswd lines and Basic
// credentials, ';' and '"' header parameters and quoting, '\' escapes.
const Separators = `,:;"\`

// Check returns nil if name is acceptable as a user or group name, else an
// error saying why, fit for a config problem after the name's path. The
// error never quotes the name, only the offending character, escaped when
// it is not ASCII (an invisible one would otherwise read as nothing).
//
// Refused: empty names, names over MaxBytes, invalid UTF-8, Separators, and
// any character that is a control (Cc), format (Cf: zero-width characters,
// bidi controls, the BOM), space or line/paragraph separator (Zs, Zl, Zp)
// or that unicode.IsSpace calls space (U+0085), any other character that
// renders as nothing (Unicode's default-ignorable code points such as the
// Hangul fillers and the combining grapheme joiner, variation selectors,
// the blank Braille pattern) — including characters that become one of
// these once NFKC-normalised (fullwidth '：' reads as ':'); and any name
// not written in its NFKC form, since a component that normalises would
// read "ａｌｉｃｅ" as "alice".
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxBytes:
		return fmt.Errorf("must be at most %d bytes", MaxBytes)
	case !utf8.ValidString(name):
		return errors.New("must be valid UTF-8")
	}
	for _, r := range name {
		if why := runeProblem(r); why != "" {
			return fmt.Errorf("must not contain %+q (%s)", r, why)
		}
		if r < utf8.RuneSelf {
			continue // ASCII is its own NFKC form
		}
		// Compositions cannot make a separator or space, so checking
		// each character's own compatibility form is enough.
		for _, n := range norm.NFKC.String(string(r)) {
			if why := runeProblem(n); why != "" {
				return fmt.Errorf("must not contain %+q (%s once Unicode-normalised)", r, why)
			}
		}
	}
	if !norm.NFKC.IsNormalString(name) {
		return errors.New("must be written in its Unicode normal form (NFKC): fullwidth letters, ligatures and decomposed accents read as other names to components that normalise")
	}
	return nil
}

func runeProblem(r rune) string {
	switch {
	case strings.ContainsRune(Separators, r):
		return "a separator"
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	case unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp) || unicode.IsSpace(r):
		return "a space or line separator"
	case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) || r == '\u2800':
		return "a character that renders as nothing"
	}
	return ""
}

// Fold maps the spellings of a name that a person or a Unicode-normalising
// component would take for one name to one string: compatibility forms
// (fullwidth "ａｌｉｃｅ", the ligature "ﬁ"), case, and the whitespace,
// control and format characters Check refuses all collapse. Two accepted
// names with the same Fold are refused together by the config, so that
// keys derived from it (the login throttle's) never merge two accounts.
func Fold(name string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(name) {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFKC.String(b.String())
}
