package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestValidPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"sk_", true},
		{"pub_", true},
		{"wfx_", true},
		{"a_", true},
		{"a1b2c3d4e5f6g7h8_", true}, // 1 + 15 + underscore
		{"a1b2c3d4e5f6g7h8x_", false},
		{"_", false},
		{"", false},
		{"sk", false},
		{"Sk_", false},
		{"1k_", false},
		{"s-k_", false},
		{"sk__", false},
	} {
		if got := ValidPrefix(tc.prefix); got != tc.want {
			t.Errorf("ValidPrefix(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
}

func TestSplitKey(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		name, key, prefix string
	}{
		{"secret key", "sk_" + hex64, "sk_"},
		{"longest prefix", "a1b2c3d4e5f6g7h8_" + hex64, "a1b2c3d4e5f6g7h8_"},
		{"no prefix", hex64, ""},
		{"uppercase hex", "sk_" + strings.ToUpper(hex64), ""},
		{"63 hex", "sk_" + hex64[1:], ""},
		{"65 hex", "sk_0" + hex64, ""},
		{"bad prefix", "SK_" + hex64, ""},
		{"prefix too long", "a1b2c3d4e5f6g7h8x_" + hex64, ""},
		{"non-hex", "sk_" + hex64[:63] + "g", ""},
		{"empty", "", ""},
		{"spaces", "sk_ " + hex64[1:], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := SplitKey(tc.key)
			if tc.prefix == "" {
				if !errors.Is(err, ErrMalformedKey) {
					t.Fatalf("SplitKey(%q) = %q, %v; want ErrMalformedKey", tc.key, p, err)
				}
				return
			}
			if err != nil || p != tc.prefix {
				t.Fatalf("SplitKey(%q) = %q, %v; want %q", tc.key, p, err, tc.prefix)
			}
		})
	}
}

func TestNewKeyFormatAndHash(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k, err := NewKey("wfx_")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := SplitKey(k); err != nil || p != "wfx_" {
			t.Fatalf("NewKey made %q, which SplitKey reads as %q, %v", k, p, err)
		}
		if seen[k] {
			t.Fatalf("NewKey repeated a key")
		}
		seen[k] = true
		sum := sha256.Sum256([]byte(k))
		h := HashKey(k)
		if h.String() != hex.EncodeToString(sum[:]) {
			t.Fatalf("HashKey is not the SHA-256 of the whole key string")
		}
		if h.KeyID() != h.String()[:12] {
			t.Fatalf("KeyID %q is not the first 12 hex characters of %q", h.KeyID(), h)
		}
		back, err := ParseHash(h.String())
		if err != nil || back != h {
			t.Fatalf("ParseHash(%q) = %v, %v", h, back, err)
		}
		if hint := Hint(k); hint != "wfx_..."+k[len(k)-4:] {
			t.Fatalf("Hint(%q) = %q", k, hint)
		}
	}
	if _, err := NewKey("Bad"); err == nil {
		t.Fatal("NewKey accepted an invalid prefix")
	}
}

func TestParseHashRefusesBadInput(t *testing.T) {
	for _, s := range []string{"", "9f86", strings.Repeat("9F", 32), strings.Repeat("zz", 32), strings.Repeat("9f", 33)} {
		if _, err := ParseHash(s); err == nil {
			t.Errorf("ParseHash(%q) accepted bad input", s)
		}
	}
}

func TestHintOfMalformedKeyIsEmpty(t *testing.T) {
	if h := Hint("not-a-key"); h != "" {
		t.Fatalf("Hint of a malformed key = %q, want empty (never echo input)", h)
	}
}
