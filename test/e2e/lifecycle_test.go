package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// TestExpiringSoon: the controller process, with its default lead times
// (7 days and 1 day), warns of an ApiKey that expires in 5 days with one
// ExpiringSoon event (an Event object on the ApiKey, for the 7-day lead,
// not yet the 1-day one), and its /metrics exports the expiry as
// keygate_apikey_expiration_timestamp_seconds.
func TestExpiringSoon(t *testing.T) {
	s := getStack(t)
	ns := s.namespace(t, "e2e-expiring")
	expires := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	s.generatedKey(t, ns, "soon", keygatev1alpha1.ApiKeySpec{Subject: "acme", ExpiresAt: &metav1.Time{Time: expires}})

	var evs eventsv1.EventList
	eventually(t, 20*time.Second, "an ExpiringSoon event on the ApiKey", func() bool {
		err := s.env.Client.List(context.Background(), &evs, client.InNamespace(ns))
		return err == nil && len(expiringSoon(evs.Items, "soon")) > 0
	})
	got := expiringSoon(evs.Items, "soon")
	if len(got) != 1 || got[0].Type != "Warning" || !strings.Contains(got[0].Note, "less than 168h") ||
		!strings.Contains(got[0].Note, expires.Format(time.RFC3339)) {
		t.Fatalf("ExpiringSoon events %+v, want one Warning for the 168h lead naming the expiry %s", got, expires.Format(time.RFC3339))
	}

	series := fmt.Sprintf(`keygate_apikey_expiration_timestamp_seconds{name="soon",namespace="%s"}`, ns)
	var value string
	eventually(t, 10*time.Second, series+" on the controller's /metrics", func() bool {
		_, body := get(t, http.MethodGet, s.controllerMetrics, nil)
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				value = v
				return true
			}
		}
		return false
	})
	if v, err := strconv.ParseFloat(value, 64); err != nil || v != float64(expires.Unix()) {
		t.Errorf("%s = %s, want %d (spec.expiresAt)", series, value, expires.Unix())
	}
}

// expiringSoon are the ExpiringSoon events regarding the ApiKey name.
func expiringSoon(evs []eventsv1.Event, name string) []eventsv1.Event {
	var out []eventsv1.Event
	for _, e := range evs {
		if e.Reason == "ExpiringSoon" && e.Regarding.Kind == "ApiKey" && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}
