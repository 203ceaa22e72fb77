package devenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// The dev JWT issuer: HS256 with a secret in the Secret
// <namespace>/keygate-dev-jwt, data key hmac; no audience required.
const (
	DevIssuer     = "keygate-dev"
	DevJWTSecret  = "keygate-dev-jwt"
	DevHMACKey    = "hmac"
	hmacKeyLength = 32
)

// EnsureHMACSecret returns the dev issuer's HMAC secret, creating the
// Secret with 32 random bytes when it does not exist yet (a restart keeps
// the tokens it signed valid).
func EnsureHMACSecret(ctx context.Context, c client.Client, namespace string) ([]byte, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: DevJWTSecret}, &s)
	if err == nil && len(s.Data[DevHMACKey]) >= hmacKeyLength {
		return s.Data[DevHMACKey], nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading the dev JWT Secret: %w", err)
	}
	key := make([]byte, hmacKeyLength)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: DevJWTSecret, Namespace: namespace},
		Data:       map[string][]byte{DevHMACKey: key},
	}
	if err := c.Create(ctx, &s); err != nil {
		return nil, fmt.Errorf("creating the dev JWT Secret: %w", err)
	}
	return key, nil
}

// DevJWTConfig is the auth server's JWT config for the dev issuer.
func DevJWTConfig() jwtauth.Config {
	return jwtauth.Config{Issuers: []jwtauth.IssuerConfig{{
		Issuer:        DevIssuer,
		Algorithms:    []string{"HS256"},
		HMACSecretRef: &jwtauth.KeyRef{Name: DevJWTSecret, Key: DevHMACKey},
	}}}
}

// WriteJWTConfig writes a JWT config file (creating its folder) and checks
// that the auth server accepts it.
func WriteJWTConfig(path string, cfg jwtauth.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if _, err := jwtauth.ParseConfig(data); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// SignDevJWT signs a token of the dev issuer for sub with the given scopes,
// valid for ttl from now.
func SignDevJWT(secret []byte, sub string, scopes []string, now time.Time, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{
		"iss": DevIssuer,
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if len(scopes) > 0 {
		claims["scope"] = joinScopes(scopes)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }
