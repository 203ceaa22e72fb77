package index

import (
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// EventHandler feeds the index from a Secret informer: adds and updates
// apply the record, deletes remove it.
func (ix *Index[P]) EventHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*corev1.Secret); ok {
				ix.Apply(s)
			}
		},
		UpdateFunc: func(_, obj any) {
			if s, ok := obj.(*corev1.Secret); ok {
				ix.Apply(s)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*corev1.Secret); ok {
				ix.Remove(s.Namespace, s.Name)
			}
		},
	}
}
