// Package index is the auth server's in-memory view of keygate's compiled
// record Secrets: API keys by the SHA-256 of the key, and rate-limit
// policies by namespace/name, compiled once per record change.
//
// It is fed incrementally, one record Secret at a time, by a reflector
// whose store it is (Store: Apply, Remove) and read on every check
// (Lookup, Policies). A record that fails to
// decode or compile is logged, counted, and treated as absent: the server
// fails closed.
package index

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/keygate-dev/keygate/internal/record"
)

// Key is one compiled ApiKey record with what an answer needs, prepared
// once so that admitting a request allocates nothing.
type Key struct {
	Record *record.APIKey
	// UID of the ApiKey resource: its current and grace keys share it.
	UID string
	// Upstream header values, each a one-element slice that is never
	// appended to (capacity 1), so they can be put in a response header map
	// as they are.
	SubjectHeader []string
	TypeHeader    []string
	ScopesHeader  []string
}

// Entry is one accepted key hash.
type Entry struct {
	Key      *Key
	Hash     record.KeyHash
	KeyID    string
	KeyIDHdr []string
	// LastUsed is when the key was last admitted, in coarse unix seconds
	// (0: not since the auth server started). webhook/usage keeps it: it
	// is loaded first and stored only when it moves forward, so that a hot
	// key does not bounce the cache line between cores.
	LastUsed atomic.Int64
}

// Compiler turns a policy record into the limiter's form.
type Compiler[P any] func(*record.RateLimitPolicy) (P, error)

// Index holds the records. The zero value is not usable; call New.
type Index[P any] struct {
	compile Compiler[P]
	log     logr.Logger

	mu       sync.RWMutex
	entries  map[record.Hash][]*Entry // first claimant first
	secrets  map[string]secretState   // Secret namespace/name -> what it added
	policies map[string]P             // "ns/name" -> compiled policy

	policyGen    atomic.Uint64
	decodeErrors atomic.Uint64
	misnamed     atomic.Uint64
	lastUpdate   atomic.Int64 // unix nanoseconds
	keyCount     atomic.Int64
	policyCount  atomic.Int64
}

type secretState struct {
	key    *Key // set for an ApiKey record
	hashes []record.Hash
	policy string // set for a policy record
}

// New makes an empty index that compiles policies with compile.
func New[P any](compile Compiler[P], log logr.Logger) *Index[P] {
	return &Index[P]{
		compile:  compile,
		log:      log,
		entries:  map[record.Hash][]*Entry{},
		secrets:  map[string]secretState{},
		policies: map[string]P{},
	}
}

// Lookup returns the entry of a key hash. A hash listed by more than one
// ApiKey belongs to its first claimant (record.APIKey.ClaimsBefore), the
// same one the controller keeps serving; the others' entries wait behind it.
func (ix *Index[P]) Lookup(h record.Hash) (*Entry, bool) {
	ix.mu.RLock()
	es := ix.entries[h]
	ix.mu.RUnlock()
	if len(es) == 0 {
		return nil, false
	}
	return es[0], true
}

// AppendEntries appends to dst the entry that answers for each key hash
// (its first claimant), for a reader that visits every key, such as the
// usage report. The read lock is held only while the pointers are copied.
func (ix *Index[P]) AppendEntries(dst []*Entry) []*Entry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, es := range ix.entries {
		dst = append(dst, es[0])
	}
	return dst
}

// PolicyGeneration changes whenever a policy is added, changed or removed,
// so callers can cache resolved policy lists.
func (ix *Index[P]) PolicyGeneration() uint64 { return ix.policyGen.Load() }

// Policies appends the compiled policies named (each "ns/name") to dst. When
// one is not loaded it returns its name as missing.
func (ix *Index[P]) Policies(names []string, dst []P) (out []P, missing string) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, n := range names {
		p, ok := ix.policies[n]
		if !ok {
			return dst, n
		}
		dst = append(dst, p)
	}
	return dst, ""
}

// Stats are the index's gauges.
type Stats struct {
	Keys, Policies int64
	DecodeErrors   uint64
	// MisnamedRecords counts record Secrets ignored because their name is
	// not the one the controller gives their source.
	MisnamedRecords uint64
	LastUpdate      time.Time
}

// Stats reports what is loaded.
func (ix *Index[P]) Stats() Stats {
	s := Stats{Keys: ix.keyCount.Load(), Policies: ix.policyCount.Load(), DecodeErrors: ix.decodeErrors.Load(),
		MisnamedRecords: ix.misnamed.Load()}
	if n := ix.lastUpdate.Load(); n != 0 {
		s.LastUpdate = time.Unix(0, n)
	}
	return s
}

// Apply adds or replaces what one record Secret says. A Secret that is not
// a valid record removes what it said before.
func (ix *Index[P]) Apply(s *corev1.Secret) { ix.apply(decode(s)) }

// Remove forgets what the Secret namespace/name said.
func (ix *Index[P]) Remove(namespace, name string) {
	ix.mu.Lock()
	ix.removeLocked(namespace + "/" + name)
	ix.mu.Unlock()
	ix.touch()
}

// named reports whether the record Secret d has the name the controller
// gives the record of src, and src is not in keygate's own namespace (the
// controller compiles nothing there). A record copied or created under
// another name is ignored: it would otherwise add a second claim, or a
// policy, that no source of its own stands behind.
func (ix *Index[P]) named(d *decoded, src record.Source) bool {
	kind := d.kind
	if d.Name == record.SecretName(kind, src.Namespace, src.Name) && src.Namespace != d.Namespace {
		return true
	}
	ix.misnamed.Add(1)
	id := d.Namespace + "/" + d.Name
	ix.log.Error(nil, "ignoring a record Secret whose name is not the one keygate gives its source; only keygate's controller should write Secrets in this namespace",
		"secret", id, "kind", kind, "sourceNamespace", src.Namespace, "sourceName", src.Name)
	ix.mu.Lock()
	ix.removeLocked(id)
	ix.mu.Unlock()
	ix.touch()
	return false
}

func (ix *Index[P]) fail(id, kind string, err error) {
	ix.decodeErrors.Add(1)
	ix.log.Error(err, "ignoring record Secret that cannot be used; its keys and policies are refused", "secret", id, "kind", kind)
	ix.mu.Lock()
	ix.removeLocked(id)
	ix.mu.Unlock()
	ix.touch()
}

func (ix *Index[P]) putKey(id string, rec *record.APIKey) {
	k := &Key{
		Record:        rec,
		UID:           rec.Source.UID,
		SubjectHeader: []string{rec.Subject},
		TypeHeader:    []string{rec.Type},
		ScopesHeader:  []string{strings.Join(rec.Scopes, " ")},
	}
	st := secretState{key: k, hashes: make([]record.Hash, 0, len(rec.Keys))}
	news := make([]*Entry, 0, len(rec.Keys))
	for _, kh := range rec.Keys {
		h, _ := record.ParseHash(kh.SHA256) // checked by DecodeAPIKey
		if contains(st.hashes, h) {
			continue // listed twice in one record: one entry
		}
		id := h.KeyID()
		news = append(news, &Entry{Key: k, Hash: kh, KeyID: id, KeyIDHdr: []string{id}})
		st.hashes = append(st.hashes, h)
	}
	ix.mu.Lock()
	keepLastUsed(ix.entries, ix.secrets[id].key, st.hashes, news)
	ix.removeLocked(id)
	for i, h := range st.hashes {
		ix.entries[h] = insertClaim(ix.entries[h], news[i])
		if len(ix.entries[h]) > 1 {
			ix.log.Info("a key hash is listed by more than one ApiKey; its first claimant keeps it",
				"keyId", news[i].KeyID, "claimants", len(ix.entries[h]))
		}
	}
	ix.secrets[id] = st
	ix.keyCount.Add(int64(len(st.hashes)))
	ix.mu.Unlock()
	ix.touch()
}

func (ix *Index[P]) putPolicy(id, name string, p P) {
	ix.mu.Lock()
	ix.removeLocked(id)
	if _, dup := ix.policies[name]; dup {
		ix.log.Info("two record Secrets name the same policy; the later one wins", "policy", name, "secret", id)
	} else {
		ix.policyCount.Add(1)
	}
	ix.policies[name] = p
	ix.secrets[id] = secretState{policy: name}
	ix.policyGen.Add(1)
	ix.mu.Unlock()
	ix.touch()
}

// removeLocked undoes what Secret id added. Caller holds mu.
func (ix *Index[P]) removeLocked(id string) {
	st, ok := ix.secrets[id]
	if !ok {
		return
	}
	delete(ix.secrets, id)
	if st.policy != "" {
		if _, ok := ix.policies[st.policy]; ok {
			delete(ix.policies, st.policy)
			ix.policyCount.Add(-1)
		}
		ix.policyGen.Add(1)
		return
	}
	for _, h := range st.hashes {
		ix.entries[h] = dropKey(ix.entries[h], st.key)
		if len(ix.entries[h]) == 0 {
			delete(ix.entries, h)
		}
	}
	ix.keyCount.Add(-int64(len(st.hashes)))
}

// keepLastUsed carries the last use of each hash from the entries of the
// record's previous version (old) to news, so that an update of the record
// (a rotation, a new scope) does not forget a use not yet reported.
// Caller holds mu.
func keepLastUsed(entries map[record.Hash][]*Entry, old *Key, hashes []record.Hash, news []*Entry) {
	if old == nil {
		return
	}
	for i, h := range hashes {
		for _, e := range entries[h] {
			if e.Key == old {
				news[i].LastUsed.Store(e.LastUsed.Load())
			}
		}
	}
}

// insertClaim returns es with e in claim order (the first claimant first).
// It builds a new slice, so readers holding the old one are unaffected.
func insertClaim(es []*Entry, e *Entry) []*Entry {
	out := make([]*Entry, 0, len(es)+1)
	i := 0
	for i < len(es) && es[i].Key.Record.ClaimsBefore(e.Key.Record) {
		i++
	}
	out = append(out, es[:i]...)
	out = append(out, e)
	return append(out, es[i:]...)
}

// dropKey returns es without the entries of k. It builds a new slice, so
// readers holding the old one are unaffected.
func dropKey(es []*Entry, k *Key) []*Entry {
	out := make([]*Entry, 0, len(es))
	for _, e := range es {
		if e.Key != k {
			out = append(out, e)
		}
	}
	return out
}

func contains(hs []record.Hash, h record.Hash) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func (ix *Index[P]) touch() { ix.lastUpdate.Store(time.Now().UnixNano()) }
