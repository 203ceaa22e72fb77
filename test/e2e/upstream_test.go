package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// upstream is the protected API: it answers 200 and records every request
// that reaches it.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]http.Header // by request URI
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{seen: map[string]http.Header{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.RequestURI()] = r.Header.Clone()
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("upstream"))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// reached returns the headers of the request with that URI, if it came.
func (u *upstream) reached(uri string) (http.Header, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	h, ok := u.seen[uri]
	return h, ok
}
