package chart_test

import (
	"context"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// restGetter is Helm's view of the cluster (what --kubeconfig gives the
// helm CLI), built from envtest's rest.Config.
type restGetter struct {
	cfg       *rest.Config
	namespace string
}

func (g restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(g.cfg)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}

func (g restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(),
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

func helmConfig(t *testing.T) *action.Configuration {
	t.Helper()
	ac := &action.Configuration{}
	if err := ac.Init(restGetter{cfg: cfg, namespace: namespace}, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return ac
}

// TestHelmInstall installs the chart into a real API server with Helm's
// Go API, as helm install keygate charts/keygate -n keygate-system
// --create-namespace does: the CRDs come from crds/, the Deployments are
// there. An upgrade changes the Deployments; an uninstall removes them
// and, by Helm's convention, keeps the CRDs (and so every ApiKey).
func TestHelmInstall(t *testing.T) {
	ctx := context.Background()
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = apiextensionsv1.AddToScheme(s)
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ac := helmConfig(t)
	inst := action.NewInstall(ac)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = "keygate", namespace, true
	rel, err := inst.Run(loadChart(t), nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release status %s, want deployed", rel.Info.Status)
	}
	wantCRDs(t, c)
	for _, name := range []string{"keygate-controller", "keygate-auth-server"} {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
			t.Fatalf("after helm install: %v", err)
		}
		if d.Annotations["meta.helm.sh/release-name"] != "keygate" {
			t.Errorf("Deployment %s is not owned by the release: %v", name, d.Annotations)
		}
	}

	up := action.NewUpgrade(helmConfig(t))
	up.Namespace = namespace
	if _, err := up.Run("keygate", loadChart(t), values(t, "authServer: {replicas: 3}")); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "keygate-auth-server"}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("after helm upgrade --set authServer.replicas=3 the auth server has %v replicas", d.Spec.Replicas)
	}

	if _, err := action.NewUninstall(helmConfig(t)).Run("keygate"); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	for _, name := range []string{"keygate-controller", "keygate-auth-server"} {
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &appsv1.Deployment{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, Deployment %s: %v, want not found", name, err)
		}
	}
	wantCRDs(t, c)
}

// wantCRDs: keygate's CRDs are in the cluster and established.
func wantCRDs(t *testing.T, c client.Client) {
	t.Helper()
	for _, name := range []string{"apikeys.keygate.dev", "ratelimitpolicies.keygate.dev"} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, &crd); err != nil {
			t.Fatalf("CRD %s: %v", name, err)
		}
		established := false
		for _, cond := range crd.Status.Conditions {
			established = established || (cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue)
		}
		if !established {
			t.Errorf("CRD %s is not established", name)
		}
	}
}
