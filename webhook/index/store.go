package index

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// Store is the index as the store of a client-go Reflector that lists and
// watches the record Secrets: each Secret is compiled into the index as it
// arrives and then dropped. Unlike an informer, which keeps a copy of every
// Secret beside what the index compiled from it, nothing but the index
// stays in memory (docs/scale.md measures the difference). While the first
// list streams in (watch-list), the reflector holds each Secret as its
// transformer leaves it: decoded, the record that the index then keeps.
//
// Adds and updates apply the record, deletes remove it, and Replace (the
// first list, and any relist after a lost watch) applies every record
// listed and removes those no longer listed. HasSynced is true from the
// first Replace on.
type Store[P any] struct {
	ix     *Index[P]
	synced atomic.Bool
}

var _ toolscache.TransformingStore = (*Store[struct{}])(nil)

// Store returns a reflector store that feeds ix.
func (ix *Index[P]) Store() *Store[P] { return &Store[P]{ix: ix} }

// HasSynced reports whether the first full list has been applied.
func (s *Store[P]) HasSynced() bool { return s.synced.Load() }

// Add applies a record Secret.
func (s *Store[P]) Add(obj any) error {
	if d := decodedOf(obj); d != nil {
		s.ix.apply(d)
	}
	return nil
}

// Update applies a record Secret's new version.
func (s *Store[P]) Update(obj any) error { return s.Add(obj) }

// Delete removes what a record Secret said.
func (s *Store[P]) Delete(obj any) error {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		s.ix.Remove(m.GetNamespace(), m.GetName())
	}
	return nil
}

// Replace applies every record listed and removes what any other Secret
// said before.
func (s *Store[P]) Replace(list []any, _ string) error {
	listed := make(map[string]bool, len(list))
	for _, obj := range list {
		if d := decodedOf(obj); d != nil {
			listed[d.Namespace+"/"+d.Name] = true
			s.ix.apply(d)
		}
	}
	s.ix.mu.Lock()
	removed := false
	for id := range s.ix.secrets {
		if !listed[id] {
			s.ix.removeLocked(id)
			removed = true
		}
	}
	s.ix.mu.Unlock()
	if removed {
		s.ix.touch()
	}
	s.synced.Store(true)
	return nil
}

// Resync does nothing: the index holds no copy to resync from.
func (s *Store[P]) Resync() error { return nil }

// Transformer is what the reflector applies to each Secret it holds while
// the first list streams in: the Secret is decoded, and only its
// namespace, name, kind and record are kept.
func (s *Store[P]) Transformer() toolscache.TransformFunc {
	return func(obj any) (any, error) {
		if sec, ok := obj.(*corev1.Secret); ok {
			return decode(sec), nil
		}
		return obj, nil
	}
}

// decodedOf is obj decoded: a Secret from a watch or a paginated list, or
// what Transformer made of one; nil for anything else.
func decodedOf(obj any) *decoded {
	switch o := obj.(type) {
	case *corev1.Secret:
		return decode(o)
	case *decoded:
		return o
	}
	return nil
}
