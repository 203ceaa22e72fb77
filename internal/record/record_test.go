package record

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidAt(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	for _, tc := range []struct {
		name string
		rec  APIKey
		key  KeyHash
		want bool
	}{
		{"no end", APIKey{}, KeyHash{}, true},
		{"key before notAfter", APIKey{}, KeyHash{NotAfter: &future}, true},
		{"key at notAfter", APIKey{}, KeyHash{NotAfter: &now}, false},
		{"key after notAfter", APIKey{}, KeyHash{NotAfter: &past}, false},
		{"disabled", APIKey{Disabled: true}, KeyHash{}, false},
		{"before expiresAt", APIKey{ExpiresAt: &future}, KeyHash{}, true},
		{"at expiresAt", APIKey{ExpiresAt: &now}, KeyHash{}, false},
	} {
		if got := tc.rec.ValidAt(tc.key, now); got != tc.want {
			t.Errorf("%s: ValidAt = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAPIKeyRoundTrip(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	in := APIKey{
		Version: Version, Source: Source{Namespace: "acme", Name: "sdk", UID: "u1"},
		Subject: "acme", Type: "secret", Prefix: "wfx_", Scopes: []string{"events:write"},
		ExpiresAt: &exp, Keys: []KeyHash{{SHA256: HashKey("x").String()}},
	}
	data, sum, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum) != 64 {
		t.Fatalf("data hash %q is not a hex SHA-256", sum)
	}
	if _, sum2, _ := Encode(in); sum2 != sum {
		t.Fatal("Encode is not deterministic, so unchanged records would be rewritten")
	}
	out, err := DecodeAPIKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "acme" || out.Keys[0].SHA256 != in.Keys[0].SHA256 || !out.ExpiresAt.Equal(exp) {
		t.Fatalf("round trip changed the record: %+v", out)
	}
}

func TestDecodeRefusesBadRecords(t *testing.T) {
	good := HashKey("x").String()
	for _, tc := range []struct {
		name, data string
		want       error
	}{
		{"not JSON", `{`, nil},
		{"other version", `{"version":2,"prefix":"sk_","keys":[]}`, ErrUnsupportedVersion},
		{"bad hash", `{"version":1,"prefix":"sk_","keys":[{"sha256":"abc"}]}`, nil},
		{"bad prefix", `{"version":1,"prefix":"SK","keys":[{"sha256":"` + good + `"}]}`, nil},
	} {
		_, err := DecodeAPIKey([]byte(tc.data))
		if err == nil {
			t.Errorf("%s: DecodeAPIKey accepted %s", tc.name, tc.data)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v is not %v", tc.name, err, tc.want)
		}
	}
	for _, data := range []string{
		`{"version":3,"rules":[]}`,
		`{"version":1,"rules":[{"name":"a","limit":0,"period":1000000000,"by":"ip"}]}`,
		`{"version":1,"rules":[{"name":"a","limit":1,"period":0,"by":"ip"}]}`,
	} {
		if _, err := DecodeRateLimitPolicy([]byte(data)); err == nil {
			t.Errorf("DecodeRateLimitPolicy accepted %s", data)
		}
	}
}

func TestSecretName(t *testing.T) {
	if got := SecretName(KindAPIKey, "acme", "sdk"); got != "ak.acme.sdk" {
		t.Errorf("SecretName = %q", got)
	}
	if got := SecretName(KindRateLimitPolicy, "acme", "seed"); got != "rlp.acme.seed" {
		t.Errorf("SecretName = %q", got)
	}
	long := strings.Repeat("n", 253)
	a, b := SecretName(KindAPIKey, "acme", long), SecretName(KindAPIKey, "acme", long[1:]+"m")
	if len(a) > 253 || !strings.HasPrefix(a, "ak.acme.h-") || a == b {
		t.Errorf("long names: %q and %q must be distinct, prefixed and at most 253 characters", a, b)
	}
}
