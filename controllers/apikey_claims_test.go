package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// Key hashes are public (in Git, in the spec). An ApiKey that lists
// another's hash must neither disable that key nor take it over.

// nextSecond waits until the API server's clock (seconds) has moved past
// the creation of ak, so the next object is strictly younger.
func nextSecond(ak *keygatev1alpha1.ApiKey) {
	time.Sleep(time.Until(ak.CreationTimestamp.Add(time.Second + 50*time.Millisecond)))
}

func gitOps(hashes ...string) keygatev1alpha1.ApiKeySpec {
	spec := keygatev1alpha1.ApiKeySpec{Subject: "acme"}
	for _, h := range hashes {
		spec.KeyHashes = append(spec.KeyHashes, keygatev1alpha1.KeyHash{SHA256: h})
	}
	return spec
}

func readyIs(status metav1.ConditionStatus, reason string) func(state) bool {
	return func(s state) bool {
		c := s.ready()
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == s.ak.Generation
	}
}

func TestCopiedHashStaysWithTheFirstClaimant(t *testing.T) {
	victimNS, attackerNS := newNamespace(t), newNamespace(t)
	startManager(t, Options{Namespace: testenv.Namespace, WatchNamespaces: []string{victimNS, attackerNS}}, nil)
	shared, own := record.HashKey(mustKey(t, "sk_")).String(), record.HashKey(mustKey(t, "sk_")).String()
	victim := createAPIKey(t, victimNS, "victim-sdk", gitOps(shared))
	victim = waitState(t, victim, "the victim Ready", readyIs(metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled)).ak
	nextSecond(victim)

	copier := createAPIKey(t, attackerNS, "copy", gitOps(shared, own))
	s := waitState(t, copier, "the copier refused", readyIs(metav1.ConditionFalse, keygatev1alpha1.ReasonDuplicateKeyHash))
	msg := s.ready().Message
	if strings.Contains(msg, victimNS) || strings.Contains(msg, "victim-sdk") || !strings.Contains(msg, shared[:record.KeyIDLen]) {
		t.Fatalf("the message must name the hash by keyId and never the other ApiKey: %q", msg)
	}
	if hasHash(s.record, shared) || !hasHash(s.record, own) || s.ak.Status.ActiveKeys != 1 {
		t.Fatalf("the copier's record must keep its own hash only: %+v (active %d)", s.record.Keys, s.ak.Status.ActiveKeys)
	}
	if !hasEvent(captured.eventsFor(attackerNS, "copy"), corev1.EventTypeWarning, keygatev1alpha1.ReasonDuplicateKeyHash) {
		t.Fatal("no Warning event on the copier")
	}
	if v := readState(t, victim); !readyIs(metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled)(v) || !hasHash(v.record, shared) {
		t.Fatalf("the victim lost its key: Ready %+v, record %+v", v.ready(), v.record.Keys)
	}

	// The first claimant goes: the later one gets the hash.
	if err := env.Client.Delete(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	waitState(t, copier, "the copier Ready with both hashes once the victim is gone", func(s state) bool {
		return readyIs(metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled)(s) && hasHash(s.record, shared) && s.ak.Status.ActiveKeys == 2
	})
}

// A GitOps ApiKey never takes a generated key's hash, even when the GitOps
// ApiKey is the older object.
func TestGitOpsCannotTakeAGeneratedKey(t *testing.T) {
	victimNS, attackerNS := newNamespace(t), newNamespace(t)
	startManager(t, Options{Namespace: testenv.Namespace, WatchNamespaces: []string{victimNS, attackerNS}}, nil)
	own := record.HashKey(mustKey(t, "sk_")).String()
	older := createAPIKey(t, attackerNS, "older", gitOps(own))
	waitState(t, older, "the older GitOps ApiKey Ready", readyIs(metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled))
	nextSecond(older)
	gen := waitState(t, createAPIKey(t, victimNS, "gen", keygatev1alpha1.ApiKeySpec{Subject: "acme"}), "a generated key", readyWithKey)
	stolen := record.HashKey(gen.key).String()

	update(t, older, func(a *keygatev1alpha1.ApiKey) {
		a.Spec.KeyHashes = append(a.Spec.KeyHashes, keygatev1alpha1.KeyHash{SHA256: stolen})
	})
	s := waitState(t, older, "the GitOps copier refused", readyIs(metav1.ConditionFalse, keygatev1alpha1.ReasonDuplicateKeyHash))
	if hasHash(s.record, stolen) {
		t.Fatalf("the GitOps record lists the generated key's hash: %+v", s.record.Keys)
	}
	if g := readState(t, gen.ak); !readyWithKey(g) || g.key != gen.key || !g.record.Generated {
		t.Fatalf("the generated ApiKey changed: Ready %+v, generated %v", g.ready(), g.record.Generated)
	}
}

func hasHash(r *record.APIKey, h string) bool {
	if r == nil {
		return false
	}
	for _, k := range r.Keys {
		if k.SHA256 == h {
			return true
		}
	}
	return false
}
