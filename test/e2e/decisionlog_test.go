package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// TestDecisionLog: the auth server process, run as users run it (the
// default --decision-log=refusals), logs each refusal as a JSON line with
// its code, the ApiKey and the path without its query, and never the key,
// wherever the client put it.
func TestDecisionLog(t *testing.T) {
	s := getStack(t)
	ns := s.namespace(t, "e2e-dlog")
	ak, key := s.generatedKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", Scopes: []string{"events:write"}})
	path := fmt.Sprintf("/dlog-%d/events", time.Now().UnixNano())
	send := func(query string, header http.Header) {
		t.Helper()
		header.Set("X-Original-URL", "https://api.acme.com"+path+"?apiKey="+url.QueryEscape(key)+"&q=1")
		resp, body := get(t, http.MethodPost, s.authURL+"/check"+query, header)
		expectRefused(t, resp, body, http.StatusForbidden, "FORBIDDEN")
	}
	// The key is valid but lacks the route's scope: refused after the
	// key is known, so the line can name it.
	send("?scopes=admin", http.Header{"X-Api-Key": {key}, "Cookie": {"session_token=" + key}})
	send("?scopes=admin&auth=apikey", http.Header{"X-Api-Key": {key}, "Authorization": {"Bearer " + key}})

	lines := waitLogLines(t, s, path, 2)
	if err := s.env.Client.Get(context.Background(), client.ObjectKeyFromObject(ak), ak); err != nil || ak.Status.KeyID == "" {
		t.Fatalf("the ApiKey's keyId: %q, %v", ak.Status.KeyID, err)
	}
	for _, l := range lines {
		if l["code"] != "FORBIDDEN" || l["path"] != path || l["requestMethod"] != http.MethodPost {
			t.Errorf("decision line %v: want code FORBIDDEN, requestMethod POST and path %s without its query", l, path)
		}
		if l["keyId"] != ak.Status.KeyID || l["namespace"] != ns || l["name"] != "sdk" {
			t.Errorf("decision line %v: want keyId %s of %s/sdk", l, ak.Status.KeyID, ns)
		}
	}
	out := s.auth.output()
	for _, form := range []string{key, url.QueryEscape(key), key[len(key)-16:]} {
		if strings.Contains(out, form) {
			t.Errorf("the auth server's log holds the key (%q)", form)
		}
	}
}

// waitLogLines waits for n lines of the auth server's decision log about
// path, and returns them decoded.
func waitLogLines(t *testing.T, s *stack, path string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var lines []map[string]any
		for _, raw := range strings.Split(s.auth.output(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(raw), &l) == nil && l["msg"] == "refused" && l["path"] == path {
				lines = append(lines, l)
			}
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d decision lines about %s after 5s, want %d; the log:\n%s", len(lines), path, n, s.auth.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
