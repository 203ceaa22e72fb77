package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

var ten = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// ut is ten + d as a status time.
func ut(d time.Duration) *metav1.Time { return statusTime(ten.Add(d)) }

// TestMergeReportsTakesTheLatestOfEveryReplica: a key used only through
// one replica counts, and of two replicas' times the later wins; a time
// ahead of the controller's clock counts as now.
func TestMergeReportsTakesTheLatestOfEveryReplica(t *testing.T) {
	report := func(keys ...keygatev1alpha1.APIKeyUsage) keygatev1alpha1.UsageReport {
		return keygatev1alpha1.UsageReport{Spec: keygatev1alpha1.UsageReportSpec{APIKeys: keys}}
	}
	use := func(name string, kv ...any) keygatev1alpha1.APIKeyUsage {
		u := keygatev1alpha1.APIKeyUsage{Namespace: "acme", Name: name}
		for i := 0; i+1 < len(kv); i += 2 {
			u.Keys = append(u.Keys, keygatev1alpha1.KeyUsage{KeyID: kv[i].(string), LastUsedAt: *ut(kv[i+1].(time.Duration))})
		}
		return u
	}
	now := ten.Add(time.Hour)
	got := mergeReports([]keygatev1alpha1.UsageReport{
		report(use("sdk", "aaaaaaaaaaaa", 10*time.Minute, "bbbbbbbbbbbb", 5*time.Minute)),
		report(use("sdk", "aaaaaaaaaaaa", 50*time.Minute), use("ci", "cccccccccccc", 3*time.Hour)),
		report(),
	}, now)
	want := map[types.NamespacedName]map[string]time.Time{
		{Namespace: "acme", Name: "sdk"}: {"aaaaaaaaaaaa": ten.Add(50 * time.Minute), "bbbbbbbbbbbb": ten.Add(5 * time.Minute)},
		{Namespace: "acme", Name: "ci"}:  {"cccccccccccc": now},
	}
	if len(got) != len(want) {
		t.Fatalf("mergeReports = %v, want %v", got, want)
	}
	for nn, keys := range want {
		for id, w := range keys {
			if g, ok := got[nn][id]; !ok || !g.Equal(w) || len(got[nn]) != len(keys) {
				t.Fatalf("mergeReports = %v, want %v", got, want)
			}
		}
	}
}

func TestDecideUsage(t *testing.T) {
	const a, b = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
	keys := func(la, lb *metav1.Time) []keygatev1alpha1.KeyStatus {
		return []keygatev1alpha1.KeyStatus{{KeyID: a, Current: true, LastUsedAt: la}, {KeyID: b, LastUsedAt: lb}}
	}
	status := func(last *metav1.Time, ks []keygatev1alpha1.KeyStatus) keygatev1alpha1.ApiKeyStatus {
		return keygatev1alpha1.ApiKeyStatus{KeyID: a, LastUsedAt: last, Keys: ks}
	}
	for _, tc := range []struct {
		name    string
		in      usageInput
		want    *keygatev1alpha1.ApiKeyStatus
		retryAt time.Time
	}{
		{name: "never used: nothing",
			in: usageInput{Status: status(nil, keys(nil, nil)), Now: ten.Add(30 * time.Minute)}},
		{name: "first use: the window's start",
			in:   usageInput{Status: status(nil, keys(nil, nil)), Used: map[string]time.Time{a: ten.Add(20 * time.Minute)}, Now: ten.Add(21 * time.Minute)},
			want: ptr(status(ut(0), keys(ut(0), nil)))},
		{name: "used again in the same window: nothing",
			in: usageInput{Status: status(ut(0), keys(ut(0), nil)), Used: map[string]time.Time{a: ten.Add(50 * time.Minute)}, Now: ten.Add(51 * time.Minute)}},
		{name: "another key in a window already written: waits for the next window",
			in:      usageInput{Status: status(ut(0), keys(ut(0), nil)), Used: map[string]time.Time{a: ten.Add(50 * time.Minute), b: ten.Add(40 * time.Minute)}, Now: ten.Add(51 * time.Minute)},
			retryAt: ten.Add(time.Hour)},
		{name: "the held-back key in the next window",
			in:   usageInput{Status: status(ut(0), keys(ut(0), nil)), Used: map[string]time.Time{a: ten.Add(50 * time.Minute), b: ten.Add(40 * time.Minute)}, Now: ten.Add(61 * time.Minute)},
			want: ptr(status(ut(0), keys(ut(0), ut(0))))},
		{name: "this process wrote in the window: waits",
			in: usageInput{Status: status(ut(0), keys(ut(0), nil)), Used: map[string]time.Time{a: ten.Add(65 * time.Minute)}, Now: ten.Add(70 * time.Minute),
				WroteIn: ten.Add(time.Hour)},
			retryAt: ten.Add(2 * time.Hour)},
		{name: "a use in a new window",
			in:   usageInput{Status: status(ut(0), keys(ut(0), nil)), Used: map[string]time.Time{a: ten.Add(65 * time.Minute)}, Now: ten.Add(70 * time.Minute), WroteIn: ten},
			want: ptr(status(ut(time.Hour), keys(ut(time.Hour), nil)))},
		{name: "never back",
			in: usageInput{Status: status(ut(2*time.Hour), keys(ut(2*time.Hour), nil)), Used: map[string]time.Time{a: ten.Add(10 * time.Minute)}, Now: ten.Add(3 * time.Hour)}},
		{name: "a key id that is not the ApiKey's: nothing",
			in: usageInput{Status: status(nil, keys(nil, nil)), Used: map[string]time.Time{"cccccccccccc": ten}, Now: ten.Add(time.Minute)}},
		{name: "a 15m granularity",
			in:   usageInput{Status: status(nil, keys(nil, nil)), Used: map[string]time.Time{b: ten.Add(20 * time.Minute)}, Now: ten.Add(21 * time.Minute), Granularity: 15 * time.Minute},
			want: ptr(status(ut(15*time.Minute), keys(nil, ut(15*time.Minute))))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Granularity == 0 {
				tc.in.Granularity = time.Hour
			}
			d := decideUsage(tc.in)
			if !equality.Semantic.DeepEqual(d.Status, tc.want) || !d.RetryAt.Equal(tc.retryAt) {
				t.Fatalf("decideUsage = %+v, retry %v\nwant %+v, retry %v", d.Status, d.RetryAt, tc.want, tc.retryAt)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestStatusKeys: the record's keys not past their own end, the current
// one first, each ending at the earlier of its notAfter and expiresAt, and
// keeping its last use across the ApiKey controller's writes.
func TestStatusKeys(t *testing.T) {
	h := func(c byte) string { return repeat(c, 64) }
	grace, gone, expires := ten.Add(time.Hour), ten.Add(-time.Minute), ten.Add(30*time.Minute)
	rec := &record.APIKey{ExpiresAt: &expires, Keys: []record.KeyHash{
		{SHA256: h('a'), NotAfter: &grace}, // in its grace period
		{SHA256: h('b')},                   // current
		{SHA256: h('c'), NotAfter: &gone},  // ended
		{SHA256: h('b')},                   // listed twice
	}}
	old := []keygatev1alpha1.KeyStatus{{KeyID: repeat('a', 12), LastUsedAt: ut(-time.Hour)}, {KeyID: repeat('c', 12), LastUsedAt: ut(-2 * time.Hour)}}
	got := statusKeys(rec, repeat('b', 12), old, ten)
	want := []keygatev1alpha1.KeyStatus{
		{KeyID: repeat('b', 12), Current: true, NotAfter: statusTime(expires)},
		{KeyID: repeat('a', 12), NotAfter: statusTime(expires), LastUsedAt: ut(-time.Hour)},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("statusKeys =\n%+v\nwant\n%+v", got, want)
	}
	if got := statusKeys(nil, "", old, ten); got != nil {
		t.Fatalf("no record: %+v, want none", got)
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
