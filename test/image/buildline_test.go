// Package image_test checks keygate's container image as a container
// runtime sees it: built from the static binary by internal/image with no
// container engine, reproducible, running /keygate as 65532 with no shell;
// and that the Dockerfile builds the binary exactly as the Makefile does.
package image_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/test/testenv"
)

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, parts...)...)
}

// goBuild is one go build command line: its environment settings (but
// GOOS/GOARCH, which name the target), its flags, and the package.
type goBuild struct {
	env   []string
	flags []string
	pkg   string
}

// parseGoBuild finds the one line of file that runs go build with
// CGO_ENABLED (the release build) and splits it, honouring double quotes.
func parseGoBuild(t *testing.T, file string) goBuild {
	t.Helper()
	data, err := os.ReadFile(repoPath(file))
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^.*CGO_ENABLED=.* build .*$`).FindAllString(string(data), -1)
	if len(lines) != 1 {
		t.Fatalf("%s: %d release go build lines, want 1: %q", file, len(lines), lines)
	}
	words := regexp.MustCompile(`(?:[^\s"]+|"[^"]*")+`).FindAllString(lines[0], -1)
	var b goBuild
	i := slices.Index(words, "build")
	if i < 1 || !strings.HasSuffix(words[i-1], "go") && words[i-1] != "$(GO)" {
		t.Fatalf("%s: no go build in %q", file, lines[0])
	}
	for _, w := range words[:i-1] {
		if strings.Contains(w, "=") && !strings.HasPrefix(w, "GOOS=") && !strings.HasPrefix(w, "GOARCH=") && w != "RUN" {
			b.env = append(b.env, w)
		}
	}
	rest := words[i+1:]
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == "-o":
			j++ // the output path differs on purpose
		case strings.HasPrefix(rest[j], "-"):
			b.flags = append(b.flags, strings.ReplaceAll(rest[j], `"`, ""))
		default:
			b.pkg = rest[j]
		}
	}
	return b
}

// TestDockerfileBuildsLikeTheMakefile: the Dockerfile's go build line has
// the environment, flags and package of the Makefile's build-static line,
// so users with Docker get the binary the release ships; and its Go image
// is the Go version go.mod asks for.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	mk, df := parseGoBuild(t, "Makefile"), parseGoBuild(t, "Dockerfile")
	if !slices.Equal(mk.env, df.env) || !slices.Equal(mk.flags, df.flags) || mk.pkg != df.pkg {
		t.Errorf("the Makefile builds with %+v, the Dockerfile with %+v", mk, df)
	}
	if !slices.Contains(mk.env, "CGO_ENABLED=0") || !slices.Contains(mk.flags, "-trimpath") {
		t.Errorf("the release build %+v is not static (CGO_ENABLED=0) and -trimpath", mk)
	}
	gomod, err := os.ReadFile(repoPath("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	dockerfile, _ := os.ReadFile(repoPath("Dockerfile"))
	from := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S* AS builder`).FindSubmatch(dockerfile)
	if goVer == nil || from == nil {
		t.Fatal("no go line in go.mod, or no FROM golang:X.Y AS builder in the Dockerfile")
	}
	if string(goVer[1]) != string(from[1]) {
		t.Errorf("the Dockerfile builds with golang:%s, go.mod asks for go %s", from[1], goVer[1])
	}
}
