package controllers

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// statusMemo remembers the last status this process wrote for each object.
// The cache can lag behind the controller's own status write; a reconcile
// in that window (say, woken by the Secret it just created) would otherwise
// write the same status again from a stale copy and lose a conflict. With
// the memo, a status equal to the last one written is not written again.
type statusMemo struct {
	m sync.Map // types.NamespacedName -> memoEntry
}

type memoEntry struct {
	uid  types.UID
	hash [sha256.Size]byte
}

func statusHash(status any) [sha256.Size]byte {
	b, _ := json.Marshal(status) // status types always marshal
	return sha256.Sum256(b)
}

// written reports whether status is the last one written for the object.
func (s *statusMemo) written(key types.NamespacedName, uid types.UID, status any) bool {
	v, ok := s.m.Load(key)
	return ok && v.(memoEntry).uid == uid && v.(memoEntry).hash == statusHash(status)
}

func (s *statusMemo) remember(key types.NamespacedName, uid types.UID, status any) {
	s.m.Store(key, memoEntry{uid: uid, hash: statusHash(status)})
}

func (s *statusMemo) forget(key types.NamespacedName) { s.m.Delete(key) }
