package testenv

import (
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/keygate-dev/keygate/internal/manifest"
)

// Kustomize runs `kustomize build dir` in-process, as kustomize v5 does,
// and returns the objects it prints.
func Kustomize(tb testing.TB, dir string) []*unstructured.Unstructured {
	tb.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		tb.Fatal(err)
	}
	objs, err := manifest.DecodeObjects(y)
	if err != nil {
		tb.Fatalf("decoding the output of kustomize build %s: %v", dir, err)
	}
	return objs
}

// Warnings collects the API server's warning headers (Pod Security
// violations of a Deployment's pod template arrive as warnings). Set it as
// a rest.Config's WarningHandler.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader records one warning.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// Messages are the warnings received so far.
func (w *Warnings) Messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// Find returns the one object of that kind and name in objs, failing the
// test when there is not exactly one.
func Find(tb testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	tb.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if found != nil {
				tb.Fatalf("two objects %s %s", kind, name)
			}
			found = o
		}
	}
	if found == nil {
		tb.Fatalf("no %s %s among the objects", kind, name)
	}
	return found
}
