//go:build linux

package main

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reloadConfig is the i-th config of the reload scenario: the base config
// plus, by turns, one more route, one more user or one more verify-only
// key, so that consecutive reloads change a route, a user and a key.
func reloadConfig(i int) string {
	var route, user, key string
	switch i % 3 {
	case 0:
		route = fmt.Sprintf("  - {path: /extra%d, upstream: \"http://%s\"}\n", i, upstreamAddr)
	case 1:
		user = fmt.Sprintf("  - {username: user%d, password_hash: %q}\n", i, aliceHash)
	case 2:
		key = fmt.Sprintf("    - {id: extra%d, secret: \"q8Z3rN6tV1yB4kM7pW2xC5hJ9dF0gL%02d\"}\n", i, i)
	}
	return fmt.Sprintf(`listen: %q
metrics_listen: %q
log:
  format: json
reload:
  watch: false
token:
  ttl: 12h
  keys:
    - {id: main, secret: "k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s"}
%susers:
  - {username: alice, password_hash: %q}
%sroutes:
  - {path: /, upstream: "http://%s"}
%s`, sutAddr, metricsAddr, key, aliceHash, user, upstreamAddr, route)
}

// reloadUnderLoad runs wrk on kept-alive connections against a proxied
// route twice on one gateway: quiet, then while the driver makes 20
// reloads spread over the run, each a rewrite of the config (write and
// rename) and a SIGHUP, waiting for the reload to be counted before the
// next. It reports both runs, how long each reload took from the signal
// to the new config serving, and the gateway's goroutines and memory
// before and after.
func reloadUnderLoad(authgate, dir string, conns int, d time.Duration) string {
	const reloads = 20
	config := filepath.Join(dir, "reload.yaml")
	write := func(i int) {
		tmp := config + ".tmp"
		if err := os.WriteFile(tmp, []byte(reloadConfig(i)), 0o600); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, config); err != nil {
			log.Fatal(err)
		}
	}
	write(0)
	g := pinned(0, authgate, "-config", config)
	g.Stderr, _ = os.Create(config + ".log")
	if err := g.Start(); err != nil {
		log.Fatal(err)
	}
	defer stop(g)
	waitListening(sutAddr)
	token := login(sutAddr)
	target := "http://" + sutAddr + "/"
	procs := []*exec.Cmd{g}
	run := func() (wrkResult, float64) {
		before := cpuTicks(procs)
		w := runWrk(target, token, conns, d)
		cpu := float64(cpuTicks(procs)-before) * (1e6 / clockTicks) / float64(max(w.requests, 1))
		return w, cpu
	}
	runWrk(target, token, conns, time.Second) // warm up pools and caches
	quiet, quietCPU := run()
	// Counted once wrk's connections are closed, with the upstream pool as
	// warm as it will be after the loaded run.
	time.Sleep(time.Second)
	goroutinesBefore, rssBefore := scrape("go_goroutines"), rss(g.Process.Pid)

	type loud struct {
		w   wrkResult
		cpu float64
	}
	done := make(chan loud)
	start := time.Now()
	go func() {
		w, cpu := run()
		done <- loud{w, cpu}
	}()
	var took []float64
	for i := 1; i <= reloads; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * d / (reloads + 1))))
		write(i)
		sent := time.Now()
		if err := g.Process.Signal(syscall.SIGHUP); err != nil {
			log.Fatal(err)
		}
		for scrape(`authgate_config_reloads_total{result="success"}`) < float64(i) {
			if time.Since(sent) > 10*time.Second {
				log.Fatalf("reload %d not done after 10s; see %s.log", i, config)
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, float64(time.Since(sent).Microseconds())/1000)
	}
	l := <-done
	failed := scrape(`authgate_config_reloads_total{result="failure"}`)
	time.Sleep(time.Second) // wrk's connections close; their goroutines end
	goroutinesAfter, rssAfter := scrape("go_goroutines"), rss(g.Process.Pid)
	sort.Float64s(took)
	log.Printf("reload under load: %d reloads (%v failed) in %s: %.0f → %.0f req/s, non-2xx %d, socket errors %d; reload p50 %.1f ms, max %.1f ms",
		reloads, failed, d, quiet.rps, l.w.rps, l.w.non2xx, l.w.socketErrors, took[len(took)/2], took[len(took)-1])

	var b strings.Builder
	fmt.Fprintf(&b, "\n## Reload under load\n\nwrk (1 thread, %d kept-alive connections) on a proxied route for %s, twice on one gateway: quiet, then while the driver makes %d reloads spread over the run, alternating a route, a user and a verify-only key added (each a rewrite of the config, written beside it and renamed over it, then SIGHUP). A reload is timed from the signal until `authgate_config_reloads_total` counts it. authgate has CPU 0; wrk, the upstream and the driver CPU 1. Rerun alone: `go run ./bench/cmd/load -only 'reload under load' -duration %s`.\n\n", conns, d, reloads, d)
	b.WriteString("| run | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | socket errors |\n| --- | --: | --: | --: | --: | --: | --: |\n")
	for _, r := range []struct {
		name string
		w    wrkResult
		cpu  float64
	}{{"quiet", quiet, quietCPU}, {fmt.Sprintf("%d reloads", reloads), l.w, l.cpu}} {
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.1f | %d | %d |\n", r.name, r.w.rps, r.w.p50, r.w.p99, r.cpu, r.w.non2xx, r.w.socketErrors)
	}
	fmt.Fprintf(&b, "\nReload, from SIGHUP to the new config serving: p50 %.1f ms, max %.1f ms; %v failed. Goroutines %v before, %v after; RSS %.1f MiB before, %.1f MiB after.\n\n| target | measured | met |\n| --- | --: | --- |\n| non-2xx answers during %d reloads | %d | %s |\n| connection errors during %d reloads | %d | %s |\n",
		took[len(took)/2], took[len(took)-1], failed, goroutinesBefore, goroutinesAfter, float64(rssBefore)/1024, float64(rssAfter)/1024,
		reloads, l.w.non2xx, yes(l.w.non2xx == 0), reloads, l.w.socketErrors, yes(l.w.socketErrors == 0))
	return b.String()
}

// scrape returns the value of one series on the gateway's metrics
// listener; -1 when it is absent.
func scrape(series string) float64 {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}
