package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the registered claims authgate reads, decoded strictly:
// golang-jwt's RegisteredClaims would accept a date written as a string
// ("exp":"9999999999") and a sub of any JSON type, and a token that one
// verifier reads differently from another is an attack surface.
type claims struct {
	Subject   string           `json:"sub"`
	Issuer    string           `json:"iss"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	ID        string           `json:"jti"`
	// Groups, SessionID (sid) and Generation (gen) are authgate's own.
	Groups     []string `json:"groups,omitempty"`
	SessionID  string   `json:"sid,omitempty"`
	Generation string   `json:"gen,omitempty"`
	// AuthTime is when the user typed their password (OpenID Connect's
	// auth_time); a session can be refreshed but never past a fixed time
	// after it.
	AuthTime *numericDate `json:"auth_time,omitempty"`
	// Epoch is the user's revocation epoch when the session began; absent
	// means 0.
	Epoch int64 `json:"epoch,omitempty"`
	// SessionEnd (sid_exp) is the latest exp any token of the session can
	// carry.
	SessionEnd *numericDate `json:"sid_exp,omitempty"`
	// AMR says how the user proved who they are (RFC 8176 values such as
	// "pwd"); routes may later ask for a second factor by it.
	AMR []string `json:"amr,omitempty"`
	// Provider (idp) is the id of the OpenID Connect provider that
	// vouched for the user; absent for a local account's session.
	Provider string `json:"idp,omitempty"`
}

// numericDate is an RFC 7519 NumericDate that must be a JSON number.
type numericDate struct{ jwt.NumericDate }

var errNotNumber = errors.New("NumericDate must be a JSON number")

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || !(b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		return errNotNumber
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) get() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

func (c *claims) GetAuthTime() time.Time {
	if c.AuthTime == nil {
		return time.Time{}
	}
	return c.AuthTime.Time
}

func (c *claims) getSessionEnd() time.Time {
	if c.SessionEnd == nil {
		return time.Time{}
	}
	return c.SessionEnd.Time
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get(), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get(), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get(), nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }
