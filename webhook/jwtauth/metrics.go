package jwtauth

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics on controller-runtime's registry. Labels are bounded: a result,
// or an issuer string taken from the config file (never from a token).
var (
	issuersLoaded = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keygate_jwt_issuers_loaded",
		Help: "JWT issuers in the config in use.",
	})
	configReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_jwt_config_reloads_total",
		Help: "Loads of the JWT config file by result (success, error). On error the previous config stays in use.",
	}, []string{"result"})
	jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_jwt_jwks_fetches_total",
		Help: "JWKS fetches by issuer and result (success, error).",
	}, []string{"issuer", "result"})
	revokedJTIs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keygate_jwt_revoked_jtis",
		Help: "Revoked jti values held in memory (entries past their token's expiry are pruned).",
	})
)

func init() {
	metrics.Registry.MustRegister(issuersLoaded, configReloads, jwksFetches, revokedJTIs)
}
