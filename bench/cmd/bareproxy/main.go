// Command bareproxy is the load tests' baseline: an httputil.ReverseProxy
// with no authentication and a keep-alive pool sized for the load.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9102", "address")
	upstream := flag.String("upstream", "http://127.0.0.1:9101", "upstream URL")
	cert := flag.String("cert", "", "PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1) with it and -key")
	key := flag.String("key", "", "PEM private key of -cert")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
	}
	if *cert != "" {
		log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, proxy))
	}
	log.Fatal(http.ListenAndServe(*addr, proxy))
}
