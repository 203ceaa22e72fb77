package manifests_test

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// revocationConfigMap is the one ConfigMap the auth server's Role reads.
const revocationConfigMap = "keygate-revoked-jtis"

// authServerConfigMapAccess: of the ConfigMaps in keygate's namespace the
// auth server reads only the revocation list, by name (get, and list and
// watch with a metadata.name field selector, as its informer does).
func authServerConfigMapAccess() []access {
	byName := client.MatchingFields{"metadata.name": revocationConfigMap}
	ensure := func(ctx context.Context, name string) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: system}}
		if err := env.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			panic(err)
		}
	}
	return []access{
		{"get the revocation ConfigMap", true, func(ctx context.Context, c client.Client) error {
			ensure(ctx, revocationConfigMap)
			return c.Get(ctx, client.ObjectKey{Namespace: system, Name: revocationConfigMap}, &corev1.ConfigMap{})
		}},
		{"list and watch the revocation ConfigMap by name", true, func(ctx context.Context, c client.Client) error {
			if err := c.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(system), byName); err != nil {
				return err
			}
			w, err := c.(client.WithWatch).Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace(system), byName)
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"get another ConfigMap in keygate-system", false, func(ctx context.Context, c client.Client) error {
			ensure(ctx, "keygate-jwt")
			return c.Get(ctx, client.ObjectKey{Namespace: system, Name: "keygate-jwt"}, &corev1.ConfigMap{})
		}},
		{"list every ConfigMap in keygate-system", false, func(ctx context.Context, c client.Client) error {
			return c.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(system))
		}},
	}
}

// controllerUnusedVerbs: the controller writes only the status of ApiKeys
// and RateLimitPolicies, and never patches a Secret.
func controllerUnusedVerbs() []access {
	mergePatch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"forged":"true"}}}`))
	ak := func() *keygatev1alpha1.ApiKey {
		return &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: tenant}}
	}
	return []access{
		{"update an ApiKey's spec", false, func(ctx context.Context, c client.Client) error {
			a := ak()
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return err
			}
			a.Spec.Subject = "someone-else"
			return c.Update(ctx, a)
		}},
		{"patch an ApiKey", false, func(ctx context.Context, c client.Client) error {
			return c.Patch(ctx, ak(), mergePatch)
		}},
		{"patch a RateLimitPolicy", false, func(ctx context.Context, c client.Client) error {
			return c.Patch(ctx, &keygatev1alpha1.RateLimitPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: tenant}}, mergePatch)
		}},
		{"patch an ApiKey's status", false, func(ctx context.Context, c client.Client) error {
			return c.Status().Patch(ctx, ak(), client.RawPatch(types.MergePatchType, []byte(`{"status":{"keyID":"forged"}}`)))
		}},
		{"patch a Secret", false, func(ctx context.Context, c client.Client) error {
			return c.Patch(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-db", Namespace: tenant}}, mergePatch)
		}},
	}
}
