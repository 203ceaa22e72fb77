package image_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/keygate-dev/keygate/internal/image"
)

const caCerts = "/etc/ssl/certs/ca-certificates.crt"

// buildBinary builds keygate with the Makefile's release flags.
func buildBinary(t *testing.T) string {
	t.Helper()
	b := parseGoBuild(t, "Makefile")
	out := filepath.Join(t.TempDir(), "keygate")
	cmd := exec.Command("go", append(append([]string{"build"}, b.flags...), "-o", out, b.pkg)...)
	cmd.Dir = repoPath()
	cmd.Env = append(append(os.Environ(), b.env...), "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

func requireCACerts(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(caCerts); err != nil {
		msg := "no " + caCerts + ": apt-get install ca-certificates"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// layoutTar builds the image and its OCI layout tarball.
func layoutTar(t *testing.T, o image.Options) (v1.Hash, []byte) {
	t.Helper()
	img, err := image.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := image.WriteLayoutTar(&buf, img, "v0.0.0-test", o.Created); err != nil {
		t.Fatal(err)
	}
	return d, buf.Bytes()
}

// TestImage builds the image twice from one binary build (the binary's
// own reproducibility is Go's, with -trimpath and no VCS stamp), checks
// that both give the same digest and the same layout tarball, then reads
// the tarball as a container runtime does and runs the entrypoint.
func TestImage(t *testing.T) {
	requireCACerts(t)
	bin := buildBinary(t)
	o := image.Options{Binary: bin, CACerts: caCerts, Created: time.Unix(1700000000, 0), Arch: runtime.GOARCH,
		Labels: map[string]string{"org.opencontainers.image.version": "v0.0.0-test"}}
	d1, tar1 := layoutTar(t, o)
	d2, tar2 := layoutTar(t, o)
	if d1 != d2 || sha256.Sum256(tar1) != sha256.Sum256(tar2) {
		t.Fatalf("two builds of the same binary differ: %s and %s", d1, d2)
	}
	o.Created = o.Created.Add(time.Second)
	if d3, _ := layoutTar(t, o); d3 == d1 {
		t.Fatalf("a different creation time gives the same digest %s: is the time in the image at all?", d1)
	}

	dir := t.TempDir()
	untar(t, bytes.NewReader(tar1), filepath.Join(dir, "layout"))
	img := imageFromLayout(t, filepath.Join(dir, "layout"), d1)
	checkConfig(t, img)
	rootfs := filepath.Join(dir, "rootfs")
	checkLayer(t, img, bin, rootfs)
	runInChroot(t, rootfs)
}

// imageFromLayout opens an OCI layout as a runtime importing it does: the
// index, the one manifest named by its ref annotation, the image.
func imageFromLayout(t *testing.T, dir string, want v1.Hash) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("not an OCI layout: %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("the layout holds %d manifests, want 1", len(im.Manifests))
	}
	m := im.Manifests[0]
	if m.Digest != want || m.MediaType != types.OCIManifestSchema1 || m.Annotations[image.RefNameAnnotation] != "v0.0.0-test" {
		t.Fatalf("index entry %+v; want the OCI manifest %s named v0.0.0-test", m, want)
	}
	img, err := idx.Image(m.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/keygate" || len(c.Cmd) != 0 {
		t.Errorf("config runs %v %v as %q; want /keygate as 65532:65532", c.Entrypoint, c.Cmd, c.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %s, want the given time", cf.Created)
	}
}
