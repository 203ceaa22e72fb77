package cli

import (
	"fmt"
	"io"

	"github.com/keygate-dev/keygate/internal/record"
)

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", "Prints a new API key and the keyHashes line for an ApiKey manifest in GitOps mode.\nGive the key to the client; commit only the sha256 line.", stderr)
	prefix := fs.String("prefix", "sk_", "key prefix, matching ^[a-z][a-z0-9]{0,15}_$ (use pub_ for public keys)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	key, err := record.NewKey(*prefix)
	if err != nil {
		return err
	}
	h := record.HashKey(key)
	fmt.Fprintf(stdout, "key:    %s\n", key)
	fmt.Fprintf(stdout, "keyId:  %s\n", h.KeyID())
	fmt.Fprintf(stdout, "manifest line (spec.keyHashes):\n  - sha256: %s\n", h)
	return nil
}
