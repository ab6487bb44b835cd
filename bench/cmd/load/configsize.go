//go:build linux

package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// benchPath is what every proxied scenario asks for: in the 10,000-route
// config it falls under one of the routes, in the others under "/".
const benchPath = "/svc5000/api/items"

// manyRoutes is the routes section of a config with n routes, benchPath's
// among them.
func manyRoutes(n int) string {
	var b strings.Builder
	b.WriteString("routes:\n  - path: /\n    upstream: http://" + upstreamAddr + "\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - path: /svc%d/api\n    upstream: http://%s\n", i, upstreamAddr)
	}
	return b.String()
}

// sizedConfig writes a config with the HS256 secret, routes and either
// alice alone or n htpasswd users.
func sizedConfig(dir, name, routes string, users int) string {
	userSection := fmt.Sprintf("users:\n  - username: alice\n    password_hash: %q\n", aliceHash)
	if users > 0 {
		// One hash for every user: bcrypting 100,000 passwords would take
		// hours, and the gateway stores each line's hash apart anyway.
		var b strings.Builder
		for i := range users {
			fmt.Fprintf(&b, "user%06d:%s\n", i, aliceHash)
		}
		file := filepath.Join(dir, name+".htpasswd")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			log.Fatal(err)
		}
		userSection = "htpasswd_file: " + file + "\n"
	}
	doc := fmt.Sprintf("listen: %q\nmetrics_listen: %q\nlog:\n  format: json\ntoken:\n  ttl: 12h\n  secret: \"k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s\"\n%s%s",
		sutAddr, metricsAddr, userSection, routes)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

// configSize measures what a large config costs: the time from starting
// the process to a listening gateway, and its resident memory once idle
// (after a second, so the scavenger has returned what parsing freed);
// medians of three starts each.
func configSize(authgate, dir string) string {
	type size struct {
		name   string
		config string
		n      int // routes or users beyond the base config
	}
	base := sizedConfig(dir, "size-base.yaml", manyRoutes(1), 0)
	sizes := []size{
		{"one route, one user", base, 0},
		{"10,000 routes", sizedConfig(dir, "size-routes.yaml", manyRoutes(10000), 0), 10000},
		{"100,000 htpasswd users", sizedConfig(dir, "size-users.yaml", manyRoutes(1), 100000), 100000},
	}
	type measured struct {
		start  time.Duration
		rssKiB int64
	}
	med := map[string]measured{}
	for _, sz := range sizes {
		var starts []time.Duration
		var rsss []int64
		for range 3 {
			t0 := time.Now()
			g := pinned(0, authgate, "-config", sz.config)
			if err := g.Start(); err != nil {
				log.Fatal(err)
			}
			for {
				if c, err := net.DialTimeout("tcp", sutAddr, 50*time.Millisecond); err == nil {
					c.Close()
					break
				}
				if time.Since(t0) > 30*time.Second {
					log.Fatalf("%s: not listening after 30 s", sz.name)
				}
				time.Sleep(2 * time.Millisecond)
			}
			starts = append(starts, time.Since(t0))
			time.Sleep(time.Second)
			rsss = append(rsss, rss(g.Process.Pid))
			stop(g)
		}
		slices.Sort(starts)
		slices.Sort(rsss)
		med[sz.name] = measured{starts[1], rsss[1]}
		log.Printf("config size: %s: start %v, idle RSS %.1f MiB", sz.name, starts[1], float64(rsss[1])/1024)
	}
	var b strings.Builder
	b.WriteString("\n## Config size\n\nTime from starting the process to a listening gateway, and its idle RSS a second later; medians of three starts. Every htpasswd user has a bcrypt hash of 60 bytes, left out of the per-user figure.\n\n| config | start ms | idle RSS MiB | per route or user | target | met |\n| --- | --: | --: | --: | --- | --- |\n")
	baseRSS := med[sizes[0].name].rssKiB
	for i, sz := range sizes {
		m := med[sz.name]
		per, target, met := "–", "–", "–"
		switch i {
		case 1:
			kib := float64(m.rssKiB-baseRSS) / float64(sz.n)
			per, target = fmt.Sprintf("%.2f KiB", kib), "start ≤ 500 ms, ≤ 4 KiB per route"
			met = yes(m.start <= 500*time.Millisecond && kib <= 4)
		case 2:
			bytes := float64(m.rssKiB-baseRSS)*1024/float64(sz.n) - 60
			per, target = fmt.Sprintf("%.0f bytes", bytes), "start ≤ 1 s, ≤ 300 bytes per user beyond its hash"
			met = yes(m.start <= time.Second && bytes <= 300)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %s | %s | %s |\n", sz.name, float64(m.start.Microseconds())/1000, float64(m.rssKiB)/1024, per, target, met)
	}
	return b.String()
}
