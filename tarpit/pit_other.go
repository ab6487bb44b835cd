//go:build !linux

package tarpit

import (
	"errors"
	"net"
)

// Pit holds connections of throttled clients; on this platform there is
// none, and New says so.
type Pit struct{}

// New reports that the pit needs Linux's epoll.
func New(o Options) (*Pit, error) { return nil, errors.New("tarpit: needs Linux") }

// Room reports false.
func (p *Pit) Room() bool { return false }

// Take takes nothing.
func (p *Pit) Take(net.Conn, []byte, int64, Attempt) bool { return false }

// Close does nothing.
func (p *Pit) Close() {}

// Held reports zero.
func (p *Pit) Held() int { return 0 }
