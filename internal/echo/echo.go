// Package echo is the built-in demo upstream: it answers every request
// with what it received, so a newcomer can see exactly which headers
// (X-Forwarded-User among them) the gateway passes on.
package echo

import (
	"encoding/json"
	"io"
	"net/http"
)

// maxBody caps how much of a request body is echoed back.
const maxBody = 64 << 10

// Request is the JSON the echo handler answers with.
type Request struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query,omitempty"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body,omitempty"`
}

// Handler returns the echo handler.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(Request{
			Method:  r.Method,
			Path:    r.URL.EscapedPath(),
			Query:   r.URL.RawQuery,
			Host:    r.Host,
			Headers: r.Header,
			Body:    string(body),
		})
	})
}
