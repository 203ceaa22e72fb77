package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// The path differential: tricky request lines and Host headers go through
// real nginx (the shipped ingress-nginx sample's configuration) to an
// upstream that records the raw request-target it received. For every
// request that reaches it, the rule keygate counted must be the one the
// upstream's path falls under.
//
// The policy's rules are nested (login within auth within api within
// all; adminkeys within admin), each with a smaller limit than the rules
// around it, and count by X-Probe, which is new for every request: every
// rule that counts has limit-1 left, so the rule the RateLimit-Policy
// header reports (the one with the least left) is the most specific rule
// keygate counted.

type pathRule struct {
	name  string
	limit int64
	exact string // or prefix
	pre   string
	fold  bool
}

var pathRules = []pathRule{
	{name: "all", limit: 1000},
	{name: "api", limit: 500, pre: "/api/"},
	{name: "auth", limit: 100, pre: "/api/auth/"},
	{name: "login", limit: 10, exact: "/api/auth/login"},
	{name: "admin", limit: 50, pre: "/admin/", fold: true},
	{name: "adminkeys", limit: 5, exact: "/admin/keys", fold: true},
}

// under is the most specific rule a router's path p falls under: exact
// paths ignore a trailing slash, fold rules ignore ASCII case (Express).
func under(p string) pathRule {
	best := pathRules[0]
	for _, r := range pathRules[1:] {
		q := p
		if r.fold {
			q = strings.ToLower(q)
		}
		ok := r.pre != "" && strings.HasPrefix(q, r.pre) ||
			r.exact != "" && (q == r.exact || q == r.exact+"/")
		if ok && r.limit < best.limit {
			best = r
		}
	}
	return best
}

// upstreamViews are the paths routers make of a raw request-target:
// net/http's ServeMux (decode once, clean; a # is part of the path),
// Node's (a # starts a fragment) and Tomcat's (drop ; parameters first).
func upstreamViews(target string) []string {
	raw, _, _ := strings.Cut(target, "?")
	if u, err := url.Parse(raw); err == nil && u.IsAbs() {
		raw = u.EscapedPath()
	}
	noFrag, _, _ := strings.Cut(raw, "#")
	var views []string
	for _, p := range []string{raw, noFrag, stripParams(noFrag)} {
		if dec, err := url.PathUnescape(p); err == nil {
			views = append(views, muxClean(dec))
		}
	}
	return views
}

func stripParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return strings.Join(segs, "/")
}

func muxClean(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// probeUpstream records the raw request-target of each request by its
// X-Probe header. It reads HTTP/1.1 itself, as lenient upstreams do:
// net/http would refuse a Host such as api.acme.example:1? with a 400 and
// hide what got through the auth check.
type probeUpstream struct {
	mu     sync.Mutex
	target map[string]string
}

func startProbeUpstream(t *testing.T) (*upstream, *probeUpstream) {
	p := &probeUpstream{target: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	// startNginx needs only the upstream's URL.
	return &upstream{srv: &httptest.Server{URL: "http://" + l.Addr().String()}}, p
}

func (p *probeUpstream) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	parts := strings.Split(strings.TrimRight(line, "\r\n"), " ")
	for {
		h, err := r.ReadString('\n')
		if err != nil || h == "\r\n" || h == "\n" {
			break
		}
		if k, v, ok := strings.Cut(strings.TrimRight(h, "\r\n"), ":"); ok && strings.EqualFold(k, "X-Probe") && len(parts) == 3 {
			p.mu.Lock()
			p.target[strings.TrimSpace(v)] = parts[1]
			p.mu.Unlock()
		}
	}
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream")
}

func (p *probeUpstream) reached(probe string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.target[probe]
	return t, ok
}

// pathCase is one request through nginx: the request-target as sent, and
// the Host header (api.acme.example when empty).
type pathCase struct {
	target, host string
}

func pathCorpus() []pathCase {
	long := "/api/auth/" + strings.Repeat("a", 7000)
	var c []pathCase
	for _, target := range []string{
		"/api/auth/login", "/api/auth/login/", "/api/auth/login//", "/api/auth//login", "//api/auth/login",
		"/api/auth/login?x=1", "/api/auth/login#f", "/api/auth/login;x=1", "/api/auth;x/login", "/api/auth/login;",
		"/api/auth/login%3Bx", "/api/%61uth/login", "/api/auth/logi%6E", "/api/auth%2Flogin", "/api%2fauth/login",
		"/api/auth/login%2F", "/api/%2e%2e/auth/login", "/api/auth/%2e/login", "/api/auth/.%2E/auth/login",
		"/api/%252e%252e/admin/keys", "/api/auth/%2561", "/api/auth/login%", "/api/auth/login%zz", "/api/auth/login%00",
		"/public/../api/auth/login", "/api/x/../auth/login", "/api/auth/./login", "/api/auth/login/.", "/api/auth/login/..",
		"/public/..;/api/auth/login", "/api/auth/..;/login", "/api/.;/auth/login", "/api/auth\\login", "/api/auth%5Clogin",
		"/API/AUTH/LOGIN", "/Api/auth/login", "/admin/keys", "/ADMIN/KEYS", "/Admin/Keys/", "/admin/KEYS;x", "/aDmIn/x",
		"/admin%2Fkeys", "/%61dmin/keys", "/admin/keys%2F", "/api/auth/login%20", "/api/auth/login%09", "/",
		"/api", "/api/", "/apix", "/api/authx/login", "*", "http://api.acme.example/api/auth/login",
		"http://evil.example/api/auth/login", "http://api.acme.example:1?/api/auth/login", long,
	} {
		c = append(c, pathCase{target: target})
	}
	for _, host := range []string{
		"api.acme.example:1?", "api.acme.example:1#", "api.acme.example:1?x", "user@api.acme.example",
		"api.acme.example:80", "API.ACME.EXAMPLE", "api.acme.example.", "[::1]:80", "",
	} {
		c = append(c, pathCase{target: "/api/auth/login", host: "h:" + host})
	}
	return c
}

func TestNginxPathDifferential(t *testing.T) {
	s := getStack(t)
	ns := s.namespace(t, "e2e-paths")
	p := &keygatev1alpha1.RateLimitPolicy{ObjectMeta: metav1.ObjectMeta{Name: "paths", Namespace: ns}}
	for _, r := range pathRules {
		rule := keygatev1alpha1.RateLimitRule{Name: r.name, Limit: r.limit, Period: metav1.Duration{Duration: time.Hour}, By: "header:X-Probe"}
		if r.pre != "" || r.exact != "" {
			rule.Match = &keygatev1alpha1.RequestMatch{CaseInsensitivePaths: r.fold}
			if r.pre != "" {
				rule.Match.PathPrefixes = []string{r.pre}
			} else {
				rule.Match.Paths = []string{r.exact}
			}
		}
		p.Spec.Rules = append(p.Spec.Rules, rule)
	}
	s.waitPolicy(t, p)
	up, probes := startProbeUpstream(t)
	base := startNginx(t, up, routeSpec{Path: "/", Auth: s.authURL, Query: "?auth=none&policy=" + ns + "/paths"})
	addr := strings.TrimPrefix(base, "http://")
	reachedAny := 0
	for i, tc := range pathCorpus() {
		probe := fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i)
		host := "api.acme.example"
		if h, ok := strings.CutPrefix(tc.host, "h:"); ok {
			host = h
		}
		status, policy, body := rawRequest(t, addr, tc.target, host, probe)
		got, reached := probes.reached(probe)
		outcome := describe(status, policy, body, reached)
		if reached {
			reachedAny++
			want := pathRules[0]
			for _, v := range upstreamViews(got) {
				if r := under(v); r.limit < want.limit {
					want = r
				}
			}
			if !strings.HasPrefix(policy, `"`+want.name+`";`) {
				t.Errorf("GET %q Host %q: the upstream got %q (rule %s) but keygate counted %q", short(tc.target), host, short(got), want.name, policy)
			}
		}
		t.Logf("GET %q Host %q -> %s", short(tc.target), host, outcome)
	}
	if reachedAny < 10 {
		t.Fatalf("only %d requests reached the upstream: the differential tested nothing", reachedAny)
	}
}

func describe(status int, policy, body string, reached bool) string {
	switch {
	case reached:
		return fmt.Sprintf("%d, upstream reached, counted %s", status, policy)
	case strings.Contains(body, `"code":"`):
		code := strings.SplitN(strings.SplitN(body, `"code":"`, 2)[1], `"`, 2)[0]
		return fmt.Sprintf("%d %s from keygate", status, code)
	}
	return fmt.Sprintf("%d from nginx, not reached", status)
}

func short(s string) string {
	if len(s) > 60 {
		return s[:40] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// rawRequest writes one request with exactly these bytes and returns the
// status, the RateLimit-Policy header and the body of the answer.
func rawRequest(t *testing.T, addr, target, host, probe string) (status int, policy, body string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\n"
	if host != "" {
		req += "Host: " + host + "\r\n"
	}
	req += "X-Probe: " + probe + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %q Host %q: %v", short(target), host, err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("RateLimit-Policy"), string(b)
}
