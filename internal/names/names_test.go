package names

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"plain", "alice", true},
		{"dotted-and-dashed", "alice.smith-2_x@example.com", true},
		{"accented", "zoë", true},
		{"cjk", "用户", true},
		{"keycloak-group-path", "/staff/admins", true},
		{"max-length", strings.Repeat("a", MaxBytes), true},
		{"empty", "", false},
		{"too-long", strings.Repeat("a", MaxBytes+1), false},
		{"invalid-utf8", "user\xff", false},
		{"colon", "user2:admin", false},
		{"comma", "a,b", false},
		{"semicolon", "a;b", false},
		{"quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"ascii-space", "user 2", false},
		{"tab", "user\t2", false},
		{"crlf", "evil\r\nX-Forwarded-User: root", false},
		{"nul", "nul\x00", false},
		{"del", "a\x7f", false},
		{"zero-width-space", "user\u200b2", false},
		{"zero-width-joiner", "user\u200d2", false},
		{"soft-hyphen", "ali\u00adce", false},
		{"bidi-override", "user\u202e2", false},
		{"bom", "\ufeffuser2", false},
		{"no-break-space", "user2\u00a0", false},
		{"line-separator", "user\u20282", false},
		{"paragraph-separator", "user\u20292", false},
		{"next-line", "user\u00852", false},
		{"c1-control", "user\u009b2", false},
		{"ideographic-space", "user\u30002", false},
		{"en-quad", "user\u20002", false},
		{"fullwidth-colon", "user2\uff1aadmin", false},
		{"small-comma", "a\ufe50b", false},
		{"fullwidth-backslash", "a\uff3cb", false},
		{"fullwidth-letters", "ａｌｉｃｅ", false},
		{"ligature", "ﬁle", false},
		{"decomposed-accent", "zoe\u0308", false},
		{"composed-accent", "zoë", true},
		{"hangul-filler", "alice\u3164", false},
		{"halfwidth-hangul-filler", "alice\uffa0", false},
		{"combining-grapheme-joiner", "alice\u034f", false},
		{"variation-selector", "alice\ufe0f", false},
		{"variation-selector-supplement", "alice\U000e0100", false},
		{"mongolian-selector", "alice\u180b", false},
		{"khmer-inherent-vowel", "alice\u17b4", false},
		{"braille-blank", "alice\u2800", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.input)
			if got := err == nil; got != tt.ok {
				t.Errorf("Check(%q) = %v, want ok %v", tt.input, err, tt.ok)
			}
			if err != nil && len(tt.input) > 4 && strings.Contains(err.Error(), tt.input) {
				t.Errorf("Check(%q) = %v, which quotes the name", tt.input, err)
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"case", "alice", "ALICE", true},
		{"fullwidth", "alice", "ａｌｉｃｅ", true},
		{"fullwidth-upper", "alice", "ＡＬＩＣＥ", true},
		{"ligature", "file", "ﬁle", true},
		{"long-s", "sam", "ſam", true},
		{"kelvin-sign", "kay", "\u212aay", true},
		{"zero-width", "alice", "al\u200bice", true},
		{"spaces", "alice", " alice\t", true},
		{"bom", "alice", "\ufeffalice", true},
		{"different-names", "alice", "alice2", false},
		{"different-letters", "alice", "bob", false},
		{"accent-matters", "zoe", "zoë", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.a) == Fold(tt.b); got != tt.same {
				t.Errorf("Fold(%q) == Fold(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
			}
		})
	}
}
