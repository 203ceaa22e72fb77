package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/test/testenv"
)

// seriesOf renders apiKeySeries as metric name -> value.
func seriesOf(ak *keygatev1alpha1.ApiKey) map[string]float64 {
	out := map[string]float64{}
	for _, s := range apiKeySeries(ak) {
		name, _, _ := strings.Cut(strings.TrimPrefix(s.desc.String(), `Desc{fqName: "`), `"`)
		out[name] = s.value
	}
	return out
}

func TestAPIKeySeries(t *testing.T) {
	sec := func(d time.Duration) float64 { return float64(at(d).Unix()) }
	ready := metav1.Condition{Type: keygatev1alpha1.ConditionReady, Status: metav1.ConditionTrue}
	unused := metav1.Condition{Type: keygatev1alpha1.ConditionUnused, Status: metav1.ConditionTrue}
	for _, tc := range []struct {
		name string
		ak   keygatev1alpha1.ApiKey
		want map[string]float64
	}{
		{"nothing known yet: not ready", keygatev1alpha1.ApiKey{}, map[string]float64{"keygate_apikey_ready": 0}},
		{"every timestamp", keygatev1alpha1.ApiKey{
			Spec: keygatev1alpha1.ApiKeySpec{ExpiresAt: mt(at(100 * time.Hour))},
			Status: keygatev1alpha1.ApiKeyStatus{
				Conditions: []metav1.Condition{ready, unused}, NextRotationAt: mt(at(50 * time.Hour)), LastUsedAt: mt(at(-2 * time.Hour)),
				Keys: []keygatev1alpha1.KeyStatus{
					{KeyID: "aaaaaaaaaaaa", Current: true, NotAfter: mt(at(100 * time.Hour)), LastUsedAt: mt(at(-3 * time.Hour))},
					{KeyID: "bbbbbbbbbbbb", NotAfter: mt(at(20 * time.Hour))},
					{KeyID: "cccccccccccc", NotAfter: mt(at(10 * time.Hour)), LastUsedAt: mt(at(-2 * time.Hour))},
				},
			},
		}, map[string]float64{
			"keygate_apikey_expiration_timestamp_seconds":    sec(100 * time.Hour),
			"keygate_apikey_next_rotation_timestamp_seconds": sec(50 * time.Hour),
			"keygate_apikey_last_used_timestamp_seconds":     sec(-2 * time.Hour),
			"keygate_apikey_ready":                           1,
			"keygate_apikey_unused":                          1,
			// The old key that ends first, not the current one.
			"keygate_apikey_retiring_key_expiration_timestamp_seconds": sec(10 * time.Hour),
			"keygate_apikey_retiring_key_last_used_timestamp_seconds":  sec(-2 * time.Hour),
		}},
		{"an old key never used has no last use", keygatev1alpha1.ApiKey{Status: keygatev1alpha1.ApiKeyStatus{
			Keys: []keygatev1alpha1.KeyStatus{{KeyID: "bbbbbbbbbbbb", NotAfter: mt(at(20 * time.Hour))}},
		}}, map[string]float64{"keygate_apikey_ready": 0, "keygate_apikey_retiring_key_expiration_timestamp_seconds": sec(20 * time.Hour)}},
	} {
		got := seriesOf(&tc.ak)
		if len(got) != len(tc.want) {
			t.Errorf("%s: series %v, want %v", tc.name, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, got[k], v)
			}
		}
	}
}

// gatherAPIKeys reads reg as metric name -> "namespace/name" -> value.
func gatherAPIKeys(t testing.TB, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if len(labels) != 2 || labels["namespace"] == "" || labels["name"] == "" {
				t.Errorf("%s has labels %v, want namespace and name only", mf.GetName(), labels)
			}
			if out[mf.GetName()] == nil {
				out[mf.GetName()] = map[string]float64{}
			}
			out[mf.GetName()][labels["namespace"]+"/"+labels["name"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestLifecycleAcrossRestart runs the controller as it runs in a cluster
// (a manager, the real clock), restarts it, and reads its metrics from its
// registry: an ApiKey expiring in 5 days gets ExpiringSoon and its
// expiration series; one never used for longer than the (short) unused
// window gets Unused; the restarted controller, made to reconcile both,
// emits neither again; a deleted ApiKey's series are gone.
func TestLifecycleAcrossRestart(t *testing.T) {
	ns := newNamespace(t)
	reg := prometheus.NewRegistry()
	opts := Options{Namespace: testenv.Namespace, ExpiryWarnings: DefaultExpiryWarnings(), UnusedAfter: 2 * time.Second,
		APIKeyMetrics: true, MetricsRegistry: reg}
	stop := startManager(t, opts, nil)
	expires := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	exp := createAPIKey(t, ns, "expiring", keygatev1alpha1.ApiKeySpec{Subject: "acme", ExpiresAt: mt(expires),
		Rotation: &keygatev1alpha1.Rotation{Every: metav1.Duration{Duration: 720 * time.Hour}, GracePeriod: metav1.Duration{Duration: time.Hour}}})
	idle := createAPIKey(t, ns, "idle", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	createAPIKey(t, ns, "off", keygatev1alpha1.ApiKeySpec{Subject: "acme", Disabled: true})
	eventually(t, "ExpiringSoon on expiring and Unused on idle", func() (bool, error) {
		return countEvents(ns, "expiring", EventExpiringSoon) == 1 && countEvents(ns, "idle", EventUnused) == 1, nil
	})
	checkSeries(t, reg, ns, expires, readState(t, exp).ak.Status)
	stop()

	reg2 := prometheus.NewRegistry()
	opts.MetricsRegistry = reg2
	startManager(t, opts, nil)
	// A spec change makes the restarted controller reconcile both; its
	// status write (the new observedGeneration) shows it did.
	for _, ak := range []*keygatev1alpha1.ApiKey{exp, idle} {
		update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.Scopes = []string{"after:restart"} })
	}
	eventually(t, "the restarted controller reconciled both", func() (bool, error) {
		for _, ak := range []*keygatev1alpha1.ApiKey{exp, idle} {
			s := readState(t, ak)
			if r := s.ready(); r == nil || r.ObservedGeneration != s.ak.Generation {
				return false, nil
			}
		}
		return true, nil
	})
	time.Sleep(200 * time.Millisecond) // events follow the status write
	if a, b := countEvents(ns, "expiring", EventExpiringSoon), countEvents(ns, "idle", EventUnused); a != 1 || b != 1 {
		t.Errorf("after the restart: %d ExpiringSoon and %d Unused events, want 1 and 1", a, b)
	}
	if err := env.Client.Delete(context.Background(), exp); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted ApiKey's series gone", func() (bool, error) {
		got := gatherAPIKeys(t, reg2)
		_, stale := got["keygate_apikey_ready"][ns+"/expiring"]
		_, live := got["keygate_apikey_ready"][ns+"/idle"]
		return !stale && live, nil
	})
}

// checkSeries checks the series of TestLifecycleAcrossRestart's ApiKeys.
func checkSeries(t *testing.T, reg *prometheus.Registry, ns string, expires time.Time, st keygatev1alpha1.ApiKeyStatus) {
	t.Helper()
	if st.NextRotationAt == nil {
		t.Fatalf("no nextRotationAt in %+v", st)
	}
	got := gatherAPIKeys(t, reg)
	for _, c := range []struct {
		metric, key string
		want        float64
	}{
		{"keygate_apikey_expiration_timestamp_seconds", ns + "/expiring", float64(expires.Unix())},
		{"keygate_apikey_next_rotation_timestamp_seconds", ns + "/expiring", float64(st.NextRotationAt.Unix())},
		{"keygate_apikey_ready", ns + "/expiring", 1},
		{"keygate_apikey_ready", ns + "/off", 0},
		{"keygate_apikey_unused", ns + "/idle", 1},
	} {
		if v, ok := got[c.metric][c.key]; !ok || v != c.want {
			t.Errorf("%s{%s} = %v (present: %v), want %v", c.metric, c.key, v, ok, c.want)
		}
	}
	for _, absent := range []struct{ metric, key string }{
		{"keygate_apikey_expiration_timestamp_seconds", ns + "/idle"},
		{"keygate_apikey_last_used_timestamp_seconds", ns + "/idle"},
		{"keygate_apikey_unused", ns + "/off"}, // not served: its use is not watched
	} {
		if v, ok := got[absent.metric][absent.key]; ok {
			t.Errorf("%s{%s} = %v, want no series", absent.metric, absent.key, v)
		}
	}
}

// TestAPIKeyMetricsOff: with APIKeyMetrics off (--apikey-metrics=false)
// the controller registers no per-ApiKey series, while the same setup with
// them on exports the ApiKey.
func TestAPIKeyMetricsOff(t *testing.T) {
	ns := newNamespace(t)
	createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", ExpiresAt: mt(time.Now().Add(time.Hour))})
	for _, on := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		stop := startManager(t, Options{Namespace: testenv.Namespace, APIKeyMetrics: on, MetricsRegistry: reg}, nil)
		if !on {
			// Registration is part of Setup: an empty registry now stays empty.
			if got := gatherAPIKeys(t, reg); len(got) != 0 {
				t.Errorf("APIKeyMetrics off: series %v", got)
			}
		} else {
			eventually(t, "the ApiKey's expiration series", func() (bool, error) {
				_, ok := gatherAPIKeys(t, reg)["keygate_apikey_expiration_timestamp_seconds"][ns+"/sdk"]
				return ok, nil
			})
		}
		stop()
	}
}
