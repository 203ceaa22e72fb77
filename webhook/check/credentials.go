package check

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate-dev/keygate/internal/record"
)

// The names credentials are read from.
const (
	headerAPIKey  = "X-Api-Key"
	bodyAPIKey    = "_apiKey"
	queryAPIKey   = "apiKey"
	sessionCookie = "session_token"
)

// apiKeyFrom reads the API key in the contract's order: the X-API-Key
// header, the _apiKey field of a JSON body, the apiKey query parameter of
// the original URL. The first source that has a non-empty value wins, even
// when that value turns out to be invalid.
func apiKeyFrom(r *Request, maxBody int64) string {
	if k := strings.TrimSpace(first(r.Header, headerAPIKey)); k != "" {
		return k
	}
	if k := bodyKey(r, maxBody); k != "" {
		return k
	}
	return queryValue(r.RawQuery, queryAPIKey)
}

// bodyKey returns the top-level _apiKey string of a JSON object body. A body
// that is absent, larger than max, not JSON, or without that field has no
// key: never an error. sendBeacon posts text/plain, so the content type is
// not required to be JSON.
func bodyKey(r *Request, max int64) string {
	if r.Body == nil || r.Body == http.NoBody || r.BodyLen == 0 || max <= 0 {
		return ""
	}
	if r.BodyLen > max {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil || int64(len(b)) > max {
		return ""
	}
	return jsonKey(b)
}

// jsonKey extracts the top-level "_apiKey" string of a JSON object, matched
// exactly (encoding/json alone would match field names case-insensitively).
func jsonKey(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' || !bytes.Contains(b, []byte(`"`+bodyAPIKey+`"`)) {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return ""
	}
	var k string
	if json.Unmarshal(fields[bodyAPIKey], &k) != nil {
		return ""
	}
	return strings.TrimSpace(k)
}

// queryValue returns the first value of name in a raw query, decoded. It
// allocates only when the value is percent- or plus-encoded.
func queryValue(rawQuery, name string) string {
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			dec, err := url.QueryUnescape(v)
			if err != nil {
				return v // kept as sent: it will fail the key format
			}
			v = dec
		}
		return v
	}
	return ""
}

// tokenFrom reads a JWT: the Authorization: Bearer header, then the
// session_token cookie.
func tokenFrom(h http.Header) string {
	for _, a := range h["Authorization"] {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			if t := strings.TrimSpace(a[7:]); t != "" {
				return t
			}
		}
	}
	return cookieValue(h["Cookie"], sessionCookie)
}

// cookieValue finds a cookie without parsing every cookie (r.Cookie
// allocates for all of them).
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// hashKey hashes a key that passed record.SplitKey without allocating:
// the copy to a stack buffer keeps the []byte conversion off the heap.
func hashKey(key string) record.Hash {
	var buf [record.MaxKeyLen]byte
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}
