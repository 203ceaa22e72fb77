package check

import "strings"

// With the hide option, an admitted request's credentials are kept from
// the upstream: the X-API-Key and Authorization headers, the session_token
// cookie (the other cookies are kept), and, where the transport can say so
// (ext_authz gRPC), the apiKey query parameter. A proxy removes them; the
// answer says what to remove and what the Cookie header becomes.

// HiddenQueryParameters are the query parameters an admitted request
// loses with hide (ext_authz gRPC only: no other protocol can change the
// query). Shared: must not be modified.
var HiddenQueryParameters = []string{queryAPIKey}

// WithoutSessionCookie returns the cookies of the Cookie header lines
// without every session_token cookie, joined by "; ", in their order and
// with their bytes; "" when none remain.
//
// Each line is split at ";" as nginx, Go's net/http, Envoy and keygate's
// own reader do, regardless of quotes. A cookie is removed when its name,
// with surrounding white space trimmed, is session_token: keygate reads
// " session_token=", and Go's net/http also trims a space before "=". A
// part that holds a comma is removed when any comma-separated piece of it
// is named session_token: Envoy joins repeated headers with "," in an
// ext_authz CheckRequest, and RFC 2965 readers split cookies at commas.
// Names are case-sensitive, as cookies are.
func WithoutSessionCookie(lines []string) string {
	var b strings.Builder
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.Trim(part, " \t")
			if part == "" || namesSessionCookie(part) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	return b.String()
}

// namesSessionCookie reports whether a cookie-pair, or any comma-separated
// piece of it, is named session_token.
func namesSessionCookie(part string) bool {
	for part != "" {
		var piece string
		piece, part, _ = strings.Cut(part, ",")
		name, _, _ := strings.Cut(piece, "=")
		if strings.TrimSpace(name) == sessionCookie {
			return true
		}
	}
	return false
}
