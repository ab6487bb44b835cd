//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacedResult is what the paced generator reports.
type pacedResult struct {
	Sent, OK, Failed int64
	P50, P99         float64 // ms, from each request's scheduled start
	Rate             float64 // completed per second
}

// runPaced is an open-loop generator: it schedules GETs at a fixed rate
// and measures each from when it was due, not from when it could be sent,
// so a stalled gateway shows up as latency (no coordinated omission). Like
// the flooder it writes raw requests on its own connections, one worker
// each, to keep its own CPU use and jitter low.
func runPaced(target, token string, rate int, d time.Duration) {
	debug.SetGCPercent(400) // the generator's own pauses are not the gateway's latency
	u, err := url.Parse(target)
	if err != nil {
		log.Fatal(err)
	}
	req := []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", u.Path, u.Host, token))
	// Worker k sends requests k, k+workers, k+2·workers, ... each at its
	// due time; a worker still busy with an earlier one sends late, and the
	// lateness counts. 4 ms apart per worker at 4000/s leaves room.
	workers := max(rate/250, 1)
	var mu sync.Mutex
	lat := make([]float64, 0, rate*int(d.Seconds()+1))
	var ok, failed, sent int64
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	total := int64(float64(rate) * d.Seconds())
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := &rawConn{addr: u.Host}
			defer conn.close()
			mine := make([]float64, 0, total/int64(workers)+1)
			var good, bad int64
			for i := int64(k); i < total; i += int64(workers) {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(at))
				status, _ := conn.do(req)
				mine = append(mine, float64(time.Since(at).Microseconds())/1000)
				if status == http.StatusOK {
					good++
				} else {
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			ok, failed, sent = ok+good, failed+bad, sent+good+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Float64s(lat)
	r := pacedResult{Sent: sent, OK: ok, Failed: failed, Rate: float64(ok) / elapsed.Seconds()}
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// floodResult is what the flooder reports.
type floodResult struct {
	Statuses         map[int]int64
	ShedP50, ShedP99 float64 // ms, 429 and 503 answers
	ShedP90, ShedMax float64
	Rate             float64 // answers per second
}

// runFlood is the flooder: conns connections each posting a wrong
// password and, as soon as the answer is in, the next, for d. It writes
// raw requests and reads answers with a plain bufio parser so that it
// needs little of the CPU it shares with the upstream and the paced
// generator.
func runFlood(target string, conns int, d time.Duration) {
	debug.SetGCPercent(400)
	u, err := url.Parse(target)
	if err != nil {
		log.Fatal(err)
	}
	body := "username=alice&password=wrong-password"
	req := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", u.Path, u.Host, len(body), body))
	deadline := time.Now().Add(d)
	type sample struct {
		status int
		ms     float64
	}
	results := make(chan []sample, conns)
	for range conns {
		go func() {
			var mine []sample
			defer func() { results <- mine }()
			conn := &rawConn{addr: u.Host}
			defer conn.close()
			for time.Now().Before(deadline) {
				start := time.Now()
				status, err := conn.do(req)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				mine = append(mine, sample{status, float64(time.Since(start).Microseconds()) / 1000})
			}
		}()
	}
	out := floodResult{Statuses: map[int]int64{}}
	var shed []float64
	var total int64
	for range conns {
		for _, s := range <-results {
			out.Statuses[s.status]++
			total++
			if s.status == http.StatusTooManyRequests || s.status == http.StatusServiceUnavailable {
				shed = append(shed, s.ms)
			}
		}
	}
	sort.Float64s(shed)
	if len(shed) > 0 {
		out.ShedP50, out.ShedP99 = shed[len(shed)/2], shed[len(shed)*99/100]
		out.ShedP90, out.ShedMax = shed[len(shed)*9/10], shed[len(shed)-1]
	}
	out.Rate = float64(total) / d.Seconds()
	json.NewEncoder(os.Stdout).Encode(out)
}

// rawConn is one keep-alive connection that sends prepared requests and
// reads their answers with a plain parser, dialling again after an error.
type rawConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// do sends req and returns the answer's status.
func (r *rawConn) do(req []byte) (int, error) {
	if r.c == nil {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			return 0, err
		}
		r.c, r.br = c, bufio.NewReader(c)
	}
	status, err := r.exchange(req)
	if err != nil {
		r.close()
	}
	return status, err
}

func (r *rawConn) exchange(req []byte) (int, error) {
	if _, err := r.c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func (r *rawConn) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// floodRun is one run of the login-flood scenario.
type floodRun struct {
	quiet, loud pacedResult
	flood       floodResult
}

// loginFlood measures proxied traffic held at a fixed rate, alone and while
// 64 connections hammer /login with wrong passwords as fast as the gateway
// answers them, runs times with a fresh gateway each (the first seconds of
// a flood, while its first wrong passwords are compared, differ from the
// rest, and runs differ more than rounds of the other scenarios). The paced
// generator, the flooder and the upstream share CPU 1; the gateway has
// CPU 0.
func loginFlood(authgate, config string, rate int, d time.Duration, runs int) string {
	var all []floodRun
	for range max(runs, 1) {
		r := floodOnce(authgate, config, rate, d)
		log.Printf("login flood: proxied at %d/s: p99 %.2f → %.2f ms, %.0f → %.0f req/s; /login %v at %.0f/s, shed p50/p90/p99/max %.2f/%.2f/%.2f/%.2f ms",
			rate, r.quiet.P99, r.loud.P99, r.quiet.Rate, r.loud.Rate, r.flood.Statuses, r.flood.Rate, r.flood.ShedP50, r.flood.ShedP90, r.flood.ShedP99, r.flood.ShedMax)
		all = append(all, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Login flood\n\nProxied GETs held at %d per second by an open-loop generator (latency counted from when each request was due), alone and while 64 connections hammer `/login` with wrong passwords, each sending the next as soon as it has an answer; %d runs, each with a fresh gateway. Generator, flooder and upstream share CPU 1; authgate has CPU 0.\n\n", rate, len(all))
	b.WriteString("| run | proxied req/s alone / flooded | p50 ms alone / flooded | p99 ms alone / flooded | `/login` answers per second | 401 / 429 / 503 | shed p50 / p99 ms |\n| --: | --: | --: | --: | --: | --: | --: |\n")
	var p99Ratio, rateRatio, shedP99 []float64
	for i, r := range all {
		st := r.flood.Statuses
		fmt.Fprintf(&b, "| %d | %.0f / %.0f | %.2f / %.2f | %.2f / %.2f | %.0f | %d / %d / %d | %.2f / %.2f |\n", i+1,
			r.quiet.Rate, r.loud.Rate, r.quiet.P50, r.loud.P50, r.quiet.P99, r.loud.P99, r.flood.Rate,
			st[http.StatusUnauthorized], st[http.StatusTooManyRequests], st[http.StatusServiceUnavailable], r.flood.ShedP50, r.flood.ShedP99)
		p99Ratio = append(p99Ratio, r.loud.P99/r.quiet.P99)
		rateRatio = append(rateRatio, r.loud.Rate/r.quiet.Rate)
		shedP99 = append(shedP99, r.flood.ShedP99)
	}
	med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	p, t, sh := med(p99Ratio), med(rateRatio), med(shedP99)
	fmt.Fprintf(&b, "\nA throttled or shed answer is held until the client may retry, at most `login.shed_delay` (1 s): the shed columns show that hold (p99 %.0f ms in the median run). Medians over the runs:\n\n| target | measured | met |\n| --- | --: | --- |\n| proxied p99 with flood ≤ 2× without | %.2f× | %s |\n| proxied throughput with flood ≥ 80%% | %.0f%% | %s |\n",
		sh, p, yes(p <= 2), 100*t, yes(t >= 0.8))
	return b.String()
}

// floodOnce runs the flood scenario against a fresh gateway.
func floodOnce(authgate, config string, rate int, d time.Duration) floodRun {
	g := pinned(0, authgate, "-config", config)
	g.Stderr, _ = os.Create(config + ".flood.log")
	if err := g.Start(); err != nil {
		log.Fatal(err)
	}
	defer stop(g)
	waitListening(sutAddr)
	token := login(sutAddr)
	self, _ := os.Executable()
	paced := func() pacedResult {
		c := pinned(1, self, "-paced", "http://"+sutAddr+"/", "-token", token, "-flood-rate", strconv.Itoa(rate), "-duration", d.String())
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, os.Stderr
		if err := c.Run(); err != nil {
			log.Fatalf("paced generator: %v", err)
		}
		var r pacedResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			log.Fatalf("paced generator: %v %s", err, out.String())
		}
		return r
	}
	runWrk("http://"+sutAddr+"/", token, 32, time.Second) // warm up
	var r floodRun
	r.quiet = paced()

	flooder := pinned(1, self, "-flood", "http://"+sutAddr+"/login", "-duration", (d + time.Second).String())
	var floodOut bytes.Buffer
	flooder.Stdout, flooder.Stderr = &floodOut, os.Stderr
	if err := flooder.Start(); err != nil {
		log.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the flood is in full swing before measuring
	r.loud = paced()
	if err := flooder.Wait(); err != nil {
		log.Fatalf("flooder: %v", err)
	}
	if err := json.Unmarshal(floodOut.Bytes(), &r.flood); err != nil {
		log.Fatalf("flooder: %v %s", err, floodOut.String())
	}
	return r
}
