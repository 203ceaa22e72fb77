package e2e_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/internal/devenv"
)

// traefikFixture is what the Traefik scenarios share: keygate's samples
// (namespace acme, the ApiKeys acme-sdk and acme-widget, the BreakGround
// policy), the proxy samples pointing at the echo upstream, and one
// Traefik per provider.
type traefikFixture struct {
	s               *stack
	up              *upstream
	run             int // the how-many-th setup in this process (go test -count)
	sdkKey, pubKey  string
	admin, readOnly string // JWTs
	proxies         []*traefikProxy
}

// notReadyHost is the host of a second copy of the proxy samples, whose
// check URLs point at an auth server that never becomes ready; one per
// setup, as the copies of earlier setups (go test -count=N) stay.
func (f *traefikFixture) notReadyHost() string {
	return fmt.Sprintf("notready-%d.acme.example", f.run)
}

var traefikSetups int

func setupTraefik(t *testing.T) *traefikFixture {
	t.Helper()
	start := time.Now()
	bin := traefikBinary(t)
	s := getStack(t)
	traefikSetups++
	f := &traefikFixture{s: s, up: startUpstream(t), run: traefikSetups}
	installTraefikCluster(t, s, traefikDocs(t))
	f.applyKeygateSamples(t)
	f.applyProxySamples(t)
	var err error
	now := time.Now()
	if f.admin, err = devenv.SignDevJWT(s.hmac, "dev-admin", []string{"admin", "read"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.readOnly, err = devenv.SignDevJWT(s.hmac, "dev-reader", []string{"read"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range traefikProviders {
		p := startTraefik(t, s, bin, i)
		f.proxies = append(f.proxies, p)
		f.waitRoutes(t, f.runAs(p, f.ip(i, 99, 0)))
	}
	t.Logf("Traefik suite set up in %s", time.Since(start).Round(time.Millisecond))
	return f
}

// applyKeygateSamples applies config/samples (its top folder, as keygate
// dev does) and waits until the auth server admits the sample keys and
// knows the BreakGround policy.
func (f *traefikFixture) applyKeygateSamples(t *testing.T) {
	t.Helper()
	applyObjects(t, f.s, readSamples(t, ".")...)
	f.sdkKey = f.s.waitDelivered(t, sampleNS, "acme-sdk", "")
	f.s.waitAccepted(t, f.sdkKey, nil)
	f.pubKey = f.s.waitDelivered(t, sampleNS, "acme-widget", "")
	f.s.waitAccepted(t, f.pubKey, []string{"https://app.acme.example"})
	eventually(t, 10*time.Second, "policy acme/breakground loaded", func() bool {
		resp, err := http.Get(f.s.authURL + "/check?auth=none&policy=acme/breakground")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusInternalServerError
	})
}

// applyProxySamples applies the ingress-nginx and Traefik samples twice:
// as they are, with only the auth server's address and the upstream's port
// changed, and as a copy on notReadyHost in a namespace of its own whose
// check URLs reach an auth server that is never ready.
func (f *traefikFixture) applyProxySamples(t *testing.T) {
	t.Helper()
	u, err := url.Parse(f.up.srv.URL)
	must(t, err)
	port, err := strconv.ParseInt(u.Port(), 10, 64)
	must(t, err)
	nginx, traefik := readSamples(t, "ingress-nginx"), readSamples(t, "traefik")
	unready, err := url.Parse(startUnreadyAuthServer(t, f.s))
	must(t, err)
	authAddr, err := url.Parse(f.s.authURL)
	must(t, err)
	for _, tg := range []sampleTarget{
		{namespace: sampleNS, host: sampleHost, auth: authAddr.Host, port: port},
		{namespace: f.s.namespace(t, "acme-notready"), host: f.notReadyHost(), auth: unready.Host, port: port},
	} {
		objs := append([]*unstructured.Unstructured{upstreamService(tg.namespace, port)}, rewriteSamples(t, nginx, tg)...)
		applyObjects(t, f.s, append(objs, rewriteSamples(t, traefik, tg)...)...)
	}
}

// ip is the client address of scenario i through proxy p; alt picks a
// second address for the same scenario. Every setup (go test -count=N)
// has addresses of its own: the rate-limit counts outlive a setup.
func (f *traefikFixture) ip(p, i, alt int) string {
	return fmt.Sprintf("127.%d.%d.%d", 10+f.run%200, 1+p+10*alt, 1+i)
}

func (f *traefikFixture) runAs(p *traefikProxy, ip string) *traefikRun {
	return &traefikRun{f: f, proxy: p, client: clientFrom(ip), ip: ip}
}

// waitRoutes waits until Traefik has read the samples: a request with the
// sample key reaches the upstream, and one for notReadyHost gets the
// unready auth server's 503.
func (f *traefikFixture) waitRoutes(t *testing.T, r *traefikRun) {
	t.Helper()
	poll(t, 30*time.Second, 200*time.Millisecond, "Traefik ("+r.proxy.name+" provider) routing the samples", func() bool {
		if err := r.proxy.exited(); err != nil {
			t.Fatal(err)
		}
		uri := traefikURI("/api/")
		resp, err := r.client.Do(hostRequest(r.proxy.addr, sampleHost, uri, hdr("X-API-Key", f.sdkKey)))
		if err != nil {
			return false
		}
		resp.Body.Close()
		if _, ok := f.up.reached(uri); resp.StatusCode != http.StatusOK || !ok {
			return false
		}
		resp, err = r.client.Do(hostRequest(r.proxy.addr, f.notReadyHost(), "/api/", nil))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
}

// hostRequest is a GET of uri for host at addr.
func hostRequest(addr, host, uri string, h http.Header) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+uri, nil)
	req.Host = host
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}
