package manifests_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/keygate-dev/keygate/internal/manifest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/app"
)

// scopedController is the service account the watch-namespaces bindings
// are applied for here, so that the cluster-wide binding the other RBAC
// tests apply for keygate-controller does not count.
const scopedController = "keygate-controller-scoped"

// TestWatchNamespacesRBAC: with the watch-namespaces component the
// controller's rights end at keygate-system and the namespaces it
// watches, and the controller, run as that account with the component's
// --watch-namespaces, still issues keys there and leaves other namespaces
// alone.
func TestWatchNamespacesRBAC(t *testing.T) {
	objs := build(t, repoPath("test", "manifests", "testdata", "watch-namespaces"))
	watched := watchedNamespaces(t, objs)
	applyScopedBindings(t, objs)
	for _, ns := range append([]string{"team-c"}, watched...) {
		if err := env.CreateNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "team-c-db", Namespace: "team-c"}}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	checkAccess(t, as(t, scopedController), scopedAccess(watched[0]))
	runScopedController(t, watched)
}

// watchedNamespaces checks the component's two lists against each other:
// --watch-namespaces and the RoleBindings, which must name the same
// namespaces (plus keygate-system), and no ClusterRoleBinding is left.
func watchedNamespaces(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	args := argsOf(t, find(t, objs, "Deployment", "keygate-controller"))
	v, ok := flagValue(args, "watch-namespaces")
	if !ok || v == "" {
		t.Fatalf("controller args %v lack --watch-namespaces", args)
	}
	watched := strings.Split(v, ",")
	var bound []string
	for _, o := range objs {
		switch {
		case o.GetKind() == "ClusterRoleBinding" && o.GetName() == "keygate-controller":
			t.Error("the ClusterRoleBinding keygate-controller is still in the build")
		case o.GetKind() == "RoleBinding" && str(o, "roleRef", "name") == "keygate-controller":
			bound = append(bound, o.GetNamespace())
		}
	}
	want := append([]string{system}, watched...)
	slices.Sort(want)
	slices.Sort(bound)
	if !slices.Equal(bound, want) {
		t.Errorf("RoleBindings of keygate-controller in %v, want %v (keygate-system and --watch-namespaces)", bound, want)
	}
	return watched
}

// applyScopedBindings applies the controller's ClusterRole and the
// component's RoleBindings, bound to scopedController instead.
func applyScopedBindings(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	apply := []*unstructured.Unstructured{find(t, objs, "ClusterRole", "keygate-controller")}
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" || str(o, "roleRef", "name") != "keygate-controller" {
			continue
		}
		b := o.DeepCopy()
		b.SetName(scopedController)
		subjects := []any{map[string]any{"kind": "ServiceAccount", "name": scopedController, "namespace": system}}
		if err := unstructured.SetNestedSlice(b.Object, subjects, "subjects"); err != nil {
			t.Fatal(err)
		}
		if err := env.CreateNamespace(b.GetNamespace()); err != nil {
			t.Fatal(err)
		}
		apply = append(apply, b)
	}
	if err := manifest.Apply(context.Background(), env.Client, apply); err != nil {
		t.Fatal(err)
	}
}

func scopedAccess(watched string) []access {
	return []access{
		{"list Secrets in a watched namespace", true, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &corev1.SecretList{}, client.InNamespace(watched))
		}},
		{"create and delete a record in keygate-system", true, func(ctx context.Context, c client.Client) error {
			return createDelete(ctx, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ak.x.scoped", Namespace: system}})
		}},
		{"list ApiKeys in a watched namespace", true, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.ApiKeyList{}, client.InNamespace(watched))
		}},
		{"list Secrets in every namespace", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &corev1.SecretList{})
		}},
		{"get a Secret in an unwatched namespace", false, func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "team-c-db"}, &corev1.Secret{})
		}},
		{"create a Secret in an unwatched namespace", false, func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: "team-c"}})
		}},
		{"list ApiKeys in every namespace", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &keygatev1alpha1.ApiKeyList{})
		}},
	}
}

// runScopedController runs the controller in-process as scopedController
// with --watch-namespaces: a generated key in a watched namespace is
// issued, and an ApiKey in an unwatched one is not touched.
func runScopedController(t *testing.T, watched []string) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + system + ":" + scopedController,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
	}
	o := app.ControllerOptions{
		Options:     controllers.Options{Namespace: system, WatchNamespaces: watched},
		MetricsAddr: "0", ProbeAddr: "0",
	}
	mgr, err := app.NewControllerManager(cfg, o, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	running := app.Start(context.Background(), mgr)
	t.Cleanup(func() {
		if err := running.Stop(); err != nil {
			t.Errorf("stopping the controller: %v", err)
		}
	})
	ctx := context.Background()
	in := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: "sdk", Namespace: watched[0]},
		Spec: keygatev1alpha1.ApiKeySpec{Subject: "team-a", SecretName: "sdk-key"}}
	out := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: "sdk", Namespace: "team-c"},
		Spec: keygatev1alpha1.ApiKeySpec{Subject: "team-c", SecretName: "sdk-key"}}
	for _, ak := range []*keygatev1alpha1.ApiKey{in, out} {
		if err := env.Client.Create(ctx, ak); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, in)
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: watched[0], Name: "sdk-key"}, &corev1.Secret{}); err != nil {
		t.Errorf("the delivery Secret in %s: %v", watched[0], err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(out), out); err != nil {
		t.Fatal(err)
	}
	if len(out.Status.Conditions) != 0 || out.Status.KeyID != "" {
		t.Errorf("the ApiKey in unwatched team-c was touched: %+v", out.Status)
	}
}

func waitReady(t *testing.T, ak *keygatev1alpha1.ApiKey) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(ak), ak); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(ak.Status.Conditions, keygatev1alpha1.ConditionReady) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s not Ready after 30s: %+v", ak.Namespace, ak.Name, ak.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
