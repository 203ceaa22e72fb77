package webhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/check"
)

// A record names only the prefix of its newest key. A key still in its
// grace period after the ApiKey's prefix changed, and a GitOps hash made
// with another prefix than spec.prefix, are accepted by their hash alone;
// and the old key still ends with its grace.
func TestKeyOfAnotherPrefixIsAcceptedByHash(t *testing.T) {
	h := newHarness(t)
	oldKey, newKey := hexKey("wfx_", '7'), hexKey("abc_", '8')
	rec := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "moved", UID: "uid-moved"},
		Subject: "moved", Type: "secret", Prefix: "abc_", Keys: []record.KeyHash{
			{SHA256: record.HashKey(newKey).String()},
			{SHA256: record.HashKey(oldKey).String(), NotAfter: at(time.Hour)},
		}}
	h.ix.Apply(recordSecret(t, record.KindAPIKey, "ak.acme.moved", rec))

	for _, key := range []string{newKey, oldKey} {
		if w := h.do(nginxReq("", orig, "X-API-Key", key)); w.Code != http.StatusOK {
			t.Fatalf("key %s...: status %d %s, want 200", key[:4], w.Code, w.Body)
		}
	}
	h.clock.SetTime(t0.Add(time.Hour))
	if w := h.do(nginxReq("", orig, "X-API-Key", oldKey)); code(t, w) != check.CodeAuthFailed {
		t.Fatalf("old key after its grace: %d %s, want AUTH_FAILED", w.Code, w.Body)
	}
}
