// Package webhook is keygate's external-auth server: it reads the compiled
// record Secrets, keeps an in-memory index, and answers /check for
// ingress-nginx, Traefik ForwardAuth and Envoy ext_authz. Each transport
// (HTTP here, gRPC in grpc.go) reads its request into a check.Request,
// the package check decides, and the transport renders the verdict.
//
// # Endpoints
//
// One port (--addr, default :8080) serves /check and /check/... (any
// method), /healthz, /readyz and /metrics (controller-runtime's registry).
// /readyz and /check answer 503 (NOT_READY) until the first full list of
// record Secrets is in the index (records.go: a reflector feeds the index
// directly, with no informer cache beside it) and the JWT authenticator has
// loaded its configuration: nothing is admitted on missing data.
// --source-namespaces loads only the records of some namespaces' ApiKeys
// and RateLimitPolicies: a shard (docs/scale.md).
// A record Secret is used only under the name the controller gives its
// source (ak.<namespace>.<name>, rlp.<namespace>.<name>) and never for a
// source in keygate's own namespace; others are ignored, logged and counted
// (keygate_record_misnamed_total).
//
// # The original request
//
// With --proxy=auto (default), for a check URL of exactly /check, the first
// found wins: X-Original-URL + X-Original-Method (ingress-nginx), then
// X-Forwarded-Uri + X-Forwarded-Method + X-Forwarded-Host (Traefik), then
// the request's own method and path "/". A check URL with a path after
// /check is Envoy's (its path_prefix plus the original path), and there the
// request's own method, path and query are the original's. Paths are
// decoded once and cleaned before rules match them (check.CleanPath), so
// /api/%61uth/ and /api//auth/ count as /api/auth/. With a policy, a path
// that upstreams read differently (%2F, %5C, %2E, %25, a stray %, a
// backslash, a . or .. segment, ..;) is refused (400 BAD_REQUEST); so is,
// always, an X-Original-URL authority with ?, #, @, white space or a
// control character. See docs/rate-limits.md.
//
// Proxies forward client headers, so a client could add another proxy's
// headers. Three rules close that: a check URL with an Envoy path that also
// carries X-Original-URL or X-Forwarded-Uri is refused (400 BAD_REQUEST);
// with --proxy=auto a request carrying both X-Original-URL and
// X-Forwarded-Uri is refused too (Traefik sets the second and passes a
// client's X-Original-URL through); and --proxy=nginx|traefik|envoy pins
// the one source to read (recommended with Traefik).
//
// # Options
//
// Per-route options (auth, scopes, keyTypes, namespaces, policy,
// compat=nginx) are the query of the check URL for nginx and Traefik. For
// Envoy the query is the client's, so it is never read for options; they
// go in a ";" segment of the path prefix: path_prefix
// "/check;auth=jwt&scopes=admin". Unknown, repeated or empty options,
// invalid values, and scopes, keyTypes or namespaces with auth=none (which
// reads no credential) are refused with 400 INVALID_OPTIONS (category
// CONFIG), so a typo or an unset template variable never drops a
// requirement silently.
//
// # Client IP (the trust rule)
//
// --trusted-hops N (default 1) is the number of proxies in front of the
// auth server that append the address they saw to X-Forwarded-For. The
// client IP is the Nth entry from the right of X-Forwarded-For (all header
// lines read as one list, in order). Entries left of it may have been
// written by the client and are never read, so a client cannot escape by:
// ip limits by sending its own X-Forwarded-For. When the list has fewer than
// N entries, or that entry is not an IP address, the TCP peer's address is
// used. N=0 uses the TCP peer only. X-Real-IP and x-envoy-external-address
// are not read: a client can set them through some proxies. With N > 0, a
// check without X-Forwarded-For is counted in
// keygate_check_missing_forwarded_for_total, and the first one logged: its
// client IP is the proxy's, which every client then shares.
//
// by: ip rules count networks: the client IP masked to --ip-prefix-v4
// (default 32) or --ip-prefix-v6 (default 64; a host often holds a whole
// /64), an IPv4-mapped IPv6 address as its IPv4 address. Only the
// rate-limit key is masked.
//
// # Credentials and auth modes
//
// API key: X-API-Key, then the top-level "_apiKey" string of a JSON object
// body (read only when a body is forwarded, at most --max-body-bytes; a
// larger or non-JSON body has no key, never an error), then the apiKey
// query parameter of the original URL. The first source with a value is
// the key. A value that is not of the key format is refused before
// hashing. JWT: Authorization: Bearer, then the session_token cookie.
//
// auth=any: a presented JWT is verified first. Valid, it decides (a missing
// scope is 403 even when an API key is presented too). Not valid, and an API
// key is presented too: the key decides, and its error is the one
// reported. Not valid and no key: the token's error (AUTH_INVALID_TOKEN or
// AUTH_TOKEN_REVOKED). No JWT: the API key decides; neither: AUTH_FAILED.
// auth=apikey ignores tokens; auth=jwt ignores keys (no token:
// AUTH_NO_TOKEN); auth=none reads no credential, sets no X-Auth-* header,
// and still applies the route's rate limits (by ip and header rules only).
//
// Key checks, in order: known hash (a hash that several records list is
// its first claimant's: a generated key, then the oldest source, then
// namespace/name, as the controller decides; see index.Lookup); key's namespace in
// namespaces (otherwise the key does not count: AUTH_FAILED); not disabled,
// not past expiresAt or the hash's notAfter (to the instant); key type in
// keyTypes; allowedOrigins; every required scope. allowedOrigins is matched
// against Origin, or the scheme://host[:port] of Referer when Origin is
// absent or "null", case-insensitively and exactly (no wildcards, default
// ports are not implied). A key with allowedOrigins used by a request with
// neither header is refused (403): a server-side caller should use a key
// without allowedOrigins.
//
// # Answers
//
// Allowed: 200, empty body, X-Auth-Subject, X-Auth-Method (apikey|jwt),
// X-Auth-Key-Id and X-Auth-Key-Type (keys), X-Auth-Scopes, X-Auth-Issuer
// (JWTs: by: subject counts a JWT's sub per issuer). The package
// check decides, once for every transport, which of these an admission
// sets and which the upstream must lose; for Envoy (a check URL with a
// path after /check, or gRPC) the answer names the latter, in
// x-envoy-auth-headers-to-remove or headers_to_remove. Refused: the
// contract's JSON body and codes, WWW-Authenticate on 401. Codes this
// server adds: BAD_REQUEST (400, REQUEST: the check request cannot be
// understood), INVALID_OPTIONS (400, CONFIG), POLICY_NOT_FOUND (500,
// CONFIG: a policy= names a RateLimitPolicy that is not loaded; fix the
// route or the policy, the request is never admitted without its limits),
// QUOTA_EXCEEDED (429, RATE_LIMIT: a calendar quota is used up until its
// window's reset, which Retry-After counts down to),
// NOT_READY (503, SERVER), RATE_LIMIT_UNAVAILABLE (503, RATE_LIMIT: Redis
// is unreachable and --redis-on-error=deny), INTERNAL_ERROR (500, SERVER:
// a bug while deciding an ext_authz gRPC check; never an admission).
//
// Rate limits: by ip and header rules are counted before authentication,
// apiKey and subject rules after it. Every answer that a rule counted
// carries RateLimit-Policy and RateLimit for the rule closest to its limit;
// a 429 carries Retry-After in whole seconds, rounded up.
//
// ingress-nginx compat (X-Sent-From: nginx-ingress-controller or
// compat=nginx): a refusal whose status is not 401 or 403 is sent as 403,
// and every refusal carries X-Error-Status (the real status), X-Error-Code
// and X-Error-Body (the JSON body on one line), plus Retry-After on a 429.
// Traefik and Envoy get the real status, headers and body.
package webhook
