package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// Reasons of a RateLimitPolicy that is not compiled as it stands; the
// record it had before, if any, stays in effect.
const (
	// ReasonInvalidSpec: a selector or a time zone the API server cannot
	// check is wrong.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonTooLarge: the overrides select more ApiKeys than a record
	// holds, or the record would be too large for a Secret.
	ReasonTooLarge = "TooLarge"
)

// errTooLarge is wrapped by CompilePolicy's error when the record would
// exceed its bounds; other errors are invalid specs.
var errTooLarge = errors.New("too large")

// CompilePolicy is the record of a policy: periods as durations, methods as
// strings, header names canonical (as net/http stores them), and each
// override's selection resolved to the UIDs of the ApiKeys it selects among
// keys, which must be the ApiKeys of the policy's namespace: the auth
// server then evaluates no selector, and a key of another namespace is
// never selected.
func CompilePolicy(p *keygatev1alpha1.RateLimitPolicy, keys []keygatev1alpha1.ApiKey) (*record.RateLimitPolicy, error) {
	rec := &record.RateLimitPolicy{Version: record.Version, Source: source(&p.ObjectMeta), Rules: []record.Rule{}}
	planKeys := 0
	for i := range p.Spec.Rules {
		in := &p.Spec.Rules[i]
		out := record.Rule{Name: in.Name, Limit: in.Limit, Period: in.Period.Duration, By: in.By,
			Calendar: string(in.Calendar), TimeZone: in.TimeZone}
		if out.TimeZone == "UTC" {
			out.TimeZone = ""
		}
		if out.TimeZone != "" {
			if _, err := time.LoadLocation(out.TimeZone); err != nil {
				return nil, fmt.Errorf("rule %s: timeZone %q is not an IANA time zone the controller knows", in.Name, in.TimeZone)
			}
		}
		if name, ok := strings.CutPrefix(in.By, "header:"); ok {
			out.By = "header:" + textproto.CanonicalMIMEHeaderKey(name)
		}
		if m := in.Match; m != nil {
			out.Paths, out.PathPrefixes, out.CaseInsensitivePaths = m.Paths, m.PathPrefixes, m.CaseInsensitivePaths
			for _, meth := range m.Methods {
				out.Methods = append(out.Methods, string(meth))
			}
		}
		for j := range in.Overrides {
			o, err := compileOverride(p.Namespace, &in.Overrides[j], keys)
			if err != nil {
				return nil, fmt.Errorf("rule %s, override %s: %w", in.Name, in.Overrides[j].Name, err)
			}
			planKeys += len(o.APIKeys)
			out.Overrides = append(out.Overrides, o)
		}
		rec.Rules = append(rec.Rules, out)
	}
	if planKeys > record.MaxPlanKeys {
		return nil, fmt.Errorf("%w: the overrides select %d ApiKeys (counted once per override); a policy selects at most %d: select fewer keys or split the policy",
			errTooLarge, planKeys, record.MaxPlanKeys)
	}
	return rec, nil
}

// compileOverride resolves an override's ApiKey selection (labels or
// subjects, in namespace ns) to sorted UIDs.
func compileOverride(ns string, in *keygatev1alpha1.RateLimitOverride, keys []keygatev1alpha1.ApiKey) (record.Override, error) {
	out := record.Override{Name: in.Name, Limit: in.Limit, Period: in.Period.Duration, JWTPlans: in.JWTPlans}
	sel := labels.Nothing()
	if in.APIKeySelector != nil {
		s, err := metav1.LabelSelectorAsSelector(in.APIKeySelector)
		if err != nil {
			return out, fmt.Errorf("apiKeySelector: %w", err)
		}
		sel = s
	}
	for i := range keys {
		k := &keys[i]
		if k.Namespace != ns {
			continue
		}
		if sel.Matches(labels.Set(k.Labels)) || slices.Contains(in.Subjects, k.Spec.Subject) {
			out.APIKeys = append(out.APIKeys, string(k.UID))
		}
	}
	slices.Sort(out.APIKeys)
	return out, nil
}

// selectsKeys reports whether a policy has an override that selects
// ApiKeys, so that it must be compiled again when ApiKeys change.
func selectsKeys(p *keygatev1alpha1.RateLimitPolicy) bool {
	for i := range p.Spec.Rules {
		for _, o := range p.Spec.Rules[i].Overrides {
			if o.APIKeySelector != nil || len(o.Subjects) > 0 {
				return true
			}
		}
	}
	return false
}

// hasCalendar reports whether a policy has a calendar quota.
func hasCalendar(p *keygatev1alpha1.RateLimitPolicy) bool {
	for i := range p.Spec.Rules {
		if p.Spec.Rules[i].Calendar != "" {
			return true
		}
	}
	return false
}

// planKeys lists the ApiKeys of the policy's namespace when its overrides
// select ApiKeys, from the manager's cache.
func (r *RateLimitPolicyReconciler) planKeys(ctx context.Context, p *keygatev1alpha1.RateLimitPolicy) ([]keygatev1alpha1.ApiKey, error) {
	if !selectsKeys(p) {
		return nil, nil
	}
	var list keygatev1alpha1.ApiKeyList
	if err := r.Client.List(ctx, &list, client.InNamespace(p.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the ApiKeys of namespace %s for the policy's overrides: %w", p.Namespace, err)
	}
	return list.Items, nil
}

// policiesSelecting maps an ApiKey to the policies of its namespace whose
// overrides select ApiKeys: a key created, deleted, relabelled or given
// another subject may move between plans.
func (r *RateLimitPolicyReconciler) policiesSelecting(ctx context.Context, obj client.Object) []reconcile.Request {
	if !r.Options.watches(obj.GetNamespace()) {
		return nil
	}
	var list keygatev1alpha1.RateLimitPolicyList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if selectsKeys(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
		}
	}
	return out
}

// compiledCondition is the Ready condition of a policy compiled into rec.
// The controller cannot know where the auth server counts (its flags), so
// a policy with a calendar quota says where its counts are durable.
func compiledCondition(p *keygatev1alpha1.RateLimitPolicy) (reason, msg string) {
	msg = fmt.Sprintf("%d rule(s) served by the auth server.", len(p.Spec.Rules))
	if hasCalendar(p) {
		msg += " Calendar quotas are only as durable as the auth server's counters: with Redis (--redis-url) they are shared by every replica and survive restarts; in memory (the default) each replica counts on its own and starts again from zero when it restarts."
	}
	return keygatev1alpha1.ReasonCompiled, msg
}
