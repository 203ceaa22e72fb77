// Package ratelimit enforces RateLimitPolicies: it matches compiled rules to
// requests and counts them with GCRA, in memory or in Redis.
//
// # What is counted
//
// A check counts the request with every rule, of every policy the route
// names, whose match fits it (paths exactly, pathPrefixes as string
// prefixes, methods; an empty match fits every request) and whose by belongs
// to the stage: before authentication ip and header:<Name> rules, so failed
// logins count; after it apiKey (one count per ApiKey resource, shared by its
// current and grace keys) and subject rules. The request is refused when any
// of them is over its limit, and then none of them is charged: a refused
// request costs the client nothing. The refusal names the rule with the
// longest wait; an admission reports the rule with the fewest requests
// left.
//
// Edge cases, decided so that nobody escapes a limit by leaving something
// out: a request whose client address the server could not determine is
// counted under one shared "unknown" address; a request without the header
// of a header:<Name> rule is counted under one shared empty value. apiKey and
// subject rules skip requests without that identity (auth=none routes);
// ip rules are the ones that cover anonymous traffic.
//
// # The algorithm
//
// GCRA (the generic cell rate algorithm) keeps one timestamp per rule and
// client, the theoretical arrival time (TAT). With the emission interval
// T = period/limit (rounded up to the nanosecond, or to the microsecond in
// Redis), a request at time now is admitted when max(TAT, now) + T - now is
// at most limit*T, and then TAT becomes max(TAT, now) + T. So a client may
// send limit requests at once; after that it gets one request every T, and
// its long-run rate never exceeds limit per period. (GCRA measures time,
// not windows: after the burst, any span of k periods admits at most
// k*limit, plus one when the span starts with a fraction of an interval
// already earned.) A refused client is told
// exactly how long to wait (Retry-After, rounded up to whole seconds), and a
// request sent after that wait is admitted. A counter whose TAT has passed
// has fully recovered and is the same as no counter, so it can be dropped.
//
// # Plans and quotas
//
// A rule's overrides give selected credentials another limit: the record
// lists the ApiKey UIDs and JWT plan-claim values each override selects,
// and Compile turns them into one map per policy from credential to the
// override of each rule (the first listing wins), so a check finds its
// plan with one lookup and evaluates no selector. A credential keeps its
// counter when its plan changes.
//
// A rule with a calendar window (day, week from Monday, month; in an IANA
// zone) is a quota: it admits limit requests per window. Its counter holds
// the window's end plus the count, where a TAT would be, so it needs no
// reset, costs what a TAT costs, and is dropped like a recovered TAT once
// the window is over (quota.go). Its refusal has Quota set and waits until
// the window's end. A GCRA rule's period/limit must be at least a
// microsecond, the unit of the Redis script.
//
// # Memory and what happens at the bound
//
// The memory limiter holds one entry per rule and client: a 16-byte key (a
// 128-bit hash of policy, rule and value, never the IP or subject itself)
// and an 8-byte TAT, 40 to 60 bytes each with the map's overhead
// (measured: 56 bytes an entry with the default bound full), so the default
// bound of 1,000,000 entries takes at most about 60 MB. A shard is copied
// into a fresh map every MaxEntries/64 new clients, because Go maps keep the
// room of deleted entries: churn at the bound does not grow memory.
// The entries live in 64 lock-striped shards of MaxEntries/64 entries each,
// so concurrent checks rarely wait for each other. Every minute a sweeper
// drops entries that have fully recovered.
//
// When a shard is full, a new client first takes the place of recovered
// entries found among 16 sampled ones; when none has recovered, the sampled
// entry with the smallest TAT (the client closest to full recovery) is
// evicted, and keygate_ratelimit_evictions_total counts it. A flood of new
// IPs therefore cannot grow memory past the bound. What it does cost: once
// the shards are full, flood addresses (each seen once, so close to
// recovery) mostly displace each other, but a legitimate client that is also
// close to recovery may be evicted and then gets a fresh burst: at the
// bound, limits err towards admitting, never towards refusing a client that
// has not used its quota. Heavy clients, far from recovery, are the last to
// be evicted. Size MaxEntries for the number of distinct clients expected
// within one period, times the rules that count them.
//
// # Redis
//
// With Redis, every check is one EVALSHA of a Lua script that runs GCRA over
// all the check's keys atomically, all or nothing, with Redis's own clock
// (TIME), and stores each TAT with an expiry at its full recovery, so keys
// disappear on their own. Keys are "keygate:rl:v2:{<tag>}:<namespace>/
// <policy>:<rule>", the tag a SHA-256 prefix of the counted value (see
// redisKey). All keygate replicas share the counts. Concurrent checks are
// batched into pipelines by go-redis's autopipeliner (each check is still
// one EVALSHA, sharing a write with others); RedisOptions.NoAutoPipeline
// turns that off. With RedisOptions.Cluster the counters live in a Redis
// Cluster: a check's keys of one value share a slot and stay one script;
// a check counting several values runs one script per value and refunds
// on refusal (see redis_cluster.go).
//
// When Redis fails, OnError decides: "local" (the default) counts in this
// process's memory limiter until Redis answers again, so each replica
// enforces the limits on its own for the duration (up to replicas times the
// limit overall); "deny" makes Check return an error wrapping ErrUnavailable
// (the server answers 503); "allow" admits without counting. The switch is
// logged once in each direction, keygate_ratelimit_redis_errors_total counts
// the failed calls and keygate_ratelimit_redis_fallback_active is 1 meanwhile.
// A background probe pings Redis every second and switches back by itself.
package ratelimit
