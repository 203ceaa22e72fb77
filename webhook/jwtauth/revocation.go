package jwtauth

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// revocationList holds the revoked jti values and, where known, the expiry
// of the token each names. An entry is pruned once that token would be
// refused as expired anyway (expiry plus the largest leeway); an entry of
// unknown expiry is kept for as long as the source lists it.
type revocationList struct {
	clock clock.PassiveClock

	mu      sync.RWMutex
	entries map[string]time.Time // zero time: expiry unknown
	grace   time.Duration
}

func newRevocationList(c clock.PassiveClock) *revocationList {
	return &revocationList{clock: c, entries: map[string]time.Time{}}
}

// replace installs a new list, without the entries already past expiry.
func (r *revocationList) replace(entries map[string]time.Time, grace time.Duration) {
	r.mu.Lock()
	r.entries, r.grace = entries, grace
	r.mu.Unlock()
	r.prune()
}

// setGrace changes how long past its expiry an entry is kept.
func (r *revocationList) setGrace(grace time.Duration) {
	r.mu.Lock()
	r.grace = grace
	r.mu.Unlock()
}

// revoked reports whether jti is listed and not yet past its expiry.
func (r *revocationList) revoked(jti string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	exp, ok := r.entries[jti]
	return ok && !r.expired(exp)
}

func (r *revocationList) expired(exp time.Time) bool {
	return !exp.IsZero() && r.clock.Now().After(exp.Add(r.grace))
}

// prune drops the entries whose tokens have expired and returns how many
// entries remain.
func (r *revocationList) prune() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, exp := range r.entries {
		if r.expired(exp) {
			delete(r.entries, jti)
		}
	}
	revokedJTIs.Set(float64(len(r.entries)))
	return len(r.entries)
}

func (r *revocationList) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}

// parseRevocationData reads the data of the revocation Secret or
// ConfigMap. Without key, each data key is a jti and its value is empty
// or the expiry. With key, that entry holds one "jti [expiry]" per line.
// An expiry that does not parse is reported and the entry kept with an
// unknown expiry: a typo must never un-revoke a token.
func parseRevocationData(data map[string][]byte, key string) (map[string]time.Time, []string) {
	out := map[string]time.Time{}
	var problems []string
	add := func(jti, expText, where string) {
		exp, err := parseExpiry(expText)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
		}
		out[jti] = exp
	}
	if key == "" {
		for jti, v := range data {
			add(jti, string(v), fmt.Sprintf("data key %q", jti))
		}
		return out, sortedProblems(problems)
	}
	value, ok := data[key]
	if !ok {
		return nil, []string{fmt.Sprintf("data key %q is missing; the last loaded list stays in force", key)}
	}
	for i, line := range strings.Split(string(value), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		where := fmt.Sprintf("data key %q line %d", key, i+1)
		if len(fields) > 2 {
			problems = append(problems, where+": expected \"jti [expiry]\"")
		}
		add(fields[0], strings.Join(fields[1:min(len(fields), 2)], ""), where)
	}
	return out, problems
}

// parseExpiry reads "", Unix seconds, or RFC 3339. "" is an unknown expiry.
func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expiry %q is neither RFC 3339 nor Unix seconds; kept without expiry", s)
	}
	return t, nil
}

func sortedProblems(p []string) []string {
	sort.Strings(p)
	return p
}
