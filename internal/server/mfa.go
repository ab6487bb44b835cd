package server

import (
	"errors"
	"net/http"
	"slices"

	"github.com/authgate/authgate/internal/config"
)

// errMFARequired means the route requires a second factor and the
// caller's sign-in had none.
var errMFARequired = errors.New("route requires a second factor")

// userFactors are a local user's second factors and whether one is
// required of them.
type userFactors struct {
	// totpSecret is the base32 RFC 6238 secret; empty for none.
	totpSecret string
	requireMFA bool
	// passkey says the user has passkeys, which sign in on their own.
	passkey bool
}

// enrolled reports whether the user has a second factor to give after
// their password.
func (f userFactors) enrolled() bool { return f.totpSecret != "" }

// buildFactors keeps the factors of the users that have any; an htpasswd
// user never does, so 100,000 of them cost nothing here.
func buildFactors(users []config.User) map[string]userFactors {
	out := map[string]userFactors{}
	for _, u := range users {
		if u.TOTPSecret != "" || u.RequireMFA || len(u.Passkeys) > 0 {
			out[u.Username] = userFactors{totpSecret: u.TOTPSecret, requireMFA: u.RequireMFA, passkey: len(u.Passkeys) > 0}
		}
	}
	return out
}

// Second factors as amr values (RFC 8176): "otp" for TOTP, "hwk" and
// "swk" for proof of possession of a hardware or software key.
var secondFactors = []string{"otp", "hwk", "swk"}

// multiFactor reports whether p's sign-in had a second factor: an amr of
// secondFactors on authgate's own token, or a sign-in through a provider
// the operator marked mfa (the provider's id is its amr). A trusted
// issuer's token and an API key never count.
func (g *Gateway) multiFactor(p principal) bool {
	if p.External != "" || p.key != nil {
		return false
	}
	for _, m := range p.AMR {
		if slices.Contains(secondFactors, m) {
			return true
		}
		if pr := g.providers[m]; pr != nil && pr.cfg.MFA {
			return true
		}
	}
	return false
}

// toLogin reports whether a browser refused with err should be sent to the
// login page: without valid credentials, or with a session cookie whose
// sign-in lacked the second factor the route requires (the login page
// then asks for one). mfa says which.
func toLogin(err error, src source) (send, mfa bool) {
	if errors.Is(err, errMFARequired) {
		return src == fromCookie, true
	}
	return classifyDenial(err).status == http.StatusUnauthorized, false
}

// loginFor is the login page URL for a browser sent there by err.
func loginFor(base string, mfa bool, rd string) string {
	if mfa {
		base = withReturn(base, rd)
		return base + "&mfa=1"
	}
	return withReturn(base, rd)
}
