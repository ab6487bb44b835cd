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
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				log.Fatal(err)
			}
			br := bufio.NewReader(c)
			defer func() { c.Close() }()
			mine := make([]float64, 0, total/int64(workers)+1)
			var good, bad int64
			for i := int64(k); i < total; i += int64(workers) {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(at))
				status := 0
				if c == nil {
					if c, err = net.Dial("tcp", u.Host); err == nil {
						br = bufio.NewReader(c)
					} else {
						c = nil
					}
				}
				if c != nil {
					if status, err = writeRead(c, br, req); err != nil {
						c.Close()
						c = nil
					}
				}
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
			var c net.Conn
			var br *bufio.Reader
			for time.Now().Before(deadline) {
				if c == nil {
					if c, err = net.Dial("tcp", u.Host); err != nil {
						time.Sleep(time.Millisecond)
						c = nil
						continue
					}
					br = bufio.NewReader(c)
				}
				start := time.Now()
				resp, err := writeRead(c, br, req)
				if err != nil {
					c.Close()
					c = nil
					continue
				}
				mine = append(mine, sample{resp, float64(time.Since(start).Microseconds()) / 1000})
			}
			if c != nil {
				c.Close()
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
	}
	out.Rate = float64(total) / d.Seconds()
	json.NewEncoder(os.Stdout).Encode(out)
}

// writeRead sends one request and reads its answer, returning the status.
func writeRead(c net.Conn, br *bufio.Reader, req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// loginFlood measures proxied traffic held at a fixed rate, alone and while
// 64 connections hammer /login with wrong passwords as fast as the gateway
// answers them. The paced generator, the flooding wrk and the upstream
// share CPU 1; the gateway has CPU 0.
func loginFlood(authgate, config string, rate int, d time.Duration) string {
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
	quiet := paced()

	flooder := pinned(1, self, "-flood", "http://"+sutAddr+"/login", "-duration", (d + time.Second).String())
	var floodOut bytes.Buffer
	flooder.Stdout, flooder.Stderr = &floodOut, os.Stderr
	if err := flooder.Start(); err != nil {
		log.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the flood is in full swing before measuring
	loud := paced()
	if err := flooder.Wait(); err != nil {
		log.Fatalf("flooder: %v", err)
	}
	var f floodResult
	if err := json.Unmarshal(floodOut.Bytes(), &f); err != nil {
		log.Fatalf("flooder: %v %s", err, floodOut.String())
	}
	var codes []int
	for c := range f.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	statuses, floodRate, shedP50, shedP99 := f.Statuses, f.Rate, f.ShedP50, f.ShedP99
	log.Printf("login flood: proxied at %d/s: p99 %.2f → %.2f ms, %.0f → %.0f req/s; /login %v at %.0f/s, p99 %.2f ms",
		rate, quiet.P99, loud.P99, quiet.Rate, loud.Rate, statuses, floodRate, shedP99)

	var b strings.Builder
	fmt.Fprintf(&b, "\n## Login flood\n\nProxied GETs held at %d per second by an open-loop generator (latency counted from when each request was due), alone and while 64 connections hammer `/login` with wrong passwords, each sending the next as soon as it has an answer. Generator, flooder and upstream share CPU 1; authgate has CPU 0.\n\n", rate)
	b.WriteString("| | proxied req/s | p50 ms | p99 ms | failed |\n| --- | --: | --: | --: | --: |\n")
	fmt.Fprintf(&b, "| without flood | %.0f | %.2f | %.2f | %d |\n| with flood | %.0f | %.2f | %.2f | %d |\n", quiet.Rate, quiet.P50, quiet.P99, quiet.Failed, loud.Rate, loud.P50, loud.P99, loud.Failed)
	fmt.Fprintf(&b, "\n`/login` answered %.0f requests per second during the flood: ", floodRate)
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d × %d", statuses[c], c)
	}
	fmt.Fprintf(&b, "; the shed answers (429, 503) took %.2f ms at the median and %.2f ms at p99, the wait of `login.shed_delay` included.\n\n", shedP50, shedP99)
	fmt.Fprintf(&b, "| target | measured | met |\n| --- | --: | --- |\n| proxied p99 with flood ≤ 2× without | %.2f× | %s |\n| proxied throughput with flood ≥ 80%% | %.0f%% | %s |\n| shed in under 10 ms (p99) | %.2f ms | %s |\n",
		loud.P99/quiet.P99, yes(loud.P99 <= 2*quiet.P99), 100*loud.Rate/quiet.Rate, yes(loud.Rate >= 0.8*quiet.Rate), shedP99, yes(shedP99 < 10))
	return b.String()
}
