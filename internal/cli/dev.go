package cli

import (
	"errors"
	"io"
)

func runDev(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", "Runs the whole product locally with no cluster.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return errors.New("not implemented yet")
}
