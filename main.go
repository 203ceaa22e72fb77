// Command keygate is one binary for the whole product: the controller, the
// auth server, a key generator for GitOps, and a local development mode.
package main

import (
	"os"

	"github.com/keygate-dev/keygate/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
