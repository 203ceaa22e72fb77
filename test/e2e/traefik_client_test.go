package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// traefikRun is one scenario through one Traefik, from a client address
// of its own: the BreakGround sample limits every address to 100 requests
// a minute, and a scenario's requests must neither spend another's budget
// nor be refused for another's. Loopback is all of 127.0.0.0/8, so each
// client binds its own source address and Traefik, and keygate through
// Traefik's X-Forwarded-For, see that address.
type traefikRun struct {
	f      *traefikFixture
	proxy  *traefikProxy
	client *http.Client // from ip
	other  *http.Client // from another address
	ip     string
}

// clientFrom is an HTTP client whose connections leave from ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// send sends a request for host through Traefik and returns the response
// with its body read.
func (r *traefikRun) send(t *testing.T, c *http.Client, host, uri string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+r.proxy.addr+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s) through Traefik: %v", uri, host, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// get sends a request for the sample's host from the scenario's address.
func (r *traefikRun) get(t *testing.T, uri string, h http.Header) (*http.Response, string) {
	t.Helper()
	return r.send(t, r.client, sampleHost, uri, h)
}

// pass expects the request at the upstream and returns what it got.
func (r *traefikRun) pass(t *testing.T, uri string, h http.Header) http.Header {
	t.Helper()
	return r.passVia(t, r.client, uri, h)
}

func (r *traefikRun) passVia(t *testing.T, c *http.Client, uri string, h http.Header) http.Header {
	t.Helper()
	resp, body := r.send(t, c, sampleHost, uri, h)
	if resp.StatusCode != http.StatusOK || body != "upstream" {
		t.Fatalf("GET %s: %d %q, want 200 from the upstream", uri, resp.StatusCode, body)
	}
	got, ok := r.f.up.reached(uri)
	if !ok {
		t.Fatalf("GET %s was answered 200 but did not reach the upstream", uri)
	}
	return got
}

// refuse expects the refusal for host, as the client sees it, and checks
// that the request never reached the upstream.
func (r *traefikRun) refuse(t *testing.T, host, uri string, h http.Header, status int, code string) *http.Response {
	t.Helper()
	resp, body := r.send(t, r.client, host, uri, h)
	expectRefused(t, resp, body, status, code)
	if _, ok := r.f.up.reached(uri); ok {
		t.Errorf("refused request %s reached the upstream", uri)
	}
	return resp
}

var traefikSeq atomic.Int64

// traefikURI is a request URI under prefix that no other request uses, so the
// upstream's record says whether this one request reached it.
func traefikURI(prefix string) string {
	return fmt.Sprintf("%streq-%d-%d", prefix, time.Now().UnixNano(), traefikSeq.Add(1))
}

// poll calls ok every interval until it holds or timeout passes. The
// interval is longer than eventually's: every request through Traefik
// counts against the scenario address's budget.
func poll(t *testing.T, timeout, interval time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(interval)
	}
}
