package chart_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// TestDefaultsMatchKustomize: with default values, the chart renders the
// objects of kustomize build config/default (but the Namespace, which
// helm install --create-namespace or the user makes), with the same
// kind, name and namespace, and the same spec, rules, data and
// selectors. Only labels, the image reference and its pull policy may
// differ. A change to either side that the other lacks fails here.
func TestDefaultsMatchKustomize(t *testing.T) {
	chartObjs := render(t, nil)
	kustObjs := kustomize(t, repoPath("config", "default"))
	var chartIDs, kustIDs []string
	for _, o := range chartObjs {
		chartIDs = append(chartIDs, id(o))
	}
	for _, o := range kustObjs {
		if o.GetKind() != "Namespace" {
			kustIDs = append(kustIDs, id(o))
		}
	}
	slices.Sort(chartIDs)
	slices.Sort(kustIDs)
	if !slices.Equal(chartIDs, kustIDs) {
		t.Fatalf("the chart renders\n  %v\nconfig/default builds\n  %v", chartIDs, kustIDs)
	}
	for _, k := range kustObjs {
		if k.GetKind() == "Namespace" {
			continue
		}
		c := find(t, chartObjs, k.GetKind(), k.GetName())
		want, got := comparable(t, k), comparable(t, c)
		if !reflect.DeepEqual(want, got) {
			wy, _ := yaml.Marshal(want)
			gy, _ := yaml.Marshal(got)
			t.Errorf("%s differs from config/default's.\nchart:\n%s\nconfig/default:\n%s", manifest.Describe(c), gy, wy)
		}
	}
}

func id(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s %s", o.GetAPIVersion(), o.GetNamespace(), o.GetName(), o.GetKind())
}

// comparable is the object without what may differ between the chart and
// kustomize: labels (Helm adds its own), the image and its pull policy;
// the JWT config is compared as the auth server parses it.
func comparable(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	c := o.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "labels")
	unstructured.RemoveNestedField(c.Object, "spec", "template", "metadata", "labels")
	if c.GetKind() == "Deployment" {
		cs, _, _ := unstructured.NestedSlice(c.Object, "spec", "template", "spec", "containers")
		for _, ct := range cs {
			delete(ct.(map[string]any), "image")
			delete(ct.(map[string]any), "imagePullPolicy")
		}
		_ = unstructured.SetNestedSlice(c.Object, cs, "spec", "template", "spec", "containers")
	}
	if c.GetKind() == "ConfigMap" && c.GetName() == "keygate-jwt" {
		raw, _, _ := unstructured.NestedString(c.Object, "data", "jwt.yaml")
		cfg, err := jwtauth.ParseConfig([]byte(raw))
		if err != nil {
			t.Fatalf("the auth server refuses the jwt.yaml of %s: %v", manifest.Describe(o), err)
		}
		parsed, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(c.Object, string(parsed), "data", "jwt.yaml")
	}
	return c.Object
}
