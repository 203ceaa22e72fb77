package cli

import (
	"errors"
	"io"
)

func runController(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("controller", "Runs the controller: compiles ApiKeys and RateLimitPolicies into Secrets in keygate's namespace.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet")
}
