// Package manifest reads Kubernetes manifests (YAML files, one or many
// objects each) and applies them server-side, foundations (namespaces,
// CRDs) first. keygate dev applies the samples with it; the tests apply
// and check the shipped manifests with it.
package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the field manager of what is applied.
const FieldOwner = "keygate-dev"

// ReadObjects reads every object of the .yaml and .yml files directly in
// dir (not its subfolders), in file-name order.
func ReadObjects(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml") && e.Name() != "kustomization.yaml" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		got, err := DecodeObjects(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, n), err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// DecodeObjects splits a multi-document YAML stream into objects, skipping
// empty documents. Numbers come out as int64, as from the API server.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		if u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s %s has no apiVersion", u.GetKind(), u.GetName())
		}
		objs = append(objs, u)
	}
}

// Apply applies objects with server-side apply, Namespaces and
// CustomResourceDefinitions first, then the rest in the given order. Extra
// options (client.DryRunAll) are passed to every apply.
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, opts ...client.ApplyOption) error {
	ordered := make([]*unstructured.Unstructured, 0, len(objs))
	for _, first := range []bool{true, false} {
		for _, o := range objs {
			if isFoundation(o) == first {
				ordered = append(ordered, o)
			}
		}
	}
	opts = append([]client.ApplyOption{client.FieldOwner(FieldOwner), client.ForceOwnership}, opts...)
	for _, o := range ordered {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
			return fmt.Errorf("applying %s: %w", Describe(o), err)
		}
	}
	return nil
}

// Describe names an object as kind namespace/name.
func Describe(o *unstructured.Unstructured) string {
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return o.GetKind() + " " + name
}

func isFoundation(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Namespace" ||
		(o.GetKind() == "CustomResourceDefinition" && strings.HasPrefix(o.GetAPIVersion(), "apiextensions.k8s.io/"))
}
