//go:build linux

// Command load measures authgate under wrk against its baselines, side by
// side in one run: the system under test pinned to CPU 0, wrk and the
// upstream to CPU 1, several interleaved rounds in rotating order, medians
// reported. For each scenario it records requests per second, p50/p99
// latency, CPU time per request of the measured processes (utime+stime from
// /proc, delta over the run), peak RSS and non-2xx answers; then a login
// flood against proxied traffic at a fixed rate, and the memory of idle
// connections. It writes docs/performance.md and docs/performance.svg.
//
// Run from the repository root on Linux (needs wrk, taskset, nginx and redis-server;
// reads /proc):
//
//	go run ./bench/cmd/load -duration 8s -rounds 5
//
// -only "reload under load" runs only the live-reload scenario (reload.go).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	upstreamAddr = "127.0.0.1:9101"
	sutAddr      = "127.0.0.1:9102"
	sideAddr     = "127.0.0.1:9103" // authgate behind nginx
	metricsAddr  = "127.0.0.1:9104"
	clockTicks   = 100 // USER_HZ on Linux
)

// The demo users' cost-10 hash of "alicepassword".
const aliceHash = "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"

type scenario struct {
	name  string
	start func() ([]*exec.Cmd, error) // processes measured, first one listening on sutAddr
	path  string
	token *string // the bearer token every request carries
	// https sends the requests over TLS; closing sends "Connection:
	// close", so that every request opens a connection (a handshake).
	https, closing bool
}

type result struct {
	rps, p50, p99, cpuPerReq float64 // p50/p99 in ms, cpu in µs
	rssKiB                   int64
	non2xx                   int64
}

func main() {
	duration := flag.Duration("duration", 8*time.Second, "measurement per scenario and round")
	rounds := flag.Int("rounds", 5, "interleaved rounds; medians are reported")
	conns := flag.Int("connections", 32, "wrk connections")
	out := flag.String("out", "docs", "directory for performance.md and performance.svg")
	only := flag.String("only", "", "run only the scenarios whose name matches this regular expression (and no flood, idle-connection, config-size, reload or propagation runs unless it matches \"flood\", \"idle\", \"config size\", \"reload under load\" or \"propagation\"); the ratios of the targets whose scenarios ran are logged; the report is written only when all run")
	floodRuns := flag.Int("flood-runs", 3, "runs of the login-flood scenario, each with a fresh gateway")
	floodRate := flag.Int("flood-rate", 4000, "proxied requests per second held during the login-flood scenario")
	paced := flag.String("paced", "", "internal: send GET requests to this URL at -flood-rate for -duration with bearer -token (run pinned by the driver)")
	token := flag.String("token", "", "internal: the bearer token for -paced")
	flood := flag.String("flood", "", "internal: hammer this login URL with wrong passwords on 64 connections for -duration (run pinned by the driver)")
	flag.Parse()
	switch {
	case *paced != "":
		runPaced(*paced, *token, *floodRate, *duration)
		return
	case *flood != "":
		runFlood(*flood, 64, *duration)
		return
	}
	for _, tool := range []string{"wrk", "taskset", "nginx", "redis-server"} {
		if _, err := exec.LookPath(tool); err != nil && !fileExists("/usr/sbin/"+tool) {
			log.Fatalf("%s not found: apt-get install -y %s", tool, map[string]string{"taskset": "util-linux"}[tool]+tool)
		}
	}
	dir, err := os.MkdirTemp("", "authgate-load")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := func(pkg, name string) string {
		path := filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			log.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
		return path
	}
	authgate, upstream, bare := bin(".", "authgate"), bin("./bench/cmd/upstream", "upstream"), bin("./bench/cmd/bareproxy", "bareproxy")

	up := pinned(1, upstream, "-listen", upstreamAddr)
	if err := up.Start(); err != nil {
		log.Fatal(err)
	}
	defer stop(up)
	waitListening(upstreamAddr)

	edKey := filepath.Join(dir, "ed.pem")
	if out, err := exec.Command(authgate, "keygen", "--alg", "EdDSA", "-id", "ed", "-out", dir).CombinedOutput(); err != nil {
		log.Fatalf("keygen: %v %s", err, out)
	}
	// Tokens live long enough for the whole run: each is minted once.
	const hsTokenSection = "token:\n  ttl: 12h\n  secret: \"k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s\""
	hsConfig := writeConfig(dir, "hs.yaml", sutAddr, hsTokenSection)
	edConfig := writeConfig(dir, "ed.yaml", sutAddr, "token:\n  ttl: 12h\n  algorithm: EdDSA\n  keys:\n    - id: ed\n      key_file: "+edKey)
	sideConfig := writeConfig(dir, "side.yaml", sideAddr, hsTokenSection)
	routesConfig := sizedConfig(dir, "routes.yaml", manyRoutes(10000), 0)
	// The same as hsConfig with log lines gathered and written every
	// 100 ms (log.flush_interval), to show what a write per request costs.
	bufferedConfig := writeConfig(dir, "buffered.yaml", sutAddr, hsTokenSection+"\nlog_flush_interval_placeholder")
	if b, err := os.ReadFile(bufferedConfig); err == nil {
		b = bytes.Replace(b, []byte("\nlog_flush_interval_placeholder"), nil, 1)
		b = bytes.Replace(b, []byte("  format: json\n"), []byte("  format: json\n  flush_interval: 100ms\n"), 1)
		if err := os.WriteFile(bufferedConfig, b, 0o600); err != nil {
			log.Fatal(err)
		}
	}
	nginxConf := writeNginx(dir)
	tlsCert, tlsKey := writeCertificate(dir)
	tlsConfig := withTLS(hsConfig, "tls.yaml", tlsCert, tlsKey)

	gatewayProc := func(config string) func() ([]*exec.Cmd, error) {
		return func() ([]*exec.Cmd, error) {
			c := pinned(0, authgate, "-config", config)
			c.Stderr, _ = os.Create(filepath.Join(dir, filepath.Base(config)+".log"))
			return []*exec.Cmd{c}, c.Start()
		}
	}
	// Tokens survive restarts (the keys are fixed), so each is minted once.
	mint := func(start func() ([]*exec.Cmd, error), addr string) string {
		procs, err := start()
		if err != nil {
			log.Fatal(err)
		}
		defer func() {
			for _, p := range procs {
				stop(p)
			}
		}()
		waitListening(addr)
		return login(addr)
	}
	hsBearer := mint(gatewayProc(hsConfig), sutAddr)
	edBearer := mint(gatewayProc(edConfig), sutAddr)
	// Every scenario gets the same request, Authorization header included,
	// so that the baselines parse (and the bare proxy forwards) the same
	// bytes and a ratio measures only what authgate does with them.
	scenarios := []scenario{
		{name: "upstream alone", path: benchPath, start: func() ([]*exec.Cmd, error) {
			c := pinned(0, upstream, "-listen", sutAddr)
			return []*exec.Cmd{c}, c.Start()
		}, token: &hsBearer},
		{name: "bare httputil.ReverseProxy", path: benchPath, start: func() ([]*exec.Cmd, error) {
			c := pinned(0, bare, "-listen", sutAddr, "-upstream", "http://"+upstreamAddr)
			return []*exec.Cmd{c}, c.Start()
		}, token: &hsBearer},
		{name: "authgate proxy, HS256", path: benchPath, start: gatewayProc(hsConfig), token: &hsBearer},
		{name: "authgate proxy, HS256, Redis state", path: benchPath, start: withRedis(dir, authgate, redisConfig(dir, "redis.yaml", hsConfig)), token: &hsBearer},
		{name: "authgate proxy, HS256, log buffered 100ms", path: benchPath, start: gatewayProc(bufferedConfig), token: &hsBearer},
		{name: "authgate proxy, HS256, 10,000 routes", path: benchPath, start: gatewayProc(routesConfig), token: &hsBearer},
		{name: "authgate proxy, EdDSA", path: benchPath, start: gatewayProc(edConfig), token: &edBearer},
		{name: "authgate /verify", path: "/verify", start: gatewayProc(hsConfig), token: &hsBearer},
		{name: "bare httputil.ReverseProxy, TLS", path: benchPath, https: true, start: func() ([]*exec.Cmd, error) {
			c := pinned(0, bare, "-listen", sutAddr, "-upstream", "http://"+upstreamAddr, "-cert", tlsCert, "-key", tlsKey)
			return []*exec.Cmd{c}, c.Start()
		}, token: &hsBearer},
		{name: "authgate proxy, HS256, TLS", path: benchPath, https: true, start: gatewayProc(tlsConfig), token: &hsBearer},
		{name: "bare httputil.ReverseProxy, TLS, a handshake per request", path: benchPath, https: true, closing: true, start: func() ([]*exec.Cmd, error) {
			c := pinned(0, bare, "-listen", sutAddr, "-upstream", "http://"+upstreamAddr, "-cert", tlsCert, "-key", tlsKey)
			return []*exec.Cmd{c}, c.Start()
		}, token: &hsBearer},
		{name: "authgate proxy, HS256, TLS, a handshake per request", path: benchPath, https: true, closing: true, start: gatewayProc(tlsConfig), token: &hsBearer},
		{name: "nginx auth_request → authgate", path: benchPath, start: func() ([]*exec.Cmd, error) {
			g := pinned(0, authgate, "-config", sideConfig)
			g.Stderr, _ = os.Create(filepath.Join(dir, "side.log"))
			if err := g.Start(); err != nil {
				return nil, err
			}
			waitListening(sideAddr)
			n := pinned(0, "nginx", "-p", dir, "-e", filepath.Join(dir, "nginx-error.log"), "-c", nginxConf)
			return []*exec.Cmd{n, g}, n.Start()
		}, token: &hsBearer},
	}

	selected := func(name string) bool { return *only == "" || regexp.MustCompile(*only).MatchString(name) }
	results := map[string][]result{}
	for round := 1; round <= *rounds; round++ {
		// Each round starts one scenario later, so that a scenario's place
		// in the round (what ran just before it) does not bias it.
		k := round % len(scenarios)
		order := slices.Concat(scenarios[k:], scenarios[:k])
		for _, sc := range order {
			if !selected(sc.name) {
				continue
			}
			procs, err := sc.start()
			if err != nil {
				log.Fatalf("%s: %v", sc.name, err)
			}
			waitListening(sutAddr)
			target := "http://" + sutAddr + sc.path
			if sc.https {
				target = "https://" + sutAddr + sc.path
			}
			var headers []string
			if sc.closing {
				headers = []string{"Connection: close"}
			}
			token := *sc.token
			runWrk(target, token, *conns, time.Second, headers...) // warm up pools and caches
			r := measure(procs, target, token, *conns, *duration, headers...)
			results[sc.name] = append(results[sc.name], r)
			log.Printf("round %d %-32s %8.0f req/s  %7.1f µs CPU/req  p99 %.2f ms  non-2xx %d", round, sc.name, r.rps, r.cpuPerReq, r.p99, r.non2xx)
			for _, p := range procs {
				stop(p)
			}
		}
	}
	for _, tg := range targets {
		if len(results[tg.a]) > 0 && len(results[tg.b]) > 0 {
			r := pairedRatio(results)(tg.a, tg.b)
			log.Printf("target %s ≤ %.2f×: %.3f× (%s)", tg.what, tg.limit, r, yes(r > 0 && r <= tg.limit))
		}
	}
	var floodReport, idleReport, sizeReport, reloadReport, propagationReport string
	if selected("propagation") {
		propagationReport = propagation(dir, authgate, redisConfig(dir, "propagation.yaml", hsConfig), 100)
	}
	if selected("login flood") {
		floodReport = loginFlood(authgate, hsConfig, *floodRate, *duration, *floodRuns)
	}
	if selected("idle connections") {
		idleReport = idleConnections(authgate, hsConfig, []int{1000, 10000})
	}
	if selected("config size") {
		sizeReport = configSize(authgate, dir)
	}
	if selected("reload under load") {
		reloadReport = reloadUnderLoad(authgate, dir, *conns, *duration)
	}
	if *only != "" {
		// A partial run does not overwrite the published report; its
		// sections go to stdout.
		fmt.Print(floodReport + idleReport + sizeReport + reloadReport)
		return
	}

	med := map[string]result{}
	var names []string
	for _, sc := range scenarios {
		med[sc.name] = median(results[sc.name])
		names = append(names, sc.name)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	writeReport(filepath.Join(*out, "performance.md"), names, med, pairedRatio(results), *duration, *rounds, *conns, propagationReport+floodReport+idleReport+sizeReport+reloadReport)
	writeChart(filepath.Join(*out, "performance.svg"), names, med)
	log.Printf("wrote %s and %s", filepath.Join(*out, "performance.md"), filepath.Join(*out, "performance.svg"))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func pinned(cpu int, name string, args ...string) *exec.Cmd {
	c := exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

func stop(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func waitListening(addr string) {
	for range 100 {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("nothing listens on %s", addr)
}

func writeConfig(dir, name, listen, token string) string {
	doc := fmt.Sprintf(`listen: %q
metrics_listen: %q
log:
  format: json
%s
users:
  - username: alice
    password_hash: %q
routes:
  - path: /
    upstream: http://%s
`, listen, metricsAddr, token, aliceHash, upstreamAddr)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

func writeNginx(dir string) string {
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream app { server %[2]s; keepalive 64; }
    upstream gate { server %[3]s; keepalive 64; }
    server {
        listen %[4]s;
        location / {
            auth_request /_authgate;
            auth_request_set $user $upstream_http_x_forwarded_user;
            proxy_set_header X-Forwarded-User $user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
        location = /_authgate {
            internal;
            proxy_pass http://gate/verify/nginx;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }
    }
}
`, dir, upstreamAddr, sideAddr, sutAddr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

func login(addr string) string {
	resp, err := http.PostForm("http://"+addr+"/login", url.Values{"username": {"alice"}, "password": {"alicepassword"}})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		log.Fatalf("login at %s: %d %v", addr, resp.StatusCode, err)
	}
	return out.AccessToken
}

// cpuTicks sums utime+stime of the processes and their children threads.
func cpuTicks(procs []*exec.Cmd) int64 {
	var total int64
	for _, p := range procs {
		for _, pid := range tree(p.Process.Pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// Fields after the parenthesised command name; utime and stime
			// are fields 14 and 15 of the whole line.
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
			u, _ := strconv.ParseInt(fields[11], 10, 64)
			s, _ := strconv.ParseInt(fields[12], 10, 64)
			total += u + s
		}
	}
	return total
}

// tree is pid and its descendants (taskset execs in place, so usually pid).
func tree(pid int) []int {
	pids := []int{pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				pids = append(pids, tree(c)...)
			}
		}
	}
	return pids
}

func peakRSS(procs []*exec.Cmd) int64 {
	var total int64
	for _, p := range procs {
		for _, pid := range tree(p.Process.Pid) {
			f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
					n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
					total += n
				}
			}
			f.Close()
		}
	}
	return total
}

func measure(procs []*exec.Cmd, target, token string, conns int, d time.Duration, headers ...string) result {
	before := cpuTicks(procs)
	w := runWrk(target, token, conns, d, headers...)
	after := cpuTicks(procs)
	r := w
	if len(procs) > 0 && w.requests > 0 {
		r.cpuPerReq = float64(after-before) * (1e6 / clockTicks) / float64(w.requests)
	}
	r.rssKiB = peakRSS(procs)
	return r.result
}

type wrkResult struct {
	result
	requests int64
	// socketErrors sums wrk's connect, read, write and timeout errors.
	socketErrors int64
}

var (
	reqsLine    = regexp.MustCompile(`(\d+) requests in`)
	rpsLine     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	non2xxLine  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	percentLine = regexp.MustCompile(`^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
	socketLine  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(target, token string, conns int, d time.Duration, headers ...string) wrkResult {
	args := []string{"-c", "1", "wrk", "-t", "1", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("taskset", append(args, target)...).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	var w wrkResult
	for _, line := range strings.Split(string(out), "\n") {
		if m := reqsLine.FindStringSubmatch(line); m != nil {
			w.requests, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := rpsLine.FindStringSubmatch(line); m != nil {
			w.rps, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := non2xxLine.FindStringSubmatch(line); m != nil {
			w.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := socketLine.FindStringSubmatch(line); m != nil {
			for _, n := range m[1:] {
				v, _ := strconv.ParseInt(n, 10, 64)
				w.socketErrors += v
			}
		}
		if m := percentLine.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			switch m[3] {
			case "us":
				v /= 1000
			case "s":
				v *= 1000
			}
			if m[1] == "50" {
				w.p50 = v
			} else {
				w.p99 = v
			}
		}
	}
	return w
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{
		rps:       pick(func(r result) float64 { return r.rps }),
		p50:       pick(func(r result) float64 { return r.p50 }),
		p99:       pick(func(r result) float64 { return r.p99 }),
		cpuPerReq: pick(func(r result) float64 { return r.cpuPerReq }),
		rssKiB:    int64(pick(func(r result) float64 { return float64(r.rssKiB) })),
		non2xx:    int64(pick(func(r result) float64 { return float64(r.non2xx) })),
	}
}

// pairedRatio returns a function giving the median, over rounds, of the
// ratio of scenario a's CPU per request to scenario b's in the same round.
// Rounds run minutes apart on a shared machine whose speed drifts; a ratio
// within one round compares runs seconds apart.
func pairedRatio(results map[string][]result) func(a, b string) float64 {
	return func(a, b string) float64 {
		ra, rb := results[a], results[b]
		var ratios []float64
		for i := range min(len(ra), len(rb)) {
			if ra[i].cpuPerReq > 0 && rb[i].cpuPerReq > 0 {
				ratios = append(ratios, ra[i].cpuPerReq/rb[i].cpuPerReq)
			}
		}
		if len(ratios) == 0 {
			return 0
		}
		sort.Float64s(ratios)
		return ratios[len(ratios)/2]
	}
}

func writeReport(path string, names []string, med map[string]result, ratio func(a, b string) float64, d time.Duration, rounds, conns int, extra string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Performance\n\nMeasured by `go run ./bench/cmd/load -duration %s -rounds %d` on %s: the system under test pinned to CPU 0, wrk (1 thread, %d connections) and the upstream pinned to CPU 1; %d interleaved rounds, medians shown. CPU is utime+stime of the measured processes (nginx and authgate together for auth_request) divided by requests served. A ratio is the median over rounds of the ratio within each round, so that the machine's drift between rounds cancels out. Every scenario gets the same request, the bearer token's Authorization header included, so the baselines read the same bytes. Both sides run with the same runtime settings: the environment's GOGC and GOMEMLIMIT, if any, reach every process alike.\n\n", d, rounds, machine(), conns, rounds)
	b.WriteString("| scenario | req/s | p50 ms | p99 ms | CPU µs/req | × bare CPU | peak RSS MiB | non-2xx |\n| --- | --: | --: | --: | --: | --: | --: | --: |\n")
	for _, n := range names {
		r := med[n]
		toBare, cpu, rss := "–", "–", "–"
		if r.cpuPerReq > 0 {
			cpu = fmt.Sprintf("%.1f", r.cpuPerReq)
			toBare = fmt.Sprintf("%.2f", ratio(n, "bare httputil.ReverseProxy"))
			rss = fmt.Sprintf("%.1f", float64(r.rssKiB)/1024)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %s | %s | %s | %d |\n", n, r.rps, r.p50, r.p99, cpu, toBare, rss, r.non2xx)
	}
	b.WriteString("\n![CPU per request](performance.svg)\n\n## Targets\n\n| target | measured | met |\n| --- | --: | --- |\n")
	target := func(what string, got, limit float64) {
		met := "no"
		if got > 0 && got <= limit {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s ≤ %.2f× | %.2f× | %s |\n", what, limit, got, met)
	}
	for _, tg := range targets {
		target(tg.what, ratio(tg.a, tg.b), tg.limit)
	}
	b.WriteString(extra)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

// targets are the CPU ratios the report checks: scenario a's CPU per
// request over b's, at most limit.
var targets = []struct {
	what  string
	a, b  string
	limit float64
}{
	{"proxy, HS256: CPU/req vs bare ReverseProxy", "authgate proxy, HS256", "bare httputil.ReverseProxy", 1.10},
	{"proxy, EdDSA: CPU/req vs bare ReverseProxy", "authgate proxy, EdDSA", "bare httputil.ReverseProxy", 1.15},
	{"proxy, 10,000 routes: CPU/req vs one route", "authgate proxy, HS256, 10,000 routes", "authgate proxy, HS256", 1.05},
	{"proxy, Redis state: CPU/req vs state in process (authgate and redis-server together)", "authgate proxy, HS256, Redis state", "authgate proxy, HS256", 1.03},
	{"/verify: CPU/req vs the upstream alone", "authgate /verify", "upstream alone", 1.5},
	{"proxy over TLS, HS256: CPU/req vs bare TLS ReverseProxy", "authgate proxy, HS256, TLS", "bare httputil.ReverseProxy, TLS", 1.10},
	{"a handshake per request: CPU/req vs bare TLS ReverseProxy", "authgate proxy, HS256, TLS, a handshake per request", "bare httputil.ReverseProxy, TLS, a handshake per request", 1.10},
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")) + fmt.Sprintf(", %d CPUs", countCPUs(b))
		}
	}
	return "unknown machine"
}

func countCPUs(cpuinfo []byte) int { return bytes.Count(cpuinfo, []byte("\nprocessor")) + 1 }

func writeChart(path string, names []string, med map[string]result) {
	var maxCPU float64
	for _, n := range names {
		maxCPU = max(maxCPU, med[n].cpuPerReq)
	}
	const width, barH, gap, left = 760, 26, 10, 250
	height := len(names)*(barH+gap) + 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="20" font-weight="bold">CPU time per request (µs, lower is better)</text>`+"\n")
	for i, n := range names {
		y := 35 + i*(barH+gap)
		v := med[n].cpuPerReq
		w := 0.0
		if maxCPU > 0 {
			w = v / maxCPU * float64(width-left-80)
		}
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+18, escape(n))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#2557d6"/>`+"\n", left, y, w, barH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.1f</text>`+"\n", float64(left)+w+6, y+18, v)
	}
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xmlEscape(&b, s)
	return b.String()
}

func xmlEscape(w io.Writer, s string) error {
	_, err := io.WriteString(w, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s))
	return err
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// idleConnections measures the memory each idle keep-alive connection
// costs: RSS before and after opening n connections that made one request.
func idleConnections(authgate, config string, counts []int) string {
	var b strings.Builder
	b.WriteString("\n## Idle connections\n\nRSS of authgate before and after opening keep-alive connections that each made one request and then stay idle.\n\n| connections | RSS before MiB | RSS after MiB | KiB per connection | ≤ 32 KiB |\n| --: | --: | --: | --: | --- |\n")
	for _, n := range counts {
		g := pinned(0, authgate, "-config", config)
		if err := g.Start(); err != nil {
			log.Fatal(err)
		}
		waitListening(sutAddr)
		before := rss(g.Process.Pid)
		var open []net.Conn
		for range n {
			c, err := net.Dial("tcp", sutAddr)
			if err != nil {
				log.Fatalf("idle connection %d: %v", len(open), err)
			}
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				log.Fatalf("idle connection %d: %v", len(open), err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			open = append(open, c)
		}
		time.Sleep(time.Second)
		after := rss(g.Process.Pid)
		per := float64(after-before) / float64(n)
		log.Printf("idle: %d connections, %.1f KiB each", n, per)
		fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.1f | %s |\n", n, float64(before)/1024, float64(after)/1024, per, yes(per <= 32))
		for _, c := range open {
			c.Close()
		}
		stop(g)
	}
	return b.String()
}

// rss is the current resident set of pid in KiB.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
