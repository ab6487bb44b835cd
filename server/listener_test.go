package server

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestLimitListenerCapsOpenConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("closing a connection did not free a slot")
	}
	second.Close()
}

func TestRejoinListenerServesHandedBackConnectionsUnderTheCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Three slots: the connection accepted below, the one the waiting
	// Accept underneath reserves, and one for a handed-back connection.
	limited := limitListener(inner, 3)
	back := make(chan net.Conn, 1)
	ln := rejoinListener(limited, back)
	accept := func() net.Conn {
		t.Helper()
		got := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Errorf("Accept: %v", err)
			}
			got <- c
		}()
		select {
		case c := <-got:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("Accept did not return")
			return nil
		}
	}

	// Accepted from the network, as before.
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	fromNet := accept()
	defer fromNet.Close()

	for deadline := time.Now().Add(5 * time.Second); len(limited.slots) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Accept underneath never took its slot again")
		}
	}
	// Handed back, it takes the last slot; with none left, adopt says so.
	a, b := net.Pipe()
	defer b.Close()
	adopted, ok := limited.adopt(a)
	if !ok {
		t.Fatal("adopt refused with a slot free")
	}
	back <- adopted
	if c := accept(); c != adopted {
		t.Fatalf("Accept returned %v, want the handed-back connection", c)
	}
	if _, ok := limited.adopt(b); ok {
		t.Error("adopt took a connection beyond the cap")
	}
	adopted.Close()
	if again, ok := limited.adopt(b); !ok {
		t.Error("closing an adopted connection did not free its slot")
	} else {
		again.Close()
	}

	// Close ends a waiting Accept.
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Accept")
	}
}
