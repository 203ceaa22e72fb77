package main

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// etcdSizes is what one record Secret takes in etcd.
type etcdSizes struct {
	recordBytes int // the Secret as the API server stores it (protobuf), with its managed fields
	keyBytes    int // its etcd key, /registry/secrets/<namespace>/<name>
}

// objectSizes encodes one stored record Secret as the API server writes it
// to etcd: Kubernetes protobuf, without the resourceVersion (which is
// etcd's revision, not stored in the value).
func (b *bench) objectSizes(ctx context.Context) (etcdSizes, error) {
	var list corev1.SecretList
	if err := b.big.Client.List(ctx, &list, client.InNamespace(bigNamespace), client.Limit(1)); err != nil {
		return etcdSizes{}, err
	}
	if len(list.Items) == 0 {
		return etcdSizes{}, fmt.Errorf("no record Secret in %s", bigNamespace)
	}
	s := list.Items[0]
	s.ResourceVersion = ""
	s.APIVersion, s.Kind = "v1", "Secret"
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(b.env.Scheme, b.env.Scheme).Encode(&s, &buf); err != nil {
		return etcdSizes{}, err
	}
	return etcdSizes{recordBytes: buf.Len(), keyBytes: len("/registry/secrets/" + s.Namespace + "/" + s.Name)}, nil
}

// etcdSize is the size of etcd's database (testenv.Env.StorageSize).
func (b *bench) etcdSize(ctx context.Context) (int64, error) { return b.env.StorageSize(ctx) }
