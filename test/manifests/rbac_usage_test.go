package manifests_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/manifest"
)

// podNameClaim is the user extra a pod-bound service-account token
// carries: the name of its pod.
const podNameClaim = "authentication.kubernetes.io/pod-name"

// asPod is as(t, serviceAccount) with a token bound to pod, as the
// kubelet mounts it.
func asPod(t *testing.T, serviceAccount, pod string) client.WithWatch {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + system + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
		Extra:    map[string][]string{podNameClaim: {pod}},
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyReport writes a UsageReport as the auth server does: server-side
// apply, no read.
func applyReport(ctx context.Context, c client.Client, namespace, name string) error {
	r := &keygatev1alpha1.UsageReport{
		TypeMeta:   metav1.TypeMeta{APIVersion: keygatev1alpha1.GroupVersion.String(), Kind: "UsageReport"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: keygatev1alpha1.UsageReportSpec{FlushedAt: metav1.Now(), Interval: metav1.Duration{Duration: time.Minute},
			APIKeys: []keygatev1alpha1.APIKeyUsage{{Namespace: tenant, Name: "k",
				Keys: []keygatev1alpha1.KeyUsage{{KeyID: "0123456789ab", LastUsedAt: metav1.Now()}}}}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
	if err != nil {
		return err
	}
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner("keygate-auth-server"), client.ForceOwnership)
}

// TestAuthServerUsageReportRBAC: with config/rbac and the admission policy
// of config/auth-server applied for real, the auth server, with a token
// bound to its pod, writes its own UsageReport and nothing else new: not
// another pod's report, not one without a pod claim, not one in another
// namespace; it cannot read or delete reports, nor write ApiKeys, their
// status, ConfigMaps or Secrets. The controller reads and deletes reports.
func TestAuthServerUsageReportRBAC(t *testing.T) {
	rbacFixtures(t)
	const own, other = "keygate-auth-server-a", "keygate-auth-server-b"
	a := asPod(t, "keygate-auth-server", own)
	applyUsagePolicy(t, a, other)
	ak := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "k"}}
	checkAccess(t, a, []access{
		{"create its own report", true, func(ctx context.Context, c client.Client) error { return applyReport(ctx, c, system, own) }},
		{"update its own report", true, func(ctx context.Context, c client.Client) error { return applyReport(ctx, c, system, own) }},
		{"write another pod's report", false, func(ctx context.Context, c client.Client) error { return applyReport(ctx, c, system, other) }},
		{"write a report in another namespace", false, func(ctx context.Context, c client.Client) error { return applyReport(ctx, c, tenant, own) }},
		{"read a report", false, func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Namespace: system, Name: own}, &keygatev1alpha1.UsageReport{})
		}},
		{"list reports", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.UsageReportList{}, client.InNamespace(system))
		}},
		{"delete its own report", false, func(ctx context.Context, c client.Client) error {
			return c.Delete(ctx, &keygatev1alpha1.UsageReport{ObjectMeta: metav1.ObjectMeta{Namespace: system, Name: own}})
		}},
		{"patch an ApiKey's status", false, func(ctx context.Context, c client.Client) error {
			return c.Status().Patch(ctx, ak.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"status":{"lastUsedAt":"2026-01-01T00:00:00Z"}}`)))
		}},
		{"create an ApiKey", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Namespace: tenant, Name: "forged"}, Spec: keygatev1alpha1.ApiKeySpec{Subject: "x"}})
		}},
		{"create a ConfigMap in keygate-system", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: system}})
		}},
		{"create a Secret in keygate-system", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: system}})
		}},
	})
	checkAccess(t, as(t, "keygate-auth-server"), []access{
		{"write a report with a token bound to no pod", false, func(ctx context.Context, c client.Client) error {
			return applyReport(ctx, c, system, own)
		}},
	})
	checkAccess(t, as(t, "keygate-controller"), []access{
		{"list and watch reports in keygate-system", true, func(ctx context.Context, c client.Client) error {
			w, err := c.(client.WithWatch).Watch(ctx, &keygatev1alpha1.UsageReportList{}, client.InNamespace(system))
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"delete a report", true, func(ctx context.Context, c client.Client) error {
			return c.Delete(ctx, &keygatev1alpha1.UsageReport{ObjectMeta: metav1.ObjectMeta{Namespace: system, Name: own}})
		}},
		{"write a report", false, func(ctx context.Context, c client.Client) error { return applyReport(ctx, c, system, own) }},
	})
}

// applyUsagePolicy applies config/auth-server's admission policy and waits
// until the API server enforces it: c's write of the report other is
// refused.
func applyUsagePolicy(t *testing.T, c client.Client, other string) {
	t.Helper()
	ctx := context.Background()
	objs := build(t, repoPath("config", "auth-server"))
	policy := []*unstructured.Unstructured{find(t, objs, "ValidatingAdmissionPolicy", "keygate-usage-report"),
		find(t, objs, "ValidatingAdmissionPolicyBinding", "keygate-usage-report")}
	if err := manifest.Apply(ctx, env.Client, policy); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for err := applyReport(ctx, c, system, other); !apierrors.IsForbidden(err); err = applyReport(ctx, c, system, other) {
		if time.Now().After(deadline) {
			t.Fatalf("writing another pod's report: %v, still not Forbidden 30s after the policy was applied", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A report written while the policy was loading is not the test's.
	err := env.Client.Delete(ctx, &keygatev1alpha1.UsageReport{ObjectMeta: metav1.ObjectMeta{Namespace: system, Name: other}})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
