package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// The lifecycle decisions are pure: table tests here, the reconciler with
// the API server in apikey_events_envtest_test.go.

func mt(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

func TestLifecycleOptions(t *testing.T) {
	l := Options{ExpiryWarnings: []time.Duration{24 * time.Hour, 0, 168 * time.Hour, 24 * time.Hour, -time.Hour}, UnusedAfter: -1}.lifecycle()
	if len(l.leads) != 2 || l.leads[0] != 168*time.Hour || l.leads[1] != 24*time.Hour || l.unusedAfter != 0 {
		t.Fatalf("lifecycle() = %+v, want leads [168h 24h] (longest first, positive, once) and unused off", l)
	}
	for d, want := range map[time.Duration]string{168 * time.Hour: "168h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s",
		time.Hour + 30*time.Second: "1h0m30s", 2 * time.Minute: "2m"} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAPIKeyExpiry(t *testing.T) {
	hash := func(notAfter *metav1.Time) keygatev1alpha1.KeyHash {
		return keygatev1alpha1.KeyHash{SHA256: strings.Repeat("a", 64), NotAfter: notAfter}
	}
	for _, tc := range []struct {
		name string
		spec keygatev1alpha1.ApiKeySpec
		want time.Time
		what string
	}{
		{"no end", keygatev1alpha1.ApiKeySpec{}, time.Time{}, ""},
		{"expiresAt", keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(at(time.Hour))}, at(time.Hour), "spec.expiresAt"},
		{"a GitOps hash without notAfter keeps it working", keygatev1alpha1.ApiKeySpec{
			KeyHashes: []keygatev1alpha1.KeyHash{hash(mt(at(time.Hour))), hash(nil)}}, time.Time{}, ""},
		{"every GitOps hash ends: the last one", keygatev1alpha1.ApiKeySpec{
			KeyHashes: []keygatev1alpha1.KeyHash{hash(mt(at(time.Hour))), hash(mt(at(3 * time.Hour)))}}, at(3 * time.Hour), "the last notAfter of spec.keyHashes"},
		{"expiresAt first", keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(at(2 * time.Hour)),
			KeyHashes: []keygatev1alpha1.KeyHash{hash(mt(at(3 * time.Hour)))}}, at(2 * time.Hour), "spec.expiresAt"},
		{"the hashes first", keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(at(4 * time.Hour)),
			KeyHashes: []keygatev1alpha1.KeyHash{hash(mt(at(3 * time.Hour)))}}, at(3 * time.Hour), "the last notAfter of spec.keyHashes"},
	} {
		end, what, ok := apiKeyExpiry(&keygatev1alpha1.ApiKey{Spec: tc.spec})
		if ok != !tc.want.IsZero() || !end.Equal(tc.want) || what != tc.what {
			t.Errorf("%s: apiKeyExpiry = %v, %q, %v; want %v, %q", tc.name, end, what, ok, tc.want, tc.what)
		}
	}
}

func TestExpiringCondition(t *testing.T) {
	l := Options{ExpiryWarnings: DefaultExpiryWarnings()}.lifecycle()
	expiry := at(10 * 24 * time.Hour)
	ak := &keygatev1alpha1.ApiKey{Spec: keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(expiry)}}
	for _, tc := range []struct {
		left time.Duration // before the expiry
		want string        // reason; empty: no condition
	}{
		{169 * time.Hour, ""},
		{168*time.Hour + time.Second, ""},
		{168 * time.Hour, "Within168h"}, // the crossing itself counts
		{5 * 24 * time.Hour, "Within168h"},
		{24*time.Hour + time.Second, "Within168h"},
		{24 * time.Hour, "Within24h"},
		{time.Second, "Within24h"},
		{0, ""}, // expired: Ready says so
		{-time.Hour, ""},
	} {
		c := l.expiring(ak, expiry.Add(-tc.left))
		got := ""
		if c != nil {
			got = c.Reason
			if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, expiry.Format(time.RFC3339)) {
				t.Errorf("%v before: condition %+v, want True with the expiry in its message", tc.left, c)
			}
		}
		if got != tc.want {
			t.Errorf("%v before the expiry: reason %q, want %q", tc.left, got, tc.want)
		}
	}
	if c := (lifecycle{}).expiring(ak, expiry.Add(-time.Hour)); c != nil {
		t.Errorf("with no lead times: %+v, want no condition", c)
	}
	// Within one lead time the message depends on the expiry only, so no
	// reconcile rewrites it.
	if a, b := l.expiring(ak, at(5*24*time.Hour)), l.expiring(ak, at(6*24*time.Hour)); a.Message != b.Message {
		t.Errorf("the message moves with the clock:\n%s\n%s", a.Message, b.Message)
	}
}

func TestUnusedCondition(t *testing.T) {
	l := lifecycle{unusedAfter: 720 * time.Hour}
	now := at(1000 * time.Hour)
	falseSince := func(since time.Time) *metav1.Condition {
		return &metav1.Condition{Type: keygatev1alpha1.ConditionUnused, Status: metav1.ConditionFalse, LastTransitionTime: metav1.Time{Time: since}}
	}
	unusedNow := &metav1.Condition{Type: keygatev1alpha1.ConditionUnused, Status: metav1.ConditionTrue, LastTransitionTime: metav1.Time{Time: now}}
	for _, tc := range []struct {
		name     string
		prev     *metav1.Condition
		lastUsed *metav1.Time
		status   metav1.ConditionStatus
		reason   string
		wake     time.Time
	}{
		{"first look: watching starts now", nil, nil, metav1.ConditionFalse, keygatev1alpha1.ReasonWatching, now.Add(720 * time.Hour)},
		{"watched, never used, not long enough", falseSince(now.Add(-719 * time.Hour)), nil, metav1.ConditionFalse, keygatev1alpha1.ReasonWatching, now.Add(time.Hour)},
		{"watched, never used, long enough", falseSince(now.Add(-720 * time.Hour)), nil, metav1.ConditionTrue, keygatev1alpha1.ReasonNoRecentUse, time.Time{}},
		{"unused and still never used", unusedNow, nil, metav1.ConditionTrue, keygatev1alpha1.ReasonNoRecentUse, time.Time{}},
		{"used recently", falseSince(now.Add(-2000 * time.Hour)), mt(now.Add(-10 * time.Hour)), metav1.ConditionFalse, keygatev1alpha1.ReasonWatching, now.Add(710 * time.Hour)},
		{"used long ago", nil, mt(now.Add(-721 * time.Hour)), metav1.ConditionTrue, keygatev1alpha1.ReasonNoRecentUse, time.Time{}},
		{"unused, then used again", unusedNow, mt(now), metav1.ConditionFalse, keygatev1alpha1.ReasonWatching, now.Add(720 * time.Hour)},
	} {
		c, wake := l.unused(tc.prev, tc.lastUsed, now)
		if c.Type != keygatev1alpha1.ConditionUnused || c.Status != tc.status || c.Reason != tc.reason || !wake.Equal(tc.wake) {
			t.Errorf("%s: %s/%s wake %v, want %s/%s wake %v", tc.name, c.Status, c.Reason, wake, tc.status, tc.reason, tc.wake)
		}
	}
}

func TestSetLifecycleOnlyForServedKeys(t *testing.T) {
	l := Options{ExpiryWarnings: DefaultExpiryWarnings(), UnusedAfter: time.Hour}.lifecycle()
	ak := &keygatev1alpha1.ApiKey{Spec: keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(at(48 * time.Hour))}}
	status := func(reason string) *keygatev1alpha1.ApiKeyStatus {
		s := metav1.ConditionFalse
		if reason == keygatev1alpha1.ReasonCompiled {
			s = metav1.ConditionTrue
		}
		return &keygatev1alpha1.ApiKeyStatus{Conditions: []metav1.Condition{
			{Type: keygatev1alpha1.ConditionReady, Status: s, Reason: reason},
			{Type: keygatev1alpha1.ConditionExpiring, Status: metav1.ConditionTrue, Reason: "Within168h"},
			{Type: keygatev1alpha1.ConditionUnused, Status: metav1.ConditionFalse, Reason: keygatev1alpha1.ReasonWatching, LastTransitionTime: metav1.Time{Time: t0}},
		}}
	}
	for reason, kept := range map[string]bool{
		keygatev1alpha1.ReasonCompiled: true, keygatev1alpha1.ReasonWriteFailed: true, keygatev1alpha1.ReasonSecretConflict: true,
		keygatev1alpha1.ReasonDuplicateKeyHash: true,
		keygatev1alpha1.ReasonDisabled:         false, keygatev1alpha1.ReasonExpired: false, keygatev1alpha1.ReasonNoValidKey: false,
		keygatev1alpha1.ReasonReservedNamespace: false,
	} {
		st := status(reason)
		wake := l.setLifecycle(st, ak, t0)
		exp, unused := meta.FindStatusCondition(st.Conditions, keygatev1alpha1.ConditionExpiring), meta.FindStatusCondition(st.Conditions, keygatev1alpha1.ConditionUnused)
		if got := exp != nil && unused != nil; got != kept {
			t.Errorf("Ready reason %s: Expiring %+v, Unused %+v; want them kept: %v", reason, exp, unused, kept)
		}
		if kept && (!wake.Equal(at(time.Hour)) || unused.Reason != keygatev1alpha1.ReasonWatching) {
			t.Errorf("Ready reason %s: wake %v and Unused %+v, want the unused window's end at t0+1h", reason, wake, unused)
		}
	}
	// Both off: the conditions go.
	st := status(keygatev1alpha1.ReasonCompiled)
	if wake := (lifecycle{}).setLifecycle(st, ak, t0); !wake.IsZero() || len(st.Conditions) != 1 {
		t.Errorf("with the warnings off: wake %v, conditions %+v; want none but Ready", wake, st.Conditions)
	}
}
