package e2e_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/keygate-dev/keygate/webhook/check"
)

// expectRefused checks a refusal as the client sees it: the real status,
// a JSON body of exactly the contract's shape with that code, and for 429
// a Retry-After of whole seconds.
func expectRefused(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var shape map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &shape); err != nil || len(shape) != 1 || len(shape["error"]) != 4 {
		t.Fatalf("body %q is not {\"error\": {message, statusCode, code, category}}", body)
	}
	var r check.ErrorBody
	_ = json.Unmarshal([]byte(body), &r)
	category := "AUTH"
	if status == http.StatusTooManyRequests {
		category = "RATE_LIMIT"
	}
	if r.Error.StatusCode != status || r.Error.Code != code || r.Error.Message == "" {
		t.Errorf("body %q: want statusCode %d and code %s", body, status, code)
	}
	if status < 500 && status != 400 && r.Error.Category != category {
		t.Errorf("body %q: want category %s", body, category)
	}
	if n := len(resp.Header.Values("WWW-Authenticate")); status == http.StatusUnauthorized && n != 1 {
		t.Errorf("401 with %d WWW-Authenticate headers, want one", n)
	}
	if status == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 || len(resp.Header.Values("Retry-After")) != 1 {
			t.Errorf("429 with Retry-After %q, want one, of whole seconds >= 1", resp.Header.Get("Retry-After"))
		}
	}
	if resp.Header.Get("X-Error-Body") != "" || resp.Header.Get("X-Error-Status") != "" {
		t.Errorf("the compat headers reached the client: %v", resp.Header)
	}
}
