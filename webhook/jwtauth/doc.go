// Package jwtauth verifies JWTs for the auth server: issuers from a YAML
// config file that is reloaded live, keys from an HMAC Secret, PEM public
// keys or a JWKS URL, and a revocation list of jti values.
//
// # The config file
//
// The auth server reads it from --config. It is checked every 2 seconds;
// a changed file is validated and, when valid, replaces the config in use.
// An invalid file is logged, counted in keygate_jwt_config_reloads_total
// {result="error"}, and the previous config stays in use. Unknown fields
// are errors. A full example:
//
//	issuers:
//	# The dev issuer of `keygate dev`: HS256 with a secret from a Secret.
//	- issuer: keygate-dev            # must equal the token's iss exactly
//	  audiences: []                  # empty: no aud required; else aud must contain one
//	  algorithms: [HS256]            # allow-list, required; "none" is never accepted
//	  hmacSecretRef:                 # a Secret in keygate's namespace
//	    name: keygate-dev-jwt
//	    key: hmac                    # data key, default hmac; at least 32 bytes
//	  leeway: 30s                    # clock skew allowed on exp, nbf, iat; default 0, max 5m
//	  subjectClaim: sub              # default sub; the claim must be a non-empty string
//	  scopesClaim: scope             # default scope; "a b c" or ["a", "b", "c"]
//	  planClaim: plan                # optional; RateLimitPolicy overrides select by it (jwtPlans)
//
//	# An identity provider publishing a JWKS.
//	- issuer: https://idp.example.com/
//	  audiences: [api.example.com]
//	  algorithms: [RS256, ES256]
//	  jwksURL: https://idp.example.com/.well-known/jwks.json
//	  jwksRefreshInterval: 10m       # default 10m
//	  jwksMinRefetchInterval: 30s    # unknown kid: at most one fetch per this, default 30s
//	  jwksMaxMissedRefreshes: 3      # keys not refreshed for this many intervals are refused, default 3
//	  scopesClaim: scp
//
//	# Fixed public keys, PEM (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a
//	# "CERTIFICATE"); RSA (2048 bits or more), ECDSA P-256/384/521 or Ed25519.
//	- issuer: billing
//	  algorithms: [EdDSA]
//	  publicKeys:
//	  - |
//	    -----BEGIN PUBLIC KEY-----
//	    MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
//	    -----END PUBLIC KEY-----
//
//	revocation:                      # optional
//	  secretRef:                     # or configMapRef; in keygate's namespace
//	    name: keygate-revoked-jtis
//	    # key: revoked               # optional, see below
//
// Each issuer has exactly one key source: hmacSecretRef, publicKeys or
// jwksURL. Algorithms are HS256/384/512 (only with hmacSecretRef),
// RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA (only with
// publicKeys or jwksURL). A public key is never used as an HMAC secret and
// an HMAC secret never as a public key, so algorithm confusion is
// impossible whatever a token's header says.
//
// # Verification
//
// The issuer is chosen by the token's iss claim; the token is then
// verified in full with that issuer's settings: alg in the allow-list,
// signature, exp required, nbf and iat, aud when audiences are set, all
// with the leeway. The subject claim is required. A token whose kid is not
// in the cached JWKS triggers one fetch of the JWKS, rate limited per
// issuer; the fetch is not cancelled when the check's client hangs up.
// Keys not refreshed for jwksMaxMissedRefreshes refresh intervals are no
// longer trusted. An issuer must not contain control characters. Tokens longer than 16 KiB are refused unread.
//
// # The revocation list
//
// A Secret or ConfigMap in keygate's namespace, watched live. Without
// key, every data key is a revoked jti and its value is empty or the
// expiry of the token it names, in RFC 3339 or Unix seconds:
//
//	apiVersion: v1
//	kind: ConfigMap
//	metadata: {name: keygate-revoked-jtis, namespace: keygate-system}
//	data:
//	  3f2a9c1e-7d4b-4c55-9a51-0e1f2d3c4b5a: "2026-09-01T12:00:00Z"
//	  8b1d2e3f-unknown-expiry: ""
//
// With key, that one data entry holds a "jti [expiry]" per line (blank
// lines and lines starting with # are skipped), which suits a list that a
// script appends to:
//
//	data:
//	  revoked: |
//	    3f2a9c1e-7d4b-4c55-9a51-0e1f2d3c4b5a 1788264000
//	    8b1d2e3f-unknown-expiry
//
// An entry is dropped from memory once the token it names would be refused
// as expired anyway (its expiry plus the largest leeway); an entry without
// an expiry, or with one that does not parse, is kept for as long as it is
// listed. The auth server is not ready until the revocation list has been
// read; if the object (or its configured data key) disappears later, the
// last loaded list stays in force until it is back (logged as an error):
// losing the list never un-revokes a token. A reloaded config whose
// revocation object does not exist is refused.
//
// # Readiness and metrics
//
// Ready is false until Start has read the objects the config references.
// A missing HMAC Secret does not hold readiness back: its issuer's tokens
// are refused (and the problem logged) until it appears.
//
// Metrics: keygate_jwt_issuers_loaded, keygate_jwt_config_reloads_total
// {result}, keygate_jwt_jwks_fetches_total{issuer,result} and
// keygate_jwt_revoked_jtis. Nothing here logs or exports a token.
package jwtauth
