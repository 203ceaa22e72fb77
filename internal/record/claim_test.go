package record

import (
	"testing"
	"time"
)

func TestClaimsBefore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	mk := func(gen bool, created *time.Time, ns, name string) *APIKey {
		return &APIKey{Generated: gen, Source: Source{Namespace: ns, Name: name, CreatedAt: created}}
	}
	for _, tc := range []struct {
		name string
		a, b *APIKey
	}{
		{"generated before an older GitOps key", mk(true, &t1, "z", "z"), mk(false, &t0, "a", "a")},
		{"older first", mk(false, &t0, "z", "z"), mk(false, &t1, "a", "a")},
		{"a record without a time last", mk(false, &t1, "z", "z"), mk(false, nil, "a", "a")},
		{"same time: namespace", mk(false, &t0, "a", "z"), mk(false, &t0, "b", "a")},
		{"same time and namespace: name", mk(false, &t0, "a", "a"), mk(false, &t0, "a", "b")},
	} {
		if !tc.a.ClaimsBefore(tc.b) || tc.b.ClaimsBefore(tc.a) {
			t.Errorf("%s: the order is not strict and in a's favour", tc.name)
		}
	}
}
