package server

import (
	"errors"
	"net"
	"sync"
)

// limitListener caps the connections open at once: when max are open,
// Accept waits for one to close, and new clients queue in the kernel's
// backlog instead of costing the gateway memory.
func limitListener(ln net.Listener, max int) *limitedListener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, max), closed: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// adopt gives c, a connection that arrived some other way, one of the
// slots if one is free.
func (l *limitedListener) adopt(c net.Conn) (net.Conn, bool) {
	select {
	case l.slots <- struct{}{}:
		return &limitedConn{Conn: c, release: func() { <-l.slots }}, true
	default:
		return nil, false
	}
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// NetConn returns the connection underneath, for the tarpit.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// rejoinListener serves connections arriving on back as well as those
// ln accepts: the tarpit returns the connections it no longer holds there.
func rejoinListener(ln net.Listener, back <-chan net.Conn) net.Listener {
	return &rejoiningListener{Listener: ln, back: back, accepted: make(chan accepted), closed: make(chan struct{})}
}

type rejoiningListener struct {
	net.Listener
	back      <-chan net.Conn
	accepted  chan accepted
	pumpOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

func (l *rejoiningListener) Accept() (net.Conn, error) {
	l.pumpOnce.Do(func() { go l.pump() })
	select {
	case c := <-l.back:
		return c, nil
	case a := <-l.accepted:
		return a.c, a.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// pump accepts from the listener underneath until it fails for good, as
// http.Server would: it retries only errors that say they are temporary.
func (l *rejoiningListener) pump() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- accepted{c, err}:
		case <-l.closed:
			if c != nil {
				c.Close()
			}
			return
		}
		var ne interface{ Temporary() bool }
		if err != nil && !(errors.As(err, &ne) && ne.Temporary()) {
			return
		}
	}
}

func (l *rejoiningListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
