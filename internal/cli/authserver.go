package cli

import (
	"errors"
	"io"
)

func runAuthServer(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("auth-server", "Runs the auth server: answers /check for ingress proxies.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet")
}
