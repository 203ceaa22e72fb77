package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate-dev/keygate/internal/record"
)

// ErrInvalidPolicy is wrapped by every error Compile returns for a record
// that breaks the RateLimitPolicy rules.
var ErrInvalidPolicy = errors.New("invalid RateLimitPolicy record")

// The same bounds the CRD enforces; Compile checks them again because a
// Secret can be written by hand.
const (
	maxLimit     = 1_000_000_000
	minPeriod    = time.Second
	maxPeriod    = 744 * time.Hour // 31 days
	maxListItems = 64
	maxItemLen   = 256
	maxRules     = 64
	maxOverrides = 16
)

var (
	ruleNameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// byKind is what a rule counts by.
type byKind uint8

const (
	byIP byKind = iota
	byHeader
	byAPIKey
	bySubject
	bySharedSubject
)

// Policy is a compiled RateLimitPolicy. It is immutable and safe for
// concurrent use.
type Policy struct {
	name  string
	rules []rule
	// keyPlans and jwtPlans give, for an ApiKey's UID or a JWT's plan
	// claim, the override each rule applies (see planRow): one lookup a
	// check, no selector evaluated.
	keyPlans map[string]planRow
	jwtPlans map[string]planRow
}

// rule is one compiled rule with everything the hot path needs precomputed.
type rule struct {
	policy   string
	name     string
	by       byKind
	header   string // canonical header name for byHeader
	stage    Stage
	paths    []string // trailing slashes trimmed (see matches)
	prefixes []string
	fold     bool      // paths and prefixes ignore letter case
	methods  methodSet // zero: every method

	// own is the rule's own limit; overrides are its plans, in order.
	own       params
	overrides []params
	// cal is the calendar window of a quota; nil for a rolling rule.
	cal *calendar
	// idA and idB name the rule in memory keys (see memKey).
	idA, idB uint64
	// redisPrefix starts every Redis key of the rule.
	redisPrefix string
	allowed     prometheus.Counter
	refused     prometheus.Counter
}

// Name returns "namespace/name" of the RateLimitPolicy.
func (p *Policy) Name() string { return p.name }

// Compile validates a RateLimitPolicy record and compiles it for Check.
func Compile(rec *record.RateLimitPolicy) (*Policy, error) { return compile(rec, unexported) }

// recordPolicy is the record a policy is compiled from.
type recordPolicy = record.RateLimitPolicy

func compile(rec *record.RateLimitPolicy, m *Metrics) (*Policy, error) {
	if rec == nil {
		return nil, fmt.Errorf("%w: nil record", ErrInvalidPolicy)
	}
	if rec.Version != record.Version {
		return nil, fmt.Errorf("%w: %w: %d", ErrInvalidPolicy, record.ErrUnsupportedVersion, rec.Version)
	}
	if rec.Source.Namespace == "" || rec.Source.Name == "" {
		return nil, fmt.Errorf("%w: source namespace and name are required", ErrInvalidPolicy)
	}
	name := rec.Source.Namespace + "/" + rec.Source.Name
	if len(rec.Rules) == 0 || len(rec.Rules) > maxRules {
		return nil, fmt.Errorf("%w %s: needs 1 to %d rules, has %d", ErrInvalidPolicy, name, maxRules, len(rec.Rules))
	}
	p := &Policy{name: name, rules: make([]rule, len(rec.Rules))}
	seen := make(map[string]bool, len(rec.Rules))
	for i := range rec.Rules {
		in := &rec.Rules[i]
		if seen[in.Name] {
			return nil, fmt.Errorf("%w %s: rule name %q is used twice", ErrInvalidPolicy, name, in.Name)
		}
		seen[in.Name] = true
		if err := compileRule(&p.rules[i], name, in, m); err != nil {
			return nil, fmt.Errorf("%w %s: rule %q: %w", ErrInvalidPolicy, name, in.Name, err)
		}
	}
	if err := p.compilePlans(rec); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidPolicy, name, err)
	}
	return p, nil
}

func compileRule(r *rule, policy string, in *record.Rule, m *Metrics) error {
	if !ruleNameRE.MatchString(in.Name) || len(in.Name) > 63 {
		return errors.New("name must be 1 to 63 characters of a-z, 0-9 and '-'")
	}
	if in.Limit < 1 || in.Limit > maxLimit {
		return fmt.Errorf("limit %d is not between 1 and %d", in.Limit, maxLimit)
	}
	cal, err := newCalendar(in.Calendar, in.TimeZone)
	if err != nil {
		return err
	}
	if cal != nil && in.Period != 0 {
		return errors.New("a rule has a period or a calendar window, not both")
	}
	own, err := newParams("", in.Limit, in.Period, cal)
	if err != nil {
		return err
	}
	if err := compileBy(r, in.By); err != nil {
		return err
	}
	overrides, err := compileOverrides(in, r.stage, cal)
	if err != nil {
		return err
	}
	if err := checkPaths(in.Paths, in.PathPrefixes); err != nil {
		return err
	}
	methods, err := parseMethods(in.Methods)
	if err != nil {
		return err
	}
	*r = rule{
		policy: policy, name: in.Name,
		by: r.by, header: r.header, stage: r.stage,
		paths: trimmed(in.Paths), prefixes: clone(in.PathPrefixes), fold: in.CaseInsensitivePaths, methods: methods,
		own: own, overrides: overrides, cal: cal,
	}
	r.idA, r.idB = ruleID(policy, in.Name)
	r.redisPrefix = "keygate:rl:v1:" + policy + ":" + in.Name + ":"
	r.allowed = m.decisions.WithLabelValues(policy, in.Name, "allowed")
	r.refused = m.decisions.WithLabelValues(policy, in.Name, "refused")
	return nil
}

func compileBy(r *rule, by string) error {
	switch {
	case by == "ip":
		r.by, r.stage = byIP, BeforeAuth
	case by == "apiKey":
		r.by, r.stage = byAPIKey, AfterAuth
	case by == "subject":
		r.by, r.stage = bySubject, AfterAuth
	case by == "sharedSubject":
		r.by, r.stage = bySharedSubject, AfterAuth
	case strings.HasPrefix(by, "header:") && len(by) <= 128 && headerNameRE.MatchString(by[len("header:"):]):
		r.by, r.stage = byHeader, BeforeAuth
		r.header = http.CanonicalHeaderKey(by[len("header:"):])
	default:
		return fmt.Errorf("by %q is not ip, apiKey, subject, sharedSubject or header:<Name>", by)
	}
	return nil
}

func checkPaths(lists ...[]string) error {
	for _, list := range lists {
		if len(list) > maxListItems {
			return fmt.Errorf("at most %d paths or prefixes, got %d", maxListItems, len(list))
		}
		for _, p := range list {
			if len(p) > maxItemLen {
				return fmt.Errorf("path %q must be at most %d characters", p, maxItemLen)
			}
			if err := checkRulePath(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// trimmed is a copy of exact paths without their trailing slashes.
func trimmed(s []string) []string {
	out := clone(s)
	for i, p := range out {
		out[i] = trimSlash(p)
	}
	return out
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
