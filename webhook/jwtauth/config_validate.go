package jwtauth

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// algFamily groups algorithms by the type of key that verifies them.
type algFamily int

const (
	familyHMAC algFamily = iota + 1
	familyRSA
	familyECDSA
	familyEdDSA
)

// supportedAlgs maps every accepted alg value to its key family. "none" is
// deliberately absent.
var supportedAlgs = map[string]algFamily{
	"HS256": familyHMAC, "HS384": familyHMAC, "HS512": familyHMAC,
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyECDSA, "ES384": familyECDSA, "ES512": familyECDSA,
	"EdDSA": familyEdDSA,
}

func (c *Config) validate() field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i := range c.Issuers {
		p := field.NewPath("issuers").Index(i)
		is := &c.Issuers[i]
		if is.Issuer != "" && seen[is.Issuer] {
			errs = append(errs, field.Duplicate(p.Child("issuer"), is.Issuer))
		}
		seen[is.Issuer] = true
		errs = append(errs, is.validate(p)...)
	}
	if c.Revocation != nil {
		errs = append(errs, c.Revocation.validate(field.NewPath("revocation"))...)
	}
	return errs
}

func (is *IssuerConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if is.Issuer == "" {
		errs = append(errs, field.Required(p.Child("issuer"), "the exact iss value of the tokens"))
	} else if !headerSafe(is.Issuer, true) {
		// It is sent upstream in X-Auth-Issuer and qualifies rate-limit
		// subjects with a line feed.
		errs = append(errs, field.Invalid(p.Child("issuer"), is.Issuer, "must not contain control characters"))
	}
	if is.SubjectClaim == is.ScopesClaim {
		errs = append(errs, field.Invalid(p.Child("scopesClaim"), is.ScopesClaim, "must differ from subjectClaim"))
	}
	errs = append(errs, validateDuration(p.Child("leeway"), is.Leeway, 0, maxLeeway)...)
	errs = append(errs, is.validateKeySource(p)...)
	return errs
}

// validateKeySource checks that exactly one key source is set and that the
// algorithm allow-list fits it: HMAC algorithms only with an HMAC secret,
// public-key algorithms only with public keys. This is the first of two
// guards against HMAC/RSA confusion; the key lookup is the second.
func (is *IssuerConfig) validateKeySource(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sources := 0
	for _, set := range []bool{is.HMACSecretRef != nil, len(is.PublicKeys) > 0, is.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = append(errs, field.Invalid(p, fmt.Sprintf("%d key sources", sources),
			"set exactly one key source: hmacSecretRef, publicKeys or jwksURL"))
	}
	wantHMAC := is.HMACSecretRef != nil
	errs = append(errs, validateAlgorithms(p.Child("algorithms"), is.Algorithms, wantHMAC)...)
	if is.HMACSecretRef != nil {
		errs = append(errs, validateRef(p.Child("hmacSecretRef"), is.HMACSecretRef)...)
	}
	for i, pemText := range is.PublicKeys {
		if _, err := parsePublicKeyPEM([]byte(pemText)); err != nil {
			errs = append(errs, field.Invalid(p.Child("publicKeys").Index(i), "<PEM>", err.Error()))
		}
	}
	if is.JWKSURL != "" {
		errs = append(errs, validateJWKSURL(p.Child("jwksURL"), is.JWKSURL)...)
		errs = append(errs, validateDuration(p.Child("jwksRefreshInterval"), is.JWKSRefreshInterval, minJWKSInterval, 0)...)
		errs = append(errs, validateDuration(p.Child("jwksMinRefetchInterval"), is.JWKSMinRefetchInterval, minJWKSInterval, 0)...)
		if n := is.JWKSMaxMissedRefreshes; n != nil && (*n < 1 || *n > maxJWKSMissedRefreshes) {
			errs = append(errs, field.Invalid(p.Child("jwksMaxMissedRefreshes"), *n, fmt.Sprintf("must be between 1 and %d", maxJWKSMissedRefreshes)))
		}
	} else if is.JWKSMaxMissedRefreshes != nil {
		errs = append(errs, field.Invalid(p.Child("jwksMaxMissedRefreshes"), *is.JWKSMaxMissedRefreshes, "applies only with jwksURL"))
	}
	return errs
}

func validateAlgorithms(p *field.Path, algs []string, wantHMAC bool) field.ErrorList {
	var errs field.ErrorList
	if len(algs) == 0 {
		errs = append(errs, field.Required(p, "list the accepted alg values, e.g. [HS256] or [RS256, ES256]"))
	}
	for i, alg := range algs {
		fam, ok := supportedAlgs[alg]
		switch {
		case strings.EqualFold(alg, "none"):
			errs = append(errs, field.Forbidden(p.Index(i), `"none" is never accepted`))
		case !ok:
			errs = append(errs, field.NotSupported(p.Index(i), alg, supportedAlgNames()))
		case wantHMAC && fam != familyHMAC:
			errs = append(errs, field.Invalid(p.Index(i), alg, "an hmacSecretRef only verifies HS256, HS384 or HS512"))
		case !wantHMAC && fam == familyHMAC:
			errs = append(errs, field.Invalid(p.Index(i), alg, "HMAC algorithms need hmacSecretRef; public keys never serve as HMAC secrets"))
		}
	}
	return errs
}

func supportedAlgNames() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

func validateRef(p *field.Path, ref *KeyRef) field.ErrorList {
	var errs field.ErrorList
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "name of the object in keygate's namespace"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(ref.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	if ref.Key != "" {
		for _, msg := range validation.IsConfigMapKey(ref.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), ref.Key, msg))
		}
	}
	return errs
}

func validateJWKSURL(p *field.Path, raw string) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Invalid(p, raw, err.Error())}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, raw, "must be an absolute https:// (or http://) URL")}
	}
	return nil
}

func validateDuration(p *field.Path, d *Duration, lo, hi time.Duration) field.ErrorList {
	if d == nil {
		return nil
	}
	if d.invalid != "" {
		return field.ErrorList{field.Invalid(p, d.invalid, "not a duration: write it like 30s, 10m or 1h")}
	}
	if d.Duration < lo || (hi > 0 && d.Duration > hi) {
		msg := "must be at least " + lo.String()
		if hi > 0 {
			msg += " and at most " + hi.String()
		}
		return field.ErrorList{field.Invalid(p, d.String(), msg)}
	}
	return nil
}

func (r *RevocationConfig) validate(p *field.Path) field.ErrorList {
	switch {
	case (r.SecretRef == nil) == (r.ConfigMapRef == nil):
		return field.ErrorList{field.Invalid(p, "", "set exactly one of secretRef or configMapRef")}
	case r.SecretRef != nil:
		return validateRef(p.Child("secretRef"), r.SecretRef)
	default:
		return validateRef(p.Child("configMapRef"), r.ConfigMapRef)
	}
}

// signingMethods turns an allow-list into golang-jwt's method names,
// checked by jwt.WithValidMethods.
func signingMethods(algs []string) []string {
	out := make([]string, 0, len(algs))
	for _, a := range algs {
		if m := jwt.GetSigningMethod(a); m != nil && m.Alg() == a {
			out = append(out, a)
		}
	}
	return out
}
