package jwtauth

import (
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// readConfig reads and parses the config file and returns the hash of its
// content, so that reloads skip content already tried.
func readConfig(path string) (*Config, [32]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("reading JWT config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, [32]byte{}, fmt.Errorf("JWT config %s: %w", path, err)
	}
	return cfg, sha256.Sum256(data), nil
}

// onObjectChange is called by the informers when a watched object is
// added, updated or deleted.
func (a *Authenticator) onObjectChange(ref objRef) {
	snap := a.cur.Load()
	if snap == nil {
		return
	}
	if snap.revocation != nil && *snap.revocation == ref {
		a.revMu.Lock()
		a.loadRevocations(a.cur.Load())
		a.revMu.Unlock()
		a.markReady()
	}
	a.checkObject(snap, ref)
}

// loadRevocations rebuilds the revocation list from snap's source. The
// caller holds revMu.
func (a *Authenticator) loadRevocations(snap *snapshot) {
	grace := time.Duration(0)
	if snap.cfg != nil {
		grace = snap.cfg.maxLeeway()
	}
	if snap.revocation == nil {
		a.revocations.replace(map[string]time.Time{}, grace)
		return
	}
	// A list that disappears (deleted, or its data key renamed) keeps the
	// last loaded one in force: losing it must not un-revoke every token.
	data, ok := a.objects.data(*snap.revocation)
	if !ok {
		a.log.Error(nil, "revocation list not found: the last loaded list stays in force until it is back",
			"object", snap.revocation.String(), "namespace", a.opts.Namespace)
		a.revocations.setGrace(grace)
		return
	}
	entries, problems := parseRevocationData(data, snap.revKey)
	for _, p := range problems {
		a.log.Error(nil, "revocation list entry", "object", snap.revocation.String(), "problem", p)
	}
	if entries == nil {
		a.revocations.setGrace(grace) // the data key is missing: keep the last list
		return
	}
	a.revocations.replace(entries, grace)
	a.log.V(1).Info("revocation list loaded", "object", snap.revocation.String(), "entries", a.revocations.len())
}

// checkObject logs what is wrong with an HMAC Secret, so that an operator
// sees why tokens of that issuer are refused. It never logs the secret.
func (a *Authenticator) checkObject(snap *snapshot, ref objRef) {
	for _, is := range snap.issuers {
		if is.hmac == nil || *is.hmac != ref {
			continue
		}
		data, ok := a.objects.data(ref)
		switch {
		case !ok:
			a.log.Error(nil, "HMAC Secret not found: tokens of this issuer are refused until it exists",
				"issuer", is.name, "secret", ref.name, "namespace", a.opts.Namespace)
		case len(data[is.hmacKey]) == 0:
			a.log.Error(nil, "HMAC Secret has no such data key: tokens of this issuer are refused",
				"issuer", is.name, "secret", ref.name, "key", is.hmacKey)
		case len(data[is.hmacKey]) < minHMACSecretBytes:
			a.log.Error(nil, "HMAC secret is too short: tokens of this issuer are refused",
				"issuer", is.name, "secret", ref.name, "key", is.hmacKey, "minBytes", minHMACSecretBytes)
		}
	}
}
