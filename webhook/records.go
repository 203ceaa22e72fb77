package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/index"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// RecordSelector selects keygate's record Secrets: labelled as managed by
// keygate and with a record kind, and, when sourceNamespaces is not empty,
// compiled from objects of those namespaces only (the label
// keygate.dev/source-namespace, which the controller sets on every record).
func RecordSelector(sourceNamespaces []string) (labels.Selector, error) {
	managed, err := labels.NewRequirement(record.LabelManagedBy, selection.Equals, []string{record.ManagedByValue})
	if err != nil {
		return nil, err
	}
	kind, err := labels.NewRequirement(record.LabelKind, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	sel := labels.NewSelector().Add(*managed, *kind)
	if len(sourceNamespaces) == 0 {
		return sel, nil
	}
	src, err := labels.NewRequirement(record.LabelSourceNamespace, selection.In, sourceNamespaces)
	if err != nil {
		return nil, fmt.Errorf("source namespaces %q: %w", sourceNamespaces, err)
	}
	return sel.Add(*src), nil
}

// recordFeed keeps the index in step with the record Secrets of keygate's
// namespace: a client-go Reflector lists and watches them (in protobuf)
// and hands each to the index's Store, which compiles it and keeps nothing
// else. There is no informer cache of the Secrets: at 100,000 keys it
// held two thirds of the auth server's memory (docs/scale.md).
type recordFeed struct {
	lw *toolscache.ListWatch
}

func newRecordFeed(cfg *rest.Config, namespace string, sourceNamespaces []string) (*recordFeed, error) {
	sel, err := RecordSelector(sourceNamespaces)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("making a Kubernetes client for the record Secrets: %w", err)
	}
	s := sel.String()
	lw := toolscache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "secrets", namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = s })
	return &recordFeed{lw: lw}, nil
}

// run feeds the index through store until ctx ends; the store's HasSynced
// turns true once the first full list is in.
func (f *recordFeed) run(ctx context.Context, store *index.Store[*ratelimit.Policy]) {
	r := toolscache.NewReflectorWithOptions(f.lw, &corev1.Secret{}, store,
		toolscache.ReflectorOptions{Name: "keygate record Secrets", TypeDescription: "record Secrets"})
	r.RunWithContext(ctx)
}
