package index

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keygate-dev/keygate/internal/record"
)

// decoded is a record Secret read but not yet in the index: its namespace
// and name (in an ObjectMeta that holds nothing else, so that a reflector's
// store can key it), its kind, and its record or why it cannot be used.
// The Secret itself is not kept: Store's transformer turns each Secret of
// a streamed first list into one, and the index later keeps the very
// record decoded here.
type decoded struct {
	metav1.ObjectMeta
	kind   string
	apiKey *record.APIKey
	policy *record.RateLimitPolicy
	err    error
}

func decode(s *corev1.Secret) *decoded {
	d := &decoded{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}, kind: s.Labels[record.LabelKind]}
	switch d.kind {
	case record.KindAPIKey:
		d.apiKey, d.err = record.DecodeAPIKey(s.Data[record.DataKey])
	case record.KindRateLimitPolicy:
		d.policy, d.err = record.DecodeRateLimitPolicy(s.Data[record.DataKey])
	default:
		d.err = fmt.Errorf("unknown record kind %q", d.kind)
	}
	return d
}

// apply adds or replaces what one decoded record says. A record that could
// not be decoded, or that is misnamed, removes what its Secret said before.
func (ix *Index[P]) apply(d *decoded) {
	id := d.Namespace + "/" + d.Name
	switch {
	case d.err != nil:
		ix.fail(id, d.kind, d.err)
	case d.apiKey != nil:
		if ix.named(d, d.apiKey.Source) {
			ix.putKey(id, d.apiKey)
		}
	case d.policy != nil:
		if !ix.named(d, d.policy.Source) {
			return
		}
		p, err := ix.compile(d.policy)
		if err != nil {
			ix.fail(id, d.kind, fmt.Errorf("compiling policy %s/%s: %w", d.policy.Source.Namespace, d.policy.Source.Name, err))
			return
		}
		ix.putPolicy(id, d.policy.Source.Namespace+"/"+d.policy.Source.Name, p)
	}
}
