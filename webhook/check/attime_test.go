package check

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/keygate-dev/keygate/internal/record"
)

// TestDecideAtTheChecksStart checks that, with no clock of its own, the
// decider judges expiry at Request.At (the instant the transport read the
// clock for the check), to the nanosecond, and reads the clock when At is
// zero.
func TestDecideAtTheChecksStart(t *testing.T) {
	key := "sk_" + strings.Repeat("7", record.SecretLen)
	exp := time.Now().Add(time.Hour)
	rec := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "sdk", UID: "uid-sdk"},
		Subject: "acme", Type: "secret", Prefix: "sk_", ExpiresAt: &exp,
		Keys: []record.KeyHash{{SHA256: record.HashKey(key).String()}}}
	s, err := record.NewSecret("keygate-system", record.KindAPIKey, record.SourceOf(rec), rec)
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(logr.Discard())
	ix.Apply(s)
	d := &Decider{Index: ix}
	for _, tc := range []struct {
		name  string
		at    time.Time
		admit bool
	}{
		{"a nanosecond before expiresAt", exp.Add(-time.Nanosecond), true},
		{"at expiresAt", exp, false},
		{"a day later", exp.Add(24 * time.Hour), false},
		{"zero: the clock, an hour before", time.Time{}, true},
	} {
		r := &Request{Method: http.MethodGet, Path: "/", Header: http.Header{"X-Api-Key": {key}}, At: tc.at}
		v := d.Decide(context.Background(), DefaultOptions, r)
		if v.Allowed() != tc.admit {
			t.Errorf("%s: allowed %v (%s), want %v", tc.name, v.Allowed(), v.Code(), tc.admit)
		}
	}
}
