// Command bareproxy is the load tests' baseline: an httputil.ReverseProxy
// with no authentication and a keep-alive pool sized for the load; with
// -gc-headroom-mib it also gets authgate's garbage-collector setting, so
// that a comparison can leave that difference out.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/authgate/authgate/gcheadroom"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9102", "address")
	upstream := flag.String("upstream", "http://127.0.0.1:9101", "upstream URL")
	headroom := flag.Uint64("gc-headroom-mib", 0, "keep this much GC headroom, as authgate does (0: Go's default)")
	flag.Parse()
	defer gcheadroom.Start(*headroom << 20).Stop()
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
	}
	log.Fatal(http.ListenAndServe(*addr, proxy))
}
