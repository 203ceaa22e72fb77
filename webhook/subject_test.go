package webhook

import (
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// TestSubjectCountersAreQualifiedByIssuer: by: subject counts a JWT
// subject per issuer, apart from ApiKey subjects, so that an IdP whose
// users pick their own sub (or a tenant who names its ApiKey's subject
// after someone) cannot spend another principal's limit; by: sharedSubject
// is the opt-in to one counter per subject text.
func TestSubjectCountersAreQualifiedByIssuer(t *testing.T) {
	h := newHarness(t)
	h.ver.tokens["jwt-a-sdk"] = jwtauth.Identity{Issuer: "https://a.example/", Subject: "sdk-subject"}
	h.ver.tokens["jwt-b-sdk"] = jwtauth.Identity{Issuer: "https://b.example/", Subject: "sdk-subject"}
	for _, p := range []struct{ name, by string }{{"subj", "subject"}, {"shared", "sharedSubject"}} {
		rec := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "acme", Name: p.name},
			Rules: []record.Rule{{Name: "per-subject", Limit: 1, Period: time.Minute, By: p.by}}}
		h.ix.Apply(recordSecret(t, record.KindRateLimitPolicy, "rlp.acme."+p.name, rec))
	}
	steps := []struct {
		policy, hdr, val, want, wantIssuer string
	}{
		// The ApiKey acme/sdk has the subject sdk-subject too.
		{"subj", "X-API-Key", keySecret, "", ""},
		{"subj", "Authorization", "Bearer jwt-a-sdk", "", "https://a.example/"},
		{"subj", "Authorization", "Bearer jwt-b-sdk", "", "https://b.example/"},
		{"subj", "Authorization", "Bearer jwt-a-sdk", check.CodeRateLimited, ""},
		{"subj", "X-API-Key", keySecret, check.CodeRateLimited, ""},
		{"shared", "Authorization", "Bearer jwt-a-sdk", "", "https://a.example/"},
		{"shared", "X-API-Key", keySecret, check.CodeRateLimited, ""},
		{"shared", "Authorization", "Bearer jwt-b-sdk", check.CodeRateLimited, ""},
	}
	for i, s := range steps {
		w := h.do(nginxReq("?policy=acme/"+s.policy, "https://api.acme.com/x", s.hdr, s.val))
		if got := code(t, w); got != s.want {
			t.Fatalf("step %d (%s, %s): %q, want %q", i, s.policy, s.val, got, s.want)
		}
		if got := w.Header().Get("X-Auth-Issuer"); got != s.wantIssuer {
			t.Errorf("step %d: X-Auth-Issuer %q, want %q", i, got, s.wantIssuer)
		}
	}
}
