// Command release writes the artefacts of a keygate release to a folder
// (hack/release.sh runs it; see `make release`):
//
//	keygate-VERSION.oci.tar  the image, as an OCI image layout tarball
//	install.yaml             kustomize build config/default, the image pinned by digest
//	crds.yaml                kustomize build config/crd
//	keygate-X.Y.Z.tgz        the Helm chart, version and appVersion set, the image pinned by digest
//	image-digest.txt         sha256:... of the image
//
// Usage:
//
//	go run ./hack/release -version v0.1.0 -binary dist/keygate -arch amd64 -created 1700000000 -out dist
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/keygate-dev/keygate/internal/image"
)

// semverTag is a release tag: v, then a semantic version.
var semverTag = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

type options struct {
	version    string
	binary     string
	caCerts    string
	arch       string
	created    int64
	repository string
	revision   string
	root       string
	out        string
}

func main() {
	var o options
	flag.StringVar(&o.version, "version", "", "release tag, e.g. v0.1.0")
	flag.StringVar(&o.binary, "binary", "", "the static keygate binary")
	flag.StringVar(&o.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle put into the image")
	flag.StringVar(&o.arch, "arch", "amd64", "GOARCH of the binary")
	flag.Int64Var(&o.created, "created", 0, "Unix time of the image and its files (SOURCE_DATE_EPOCH or the commit time)")
	flag.StringVar(&o.repository, "repository", "ghcr.io/keygate-dev/keygate", "image repository the release is pushed to")
	flag.StringVar(&o.revision, "revision", "", "commit of the release (image label)")
	flag.StringVar(&o.root, "root", ".", "root of the keygate repository")
	flag.StringVar(&o.out, "out", "dist", "output folder")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if !semverTag.MatchString(o.version) {
		return fmt.Errorf("-version %q is not a release tag like v0.1.0", o.version)
	}
	if o.binary == "" || o.created <= 0 {
		return fmt.Errorf("-binary and -created are required")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	digest, err := writeImage(o)
	if err != nil {
		return err
	}
	pinned := o.repository + "@" + digest.String()
	if err := writeInstall(o, digest); err != nil {
		return err
	}
	crds, err := kustomize(filepath.Join(o.root, "config", "crd"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "crds.yaml"), crds, 0o644); err != nil {
		return err
	}
	chart, err := packageChart(o, digest)
	if err != nil {
		return err
	}
	fmt.Printf("image %s\nchart %s\n", pinned, chart)
	return os.WriteFile(filepath.Join(o.out, "image-digest.txt"), []byte(digest.String()+"\n"), 0o644)
}

// writeImage builds the image and writes its OCI layout tarball.
func writeImage(o options) (v1.Hash, error) {
	created := time.Unix(o.created, 0).UTC()
	img, err := image.Build(image.Options{
		Binary:  o.binary,
		CACerts: o.caCerts,
		Created: created,
		Arch:    o.arch,
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://github.com/keygate-dev/keygate",
			"org.opencontainers.image.version":  o.version,
			"org.opencontainers.image.revision": o.revision,
		},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	f, err := os.Create(filepath.Join(o.out, "keygate-"+o.version+".oci.tar"))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := image.WriteLayoutTar(f, img, o.version, created); err != nil {
		_ = f.Close()
		return v1.Hash{}, err
	}
	return digest, f.Close()
}

// writeInstall builds config/default through an overlay that pins the
// image by digest, as `kustomize edit set image` would. Kustomize takes
// bases by relative path only: the overlay is a folder in the output
// folder, removed afterwards.
func writeInstall(o options, digest v1.Hash) error {
	dir, err := os.MkdirTemp(o.out, ".install-overlay-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	absBase, err := filepath.Abs(filepath.Join(o.root, "config", "default"))
	if err != nil {
		return err
	}
	base, err := filepath.Rel(absDir, absBase)
	if err != nil {
		return err
	}
	overlay := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources:\n- " + strconv.Quote(filepath.ToSlash(base)) + "\n" +
		"images:\n- name: keygate\n  newName: " + strconv.Quote(o.repository) + "\n  digest: " + digest.String() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		return err
	}
	y, err := kustomize(dir)
	if err != nil {
		return err
	}
	if want := o.repository + "@" + digest.String(); bytes.Count(y, []byte("image: "+want)) != 2 {
		return fmt.Errorf("install.yaml does not run %s in both Deployments", want)
	}
	return os.WriteFile(filepath.Join(o.out, "install.yaml"), y, 0o644)
}

func kustomize(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// packageChart packages charts/keygate as `helm package --version
// --app-version` does, with image.digest set in its values.yaml.
func packageChart(o options, digest v1.Hash) (string, error) {
	ch, err := loader.LoadDir(filepath.Join(o.root, "charts", "keygate"))
	if err != nil {
		return "", err
	}
	ch.Metadata.Version = strings.TrimPrefix(o.version, "v")
	ch.Metadata.AppVersion = o.version
	const unpinned = "  digest: \"\"\n"
	pinned := "  digest: \"" + digest.String() + "\"\n"
	found := false
	for _, f := range ch.Raw {
		if f.Name == chartutil.ValuesfileName && bytes.Count(f.Data, []byte(unpinned)) == 1 {
			f.Data = bytes.Replace(f.Data, []byte(unpinned), []byte(pinned), 1)
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("charts/keygate/values.yaml has no single line %q to pin the digest in", strings.TrimSpace(unpinned))
	}
	ch.Values["image"].(map[string]any)["digest"] = digest.String()
	if err := ch.Validate(); err != nil {
		return "", err
	}
	return chartutil.Save(ch, o.out)
}
