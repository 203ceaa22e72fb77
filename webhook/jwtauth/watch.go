package jwtauth

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// objKind is the kind of a watched object.
type objKind string

const (
	kindSecret    objKind = "Secret"
	kindConfigMap objKind = "ConfigMap"
)

// objRef names a watched object in keygate's namespace.
type objRef struct {
	kind objKind
	name string
}

func (r objRef) String() string { return string(r.kind) + "/" + r.name }

// watchedObject is one informer, restricted to one object by a
// metadata.name field selector: the auth server may only read Secrets and
// ConfigMaps of its own namespace, and needs no others.
type watchedObject struct {
	informer cache.SharedIndexInformer
	factory  informers.SharedInformerFactory
	stop     chan struct{}
}

// objectWatcher runs one informer per referenced object and lets the
// informers of objects no config references any more go.
type objectWatcher struct {
	client    kubernetes.Interface
	namespace string
	log       logr.Logger
	onChange  func(objRef)

	mu   sync.Mutex
	objs map[objRef]*watchedObject
}

func newObjectWatcher(c kubernetes.Interface, ns string, log logr.Logger, onChange func(objRef)) *objectWatcher {
	return &objectWatcher{client: c, namespace: ns, log: log, onChange: onChange, objs: map[objRef]*watchedObject{}}
}

// ensure starts an informer for each ref that has none yet.
func (w *objectWatcher) ensure(refs []objRef) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ref := range refs {
		if _, ok := w.objs[ref]; ok {
			continue
		}
		o, err := w.start(ref)
		if err != nil {
			return err
		}
		w.objs[ref] = o
	}
	return nil
}

func (w *objectWatcher) start(ref objRef) (*watchedObject, error) {
	if w.client == nil {
		return nil, fmt.Errorf("%s is referenced but the auth server has no Kubernetes client", ref)
	}
	selector := fields.OneTermEqualSelector("metadata.name", ref.name).String()
	factory := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
		informers.WithNamespace(w.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	var inf cache.SharedIndexInformer
	if ref.kind == kindSecret {
		inf = factory.Core().V1().Secrets().Informer()
	} else {
		inf = factory.Core().V1().ConfigMaps().Informer()
	}
	notify := func(any) { w.onChange(ref) }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		return nil, fmt.Errorf("watching %s: %w", ref, err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	return &watchedObject{informer: inf, factory: factory, stop: stop}, nil
}

// waitSynced blocks until the informers of refs have listed once, or ctx
// is done.
func (w *objectWatcher) waitSynced(ctx context.Context, refs []objRef) error {
	w.mu.Lock()
	var synced []cache.InformerSynced
	for _, ref := range refs {
		if o, ok := w.objs[ref]; ok {
			synced = append(synced, o.informer.HasSynced)
		}
	}
	w.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("waiting for %v to be read: %w", refs, context.Cause(ctx))
	}
	return nil
}

// retain stops the informers of every object not in refs.
func (w *objectWatcher) retain(refs []objRef) {
	keep := map[objRef]bool{}
	for _, r := range refs {
		keep[r] = true
	}
	var stopped []*watchedObject
	w.mu.Lock()
	for ref, o := range w.objs {
		if !keep[ref] {
			stopped = append(stopped, o)
			delete(w.objs, ref)
		}
	}
	w.mu.Unlock()
	// Outside the lock: Shutdown waits for event handlers, which may read.
	for _, o := range stopped {
		close(o.stop)
		o.factory.Shutdown()
	}
}

// data returns the object's data and whether it exists. The informer's
// store is read directly, so a synced informer always answers.
func (w *objectWatcher) data(ref objRef) (map[string][]byte, bool) {
	w.mu.Lock()
	o, ok := w.objs[ref]
	w.mu.Unlock()
	if !ok {
		return nil, false
	}
	obj, exists, err := o.informer.GetStore().GetByKey(w.namespace + "/" + ref.name)
	if err != nil || !exists {
		return nil, false
	}
	switch v := obj.(type) {
	case *corev1.Secret:
		return v.Data, true
	case *corev1.ConfigMap:
		out := make(map[string][]byte, len(v.Data)+len(v.BinaryData))
		for k, s := range v.Data {
			out[k] = []byte(s)
		}
		for k, b := range v.BinaryData {
			out[k] = b
		}
		return out, true
	default:
		return nil, false
	}
}
