package devenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/keygate-dev/keygate/internal/manifest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// readyTimeout bounds each wait of keygate dev.
const readyTimeout = 60 * time.Second

// applySamples applies the samples, waits until the auth server is ready
// and the first generated secret key among them is delivered and accepted,
// also under the sample policy, and returns that key.
func (d *dev) applySamples(ctx context.Context) (string, error) {
	objs, err := manifest.ReadObjects(d.o.Samples)
	if err != nil {
		return "", err
	}
	if err := manifest.Apply(ctx, d.c, objs); err != nil {
		return "", err
	}
	d.progress("applied %d samples from %s", len(objs), d.o.Samples)
	base := "http://" + localAddr(d.o.Addr)
	if err := poll(ctx, "the auth server to be ready", func() bool { return status(base+"/readyz", "") == http.StatusOK }); err != nil {
		return "", err
	}
	ak := firstGeneratedKey(objs)
	if ak == nil {
		return "", fmt.Errorf("no generated secret ApiKey in %s to print a curl line with", d.o.Samples)
	}
	secretName, _, _ := unstructured.NestedString(ak.Object, "spec", "secretName")
	if secretName == "" {
		secretName = ak.GetName()
	}
	var key string
	err = poll(ctx, "the key of ApiKey "+ak.GetNamespace()+"/"+ak.GetName(), func() bool {
		var s corev1.Secret
		if d.c.Get(ctx, client.ObjectKey{Namespace: ak.GetNamespace(), Name: secretName}, &s) != nil {
			return false
		}
		key = string(s.Data["apiKey"])
		// Then as the printed curl line asks, with the policy: asked only
		// once the key is admitted, so that until the policy is loaded
		// nothing is counted against its limits, and then one request.
		return key != "" && status(base+"/check", key) == http.StatusOK &&
			status(base+"/check?policy="+samplePolicy, key) == http.StatusOK
	})
	return key, err
}

// firstGeneratedKey is the first secret ApiKey without keyHashes.
func firstGeneratedKey(objs []*unstructured.Unstructured) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() != "ApiKey" {
			continue
		}
		_, gitops, _ := unstructured.NestedSlice(o.Object, "spec", "keyHashes")
		typ, _, _ := unstructured.NestedString(o.Object, "spec", "type")
		if !gitops && (typ == "" || typ == "secret") {
			return o
		}
	}
	return nil
}

// status is the status of a GET, 0 when it failed.
func status(url, apiKey string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func poll(ctx context.Context, what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// writeKubeconfig writes an admin kubeconfig for the control plane.
func (d *dev) writeKubeconfig() (string, error) {
	u, err := d.env.ControlPlane.AddUser(envtest.User{Name: "keygate-dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(d.o.KubeconfigOut), 0o755); err != nil {
		return "", err
	}
	return d.o.KubeconfigOut, os.WriteFile(d.o.KubeconfigOut, kc, 0o600)
}
