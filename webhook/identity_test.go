package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate-dev/keygate/webhook/check"
)

// TestEveryTransportSetsOrClearsEachIdentityHeader: an admission decides,
// once, for each X-Auth-* header whether the upstream gets keygate's value
// or loses the header. Envoy copies only what an answer has, so over Envoy
// HTTP the answer lists the others in x-envoy-auth-headers-to-remove, and
// over gRPC in headers_to_remove: in every auth mode, auth=none included,
// a client's own X-Auth-Subject can never reach the upstream.
func TestEveryTransportSetsOrClearsEachIdentityHeader(t *testing.T) {
	h := newHarness(t)
	forged := []string{"X-Auth-Subject", "root", "X-Auth-Key-Id", "forged", "X-Auth-Method", "apikey", "X-Auth-Issuer", "forged"}
	cases := []struct {
		name, opts string
		hdr        []string
		wantSet    []string
	}{
		{"api key", "auth=apikey", []string{"X-API-Key", keySecret}, []string{"x-auth-subject", "x-auth-method", "x-auth-key-id", "x-auth-key-type", "x-auth-scopes"}},
		{"jwt", "auth=jwt", []string{"Authorization", "Bearer jwt-user"}, []string{"x-auth-subject", "x-auth-method", "x-auth-scopes", "x-auth-issuer"}},
		{"auth=none", "auth=none", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := append(slices.Clone(forged), tc.hdr...)
			// Envoy HTTP: the options segment and the original path.
			r := httptest.NewRequest(http.MethodGet, "/check;"+tc.opts+"/api/sdk/events", nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Set(hdr[i], hdr[i+1])
			}
			w := h.do(r)
			if w.Code != http.StatusOK {
				t.Fatalf("Envoy HTTP: %d %s", w.Code, w.Body)
			}
			var set []string
			for _, name := range check.UpstreamHeaders {
				if v := w.Header().Get(name); v != "" {
					set = append(set, strings.ToLower(name))
					if v == "root" || v == "forged" {
						t.Errorf("Envoy HTTP: %s carries the client's value %q", name, v)
					}
				}
			}
			var removed []string
			if v := w.Header().Get("X-Envoy-Auth-Headers-To-Remove"); v != "" {
				removed = strings.Split(v, ",")
			}
			expectPartition(t, "Envoy HTTP", set, removed, tc.wantSet)

			// ext_authz gRPC.
			req := envoyCheck("GET", "/api/sdk/events", map[string]string{"auth": strings.TrimPrefix(tc.opts, "auth=")}, hdr...)
			resp, err := (&grpcAuthz{s: h.srv}).Check(context.Background(), req)
			ok := resp.GetOkResponse()
			if err != nil || ok == nil {
				t.Fatalf("gRPC: %v %v", resp, err)
			}
			set = set[:0]
			for _, o := range ok.GetHeaders() {
				set = append(set, o.GetHeader().GetKey())
			}
			expectPartition(t, "gRPC", set, ok.GetHeadersToRemove(), tc.wantSet)
		})
	}
}

// expectPartition checks that set is wantSet and that set and removed
// together are every identity header, each once.
func expectPartition(t *testing.T, via string, set, removed, wantSet []string) {
	t.Helper()
	if !slices.Equal(set, wantSet) {
		t.Errorf("%s: sets %v, want %v", via, set, wantSet)
	}
	all := append(slices.Clone(set), removed...)
	slices.Sort(all)
	var want []string
	for _, n := range check.UpstreamHeaders {
		want = append(want, strings.ToLower(n))
	}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("%s: sets %v and removes %v; together they must be each of %v once", via, set, removed, want)
	}
}

// TestMetricsAreRegisteredOnce: a second auth server registering its
// collectors where another already did is an error, never a silent
// takeover of the first one's series.
func TestMetricsAreRegisteredOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := newServerMetrics(nil).register(reg); err != nil {
		t.Fatal(err)
	}
	err := newServerMetrics(nil).register(reg)
	if err == nil || !strings.Contains(err.Error(), "another auth server") {
		t.Fatalf("second registration: %v, want a clear error", err)
	}
}
