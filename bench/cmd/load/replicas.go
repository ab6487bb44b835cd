//go:build linux

package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	redisAddr = "127.0.0.1:9105"
	// replicaAddr and replicaMetricsAddr are the second gateway's in the
	// propagation scenario.
	replicaAddr        = "127.0.0.1:9106"
	replicaMetricsAddr = "127.0.0.1:9107"
)

// redisServer starts redis-server on redisAddr without persistence,
// pinned to cpu; the caller stops it.
func redisServer(dir string, cpu int) *exec.Cmd {
	_, port, _ := net.SplitHostPort(redisAddr)
	c := pinned(cpu, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := c.Start(); err != nil {
		log.Fatalf("redis-server: %v", err)
	}
	waitListening(redisAddr)
	return c
}

// redisConfig is config with its state on the bench's redis-server.
func redisConfig(dir, name, config string) string {
	b, err := os.ReadFile(config)
	if err != nil {
		log.Fatal(err)
	}
	b = append(b, fmt.Sprintf("state:\n  redis:\n    url: redis://%s/0\n", redisAddr)...)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

// withRedis is a scenario's start: redis-server and the gateway on CPU 0,
// both measured, so that whatever Redis does for the gateway is counted.
func withRedis(dir, authgate, config string) func() ([]*exec.Cmd, error) {
	return func() ([]*exec.Cmd, error) {
		r := redisServer(dir, 0)
		g := pinned(0, authgate, "-config", config)
		g.Stderr, _ = os.Create(filepath.Join(dir, filepath.Base(config)+".log"))
		return []*exec.Cmd{g, r}, g.Start()
	}
}

// propagation measures how long a logout on one replica takes to be
// refused by another: two gateways on one redis-server, trials logouts on
// the first, the second polled until it answers 401.
func propagation(dir, authgate, config string, trials int) string {
	r := redisServer(dir, 1)
	defer stop(r)
	a := pinned(0, authgate, "-config", config)
	second := strings.Replace(config, ".yaml", "-b.yaml", 1)
	b, err := os.ReadFile(config)
	if err != nil {
		log.Fatal(err)
	}
	moved := strings.NewReplacer(sutAddr, replicaAddr, metricsAddr, replicaMetricsAddr).Replace(string(b))
	if err := os.WriteFile(second, []byte(moved), 0o600); err != nil {
		log.Fatal(err)
	}
	c := pinned(0, authgate, "-config", second)
	for _, p := range []*exec.Cmd{a, c} {
		if err := p.Start(); err != nil {
			log.Fatal(err)
		}
		defer stop(p)
	}
	waitListening(sutAddr)
	waitListening(replicaAddr)
	client := &http.Client{}
	var lags []float64
	for range trials {
		token := login(sutAddr)
		req, _ := http.NewRequest("POST", "http://"+sutAddr+"/logout", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			log.Fatalf("logout: %v %v", resp, err)
		}
		resp.Body.Close()
		start := time.Now()
		for {
			req, _ := http.NewRequest("GET", "http://"+replicaAddr+"/verify", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > 5*time.Second {
				log.Fatalf("the other replica still accepts a token 5s after its logout")
			}
		}
		lags = append(lags, float64(time.Since(start).Microseconds())/1000)
	}
	sort.Float64s(lags)
	at := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	log.Printf("revocation propagation over %d logouts: p50 %.2f ms, p99 %.2f ms, max %.2f ms", trials, at(0.5), at(0.99), lags[len(lags)-1])
	return fmt.Sprintf("\n## Revocation propagation\n\nTwo gateways on one redis-server (`state.redis`), pinned to CPU 0 with Redis on CPU 1: %d times, log in and out on the first, then poll `/verify` on the second with the logged-out token until it answers 401; the time from the logout's answer to that 401.\n\n| logouts | p50 ms | p99 ms | max ms | p99 ≤ 1000 ms |\n| --: | --: | --: | --: | --- |\n| %d | %.2f | %.2f | %.2f | %s |\n",
		trials, trials, at(0.5), at(0.99), lags[len(lags)-1], yes(at(0.99) <= 1000))
}
