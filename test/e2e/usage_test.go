package e2e_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// usageFlush is the replicas' --usage-flush-interval here; an ApiKey's
// last use must show within it, plus usageSlack for the controller's
// merge on a busy two-core machine.
const (
	usageFlush = time.Second
	usageSlack = 9 * time.Second
)

// TestLastUsedThroughTwoReplicas: two keygate auth-server processes, each
// with a service-account token bound to a pod of its own (as the kubelet
// mounts it) and config/auth-server's admission policy in force, report
// what they admit every second. A key used only through replica B shows
// status.lastUsedAt and keys[].lastUsedAt within a flush interval; a key
// never used shows neither; after a rotation, a use of the old key through
// replica A shows on the old key id, not on the new one.
func TestLastUsedThroughTwoReplicas(t *testing.T) {
	s := getStack(t)
	ns := s.namespace(t, "e2e-usage")
	s.applyUsagePolicy(t)
	a, b := s.usageReplica(t, "keygate-auth-server-a"), s.usageReplica(t, "keygate-auth-server-b")
	viaB, keyB := s.generatedKey(t, ns, "via-b", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	unused, _ := s.generatedKey(t, ns, "unused", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	rotating, oldKey := s.generatedKey(t, ns, "rotating", keygatev1alpha1.ApiKeySpec{Subject: "acme"})

	start := admitThrough(t, b, keyB)
	st := waitLastUsed(t, s, viaB, func(st keygatev1alpha1.ApiKeyStatus) bool {
		return st.LastUsedAt != nil && len(st.Keys) == 1 && st.Keys[0].LastUsedAt != nil
	})
	t.Logf("via-b's lastUsedAt showed %v after its use through replica B", time.Since(start).Round(time.Millisecond))
	if w := st.LastUsedAt.Time; !w.Truncate(time.Hour).Equal(w) || time.Since(w) > 2*time.Hour || st.Keys[0].KeyID != st.KeyID {
		t.Errorf("via-b's status: lastUsedAt %v, keys %+v; want the start of this hour (the default granularity) on its current key %s", st.LastUsedAt, st.Keys, st.KeyID)
	}
	if r := s.usageReport(t, "keygate-auth-server-a"); r != nil && reportNames(r, viaB) {
		t.Errorf("replica A's report names via-b, which only replica B admitted: %+v", r.Spec)
	}

	// A rotation: the old key stays valid for its grace period; a client
	// still sending it through replica A shows on the old key id.
	update := rotating.DeepCopy()
	if err := s.env.Client.Get(context.Background(), client.ObjectKeyFromObject(rotating), update); err != nil {
		t.Fatal(err)
	}
	update.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: "e2e"}
	if err := s.env.Client.Update(context.Background(), update); err != nil {
		t.Fatal(err)
	}
	s.waitDelivered(t, ns, rotating.Name, oldKey)
	oldID := record.HashKey(oldKey).KeyID()
	waitLastUsed(t, s, rotating, func(st keygatev1alpha1.ApiKeyStatus) bool { return len(st.Keys) == 2 })
	admitThrough(t, a, oldKey)
	st = waitLastUsed(t, s, rotating, func(st keygatev1alpha1.ApiKeyStatus) bool { return st.LastUsedAt != nil })
	if len(st.Keys) != 2 || !st.Keys[0].Current || st.Keys[0].LastUsedAt != nil ||
		st.Keys[1].KeyID != oldID || st.Keys[1].Current || st.Keys[1].LastUsedAt == nil {
		t.Errorf("after a use of the old key: keys %+v; want the new key current and unused, the old one (%s) used", st.Keys, oldID)
	}

	// Both replicas have flushed since: the unused ApiKey still shows
	// nothing, and no report names it.
	time.Sleep(2 * usageFlush)
	if err := s.env.Client.Get(context.Background(), client.ObjectKeyFromObject(unused), unused); err != nil {
		t.Fatal(err)
	}
	if unused.Status.LastUsedAt != nil || len(unused.Status.Keys) != 1 || unused.Status.Keys[0].LastUsedAt != nil {
		t.Errorf("an ApiKey never used: lastUsedAt %v, keys %+v; want none", unused.Status.LastUsedAt, unused.Status.Keys)
	}
	for _, name := range []string{"keygate-auth-server-a", "keygate-auth-server-b"} {
		if r := s.usageReport(t, name); r == nil || reportNames(r, unused) {
			t.Errorf("report %s: %+v; want one that does not name the unused ApiKey", name, r)
		}
	}
}

// applyUsagePolicy applies the admission policy of config/auth-server
// that lets each replica write only its own report.
func (s *stack) applyUsagePolicy(t *testing.T) {
	t.Helper()
	objs, err := kustomizeBuild(filepath.Join(testenv.RepoRoot(), "config", "auth-server"))
	if err != nil {
		t.Fatal(err)
	}
	var policy []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ValidatingAdmissionPolicy" || o.GetKind() == "ValidatingAdmissionPolicyBinding" {
			policy = append(policy, o)
		}
	}
	if len(policy) != 2 {
		t.Fatalf("config/auth-server has %d admission policy objects, want the policy and its binding", len(policy))
	}
	if err := manifest.Apply(context.Background(), s.env.Client, policy); err != nil {
		t.Fatal(err)
	}
}

// usageReplica starts an auth server as pod, with a token bound to it,
// reporting usage every usageFlush.
func (s *stack) usageReplica(t *testing.T, pod string) *authServer {
	t.Helper()
	kc, err := s.env.PodTokenKubeconfig(s.dir, "keygate-auth-server", pod)
	if err != nil {
		t.Fatal(err)
	}
	a, err := startAuthServer(pod, kc, false, "--usage-report-name", pod, "--usage-flush-interval", usageFlush.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.stop() })
	if err := waitReady(a.url, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, a.output())
	}
	return a
}

// admitThrough sends key to the replica until it is admitted (the replica
// may not have loaded it yet), and returns when it was.
func admitThrough(t *testing.T, a *authServer, key string) time.Time {
	t.Helper()
	eventually(t, 10*time.Second, "the key admitted by "+a.name, func() bool {
		resp, _ := get(t, http.MethodGet, a.url+"/check", http.Header{"X-Api-Key": {key}})
		return resp.StatusCode == http.StatusOK
	})
	return time.Now()
}

// waitLastUsed waits until the ApiKey's status satisfies ok, and returns
// it; on timeout it shows the replicas' reports.
func waitLastUsed(t *testing.T, s *stack, ak *keygatev1alpha1.ApiKey, ok func(keygatev1alpha1.ApiKeyStatus) bool) keygatev1alpha1.ApiKeyStatus {
	t.Helper()
	var got keygatev1alpha1.ApiKey
	deadline := time.Now().Add(usageFlush + usageSlack)
	for {
		if err := s.env.Client.Get(context.Background(), client.ObjectKeyFromObject(ak), &got); err == nil && ok(got.Status) {
			return got.Status
		}
		if time.Now().After(deadline) {
			var reports keygatev1alpha1.UsageReportList
			_ = s.env.Client.List(context.Background(), &reports, client.InNamespace(testenv.Namespace))
			t.Fatalf("ApiKey %s/%s: status %+v after %v; the reports: %+v\ncontroller log:\n%s", ak.Namespace, ak.Name, got.Status,
				usageFlush+usageSlack, reports.Items, s.controller.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// usageReport reads a replica's report, nil when there is none.
func (s *stack) usageReport(t *testing.T, name string) *keygatev1alpha1.UsageReport {
	t.Helper()
	r := &keygatev1alpha1.UsageReport{}
	if err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: name}, r); err != nil {
		return nil
	}
	return r
}

func reportNames(r *keygatev1alpha1.UsageReport, ak *keygatev1alpha1.ApiKey) bool {
	for _, u := range r.Spec.APIKeys {
		if u.Namespace == ak.Namespace && u.Name == ak.Name {
			return true
		}
	}
	return false
}
