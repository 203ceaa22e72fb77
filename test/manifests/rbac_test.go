package manifests_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keygate-dev/keygate/internal/manifest"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

const (
	system = "keygate-system"
	tenant = "rbac-tenant"
)

// as returns a client that impersonates a service account of keygate's
// namespace, so the RBAC authorizer decides with that account's bindings.
func as(t *testing.T, serviceAccount string) client.WithWatch {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + system + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rbacFixtures applies config/rbac for real and creates what the checks
// touch: a tenant's Secret, a compiled record Secret, and an ApiKey.
func rbacFixtures(t *testing.T) (recordSecret *corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	if err := manifest.Apply(ctx, env.Client, build(t, repoPath("config", "rbac"))); err != nil {
		t.Fatal(err)
	}
	if err := env.CreateNamespace(tenant); err != nil {
		t.Fatal(err)
	}
	rec := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: tenant, Name: "k", UID: "uid-k"}, Subject: "tenant", Type: "secret", Prefix: "sk_"}
	compiled, err := record.NewSecret(system, record.KindAPIKey, rec.Source, rec)
	if err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-db", Namespace: tenant}, StringData: map[string]string{"password": "x"}},
		compiled,
		&keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: tenant}, Spec: keygatev1alpha1.ApiKeySpec{Subject: "tenant"}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return objs[1].(*corev1.Secret)
}

type access struct {
	name    string
	allowed bool
	do      func(ctx context.Context, c client.Client) error
}

func checkAccess(t *testing.T, c client.Client, cases []access) {
	t.Helper()
	for _, tc := range cases {
		err := tc.do(context.Background(), c)
		switch {
		case tc.allowed && err != nil:
			t.Errorf("%s: want allowed, got %v", tc.name, err)
		case !tc.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s: want Forbidden, got %v", tc.name, err)
		}
	}
}

// TestAuthServerRBAC: the auth server reads keygate's compiled Secrets in
// its own namespace, cannot read a Secret anywhere else, and writes
// nothing but its UsageReport.
func TestAuthServerRBAC(t *testing.T) {
	rec := rbacFixtures(t)
	c := as(t, "keygate-auth-server")
	selector := client.MatchingLabels{record.LabelManagedBy: record.ManagedByValue}
	checkAccess(t, c, []access{
		{"list compiled Secrets in keygate-system", true, func(ctx context.Context, c client.Client) error {
			var l corev1.SecretList
			if err := c.List(ctx, &l, client.InNamespace(system), selector); err != nil {
				return err
			}
			if !slices.ContainsFunc(l.Items, func(s corev1.Secret) bool { return s.Name == rec.Name }) {
				t.Errorf("the list of compiled Secrets lacks %s", rec.Name)
			}
			return nil
		}},
		{"watch Secrets in keygate-system", true, func(ctx context.Context, c client.Client) error {
			w, err := c.(client.WithWatch).Watch(ctx, &corev1.SecretList{}, client.InNamespace(system))
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"get a Secret of another namespace", false, func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "tenant-db"}, &corev1.Secret{})
		}},
		{"list Secrets of another namespace", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &corev1.SecretList{}, client.InNamespace(tenant))
		}},
		{"list Secrets of every namespace", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &corev1.SecretList{})
		}},
		{"read ApiKeys", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.ApiKeyList{})
		}},
		{"create a Secret in keygate-system", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: system}})
		}},
		{"update a compiled Secret", false, func(ctx context.Context, c client.Client) error {
			s := rec.DeepCopy()
			s.Labels["forged"] = "true"
			return c.Update(ctx, s)
		}},
		{"delete a compiled Secret", false, func(ctx context.Context, c client.Client) error {
			return c.Delete(ctx, rec.DeepCopy())
		}},
		{"create a ConfigMap in keygate-system", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: system}})
		}},
		{"create an Event", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: system}, InvolvedObject: corev1.ObjectReference{Namespace: system}})
		}},
	})
	checkAccess(t, c, authServerConfigMapAccess())
	checkReadOnlyRules(t, c, system)
	checkReadOnlyRules(t, c, tenant)
}

// checkReadOnlyRules asks the API server for everything the auth server
// may do in a namespace: only get, list and watch, apart from the
// self-review requests every authenticated user may create and, in
// keygate's namespace, writing its UsageReport (TestAuthServerUsageReportRBAC).
func checkReadOnlyRules(t *testing.T, c client.Client, namespace string) {
	t.Helper()
	rr := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}
	if err := c.Create(context.Background(), rr); err != nil {
		t.Fatal(err)
	}
	for _, r := range rr.Status.ResourceRules {
		if slices.Contains(r.APIGroups, "authorization.k8s.io") || slices.Contains(r.APIGroups, "authentication.k8s.io") {
			continue // SelfSubject*Reviews, granted to every user by system:basic-user
		}
		if namespace == system && slices.Equal(r.Resources, []string{"usagereports"}) && slices.Equal(r.Verbs, []string{"create", "patch"}) {
			continue
		}
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("in %s the auth server may %s %v %v", namespace, v, r.APIGroups, r.Resources)
			}
		}
		if namespace != system && slices.Contains(r.Resources, "secrets") {
			t.Errorf("in %s the auth server may %v secrets", namespace, r.Verbs)
		}
	}
}

// TestControllerRBAC: the controller can do its job: read ApiKeys and
// RateLimitPolicies everywhere, write their status, deliver keys to
// Secrets in their namespaces, write compiled Secrets, emit events, and
// hold its leader-election Lease in keygate's namespace (only there).
func TestControllerRBAC(t *testing.T) {
	rbacFixtures(t)
	c := as(t, "keygate-controller")
	checkAccess(t, c, []access{
		{"list ApiKeys everywhere", true, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.ApiKeyList{})
		}},
		{"list RateLimitPolicies everywhere", true, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.RateLimitPolicyList{})
		}},
		{"update an ApiKey's status", true, func(ctx context.Context, c client.Client) error {
			var ak keygatev1alpha1.ApiKey
			if err := c.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "k"}, &ak); err != nil {
				return err
			}
			ak.Status.KeyID = "0123456789ab"
			return c.Status().Update(ctx, &ak)
		}},
		{"create and delete a delivery Secret in a tenant namespace", true, func(ctx context.Context, c client.Client) error {
			return createDelete(ctx, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "delivered", Namespace: tenant}})
		}},
		{"create and delete a compiled Secret", true, func(ctx context.Context, c client.Client) error {
			return createDelete(ctx, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ak.x.y", Namespace: system}})
		}},
		{"create an Event in a tenant namespace", true, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "issued-", Namespace: tenant}, InvolvedObject: corev1.ObjectReference{Namespace: tenant}})
		}},
		{"hold the Lease in keygate-system", true, func(ctx context.Context, c client.Client) error {
			return createDelete(ctx, c, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "keygate-controller", Namespace: system}})
		}},
		{"create a Lease elsewhere", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: tenant}})
		}},
	})
	checkAccess(t, c, controllerUnusedVerbs())
}

// createDelete creates an object and deletes it again (a create is the
// check; the delete too, and keeps the namespace clean).
func createDelete(ctx context.Context, c client.Client, o client.Object) error {
	if err := c.Create(ctx, o); err != nil {
		return err
	}
	return c.Delete(ctx, o)
}
