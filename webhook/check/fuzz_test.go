package check

import (
	"strings"
	"testing"
)

// FuzzJSONBody: any body yields a key or nothing, without a panic.
func FuzzJSONBody(f *testing.F) {
	f.Add([]byte(`{"_apiKey":"sk_1"}`))
	f.Add([]byte(`{"_apiKey":{"_apiKey":"x"}}`))
	f.Add([]byte(`  {"_apiKey":"\u0000"`))
	f.Add([]byte(`[{"_apiKey":"k"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := jsonKey(b)
		if k != "" && !strings.Contains(string(b), `"_apiKey"`) {
			t.Fatalf("key %q from a body without the field", k)
		}
	})
}
