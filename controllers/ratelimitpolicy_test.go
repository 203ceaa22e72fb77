package controllers

import (
	"context"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

func TestCompilePolicy(t *testing.T) {
	minute := metav1.Duration{Duration: time.Minute}
	p := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "bg", UID: "u1", Labels: map[string]string{"a": "b"}},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{
			{Name: "global", Limit: 100, Period: minute, By: "ip"},
			{Name: "tenant", Limit: 5, Period: metav1.Duration{Duration: 90 * time.Second}, By: "header:x-tenant-id"},
			{Name: "admin-write", Limit: 20, Period: minute, By: "subject", Match: &keygatev1alpha1.RequestMatch{
				Paths: []string{"/api/admin"}, PathPrefixes: []string{"/api/admin/"}, Methods: []keygatev1alpha1.HTTPMethod{"POST", "DELETE"},
				CaseInsensitivePaths: true,
			}},
		}},
	}
	want := &record.RateLimitPolicy{
		Version: record.Version,
		Source:  record.Source{Namespace: "acme", Name: "bg", UID: "u1"}, // labels are not copied
		Rules: []record.Rule{
			{Name: "global", Limit: 100, Period: time.Minute, By: "ip"},
			{Name: "tenant", Limit: 5, Period: 90 * time.Second, By: "header:X-Tenant-Id"},
			{Name: "admin-write", Limit: 20, Period: time.Minute, By: "subject", Paths: []string{"/api/admin"},
				PathPrefixes: []string{"/api/admin/"}, Methods: []string{"POST", "DELETE"}, CaseInsensitivePaths: true},
		},
	}
	got, err := CompilePolicy(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	data, _, err := record.Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := record.DecodeRateLimitPolicy(data); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("the record does not survive its own decoder: %v %+v", err, back)
	}
}

func TestRateLimitPolicyEndToEnd(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, managerOpts(ns), nil)
	ctx := context.Background()
	p := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "breakground"},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{
			{Name: "global", Limit: 100, Period: metav1.Duration{Duration: time.Minute}, By: "ip"},
		}},
	}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: testenv.Namespace, Name: record.SecretName(record.KindRateLimitPolicy, ns, p.Name)}
	waitPolicy := func(what string, cond func(*keygatev1alpha1.RateLimitPolicy, *record.RateLimitPolicy) bool) {
		t.Helper()
		eventually(t, what, func() (bool, error) {
			cur := &keygatev1alpha1.RateLimitPolicy{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), cur); err != nil {
				return false, err
			}
			s, err := getSecret(ctx, env.Client, key)
			if err != nil || s == nil {
				return false, err
			}
			rec, err := record.DecodeRateLimitPolicy(s.Data[record.DataKey])
			if err != nil {
				return false, err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, keygatev1alpha1.ConditionReady)
			ready := c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == cur.Generation
			return ready && s.Labels[record.LabelKind] == record.KindRateLimitPolicy && cond(cur, rec), nil
		})
	}
	waitPolicy("compiled and Ready", func(_ *keygatev1alpha1.RateLimitPolicy, r *record.RateLimitPolicy) bool {
		return len(r.Rules) == 1 && r.Rules[0].Period == time.Minute
	})

	cur := &keygatev1alpha1.RateLimitPolicy{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Rules = append(cur.Spec.Rules, keygatev1alpha1.RateLimitRule{Name: "sdk", Limit: 600, Period: metav1.Duration{Duration: time.Minute}, By: "apiKey"})
	if err := env.Client.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	waitPolicy("recompiled at generation 2", func(p *keygatev1alpha1.RateLimitPolicy, r *record.RateLimitPolicy) bool {
		return p.Generation == 2 && len(r.Rules) == 2 && r.Rules[1].By == "apiKey"
	})

	if err := env.Client.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted policy's record is gone", func() (bool, error) {
		s, err := getSecret(ctx, env.Client, key)
		return s == nil, err
	})
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), cur); !apierrors.IsNotFound(err) {
		t.Fatalf("policy still there: %v", err)
	}
}
