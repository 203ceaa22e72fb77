package image_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// wantFiles is the image's whole file system, as the flattened image
// lists it: name, type, mode and owner.
var wantFiles = []string{
	"etc dir 0755 0:0",
	"etc/group file 0644 0:0",
	"etc/passwd file 0644 0:0",
	"etc/ssl dir 0755 0:0",
	"etc/ssl/certs dir 0755 0:0",
	"etc/ssl/certs/ca-certificates.crt file 0644 0:0",
	"home dir 0755 0:0",
	"home/nonroot dir 0700 65532:65532",
	"keygate file 0755 0:0",
	"tmp dir 1777 0:0",
}

// checkLayer reads the image's one layer and its flattened file system (as
// a runtime unpacks it), compares the file list with wantFiles, checks
// the binary, the users and the CA bundle, and unpacks it into rootfs.
func checkLayer(t *testing.T, img v1.Image, bin, rootfs string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	fs := mutate.Extract(img)
	defer func() { _ = fs.Close() }()
	var data bytes.Buffer
	files := untar(t, io.TeeReader(fs, &data), rootfs)
	if !slices.Equal(files, wantFiles) {
		t.Errorf("the image holds\n  %s\nwant\n  %s", strings.Join(files, "\n  "), strings.Join(wantFiles, "\n  "))
	}
	for _, f := range files {
		name := strings.Fields(f)[0]
		if slices.Contains([]string{"sh", "bash", "dash", "ash", "busybox"}, path.Base(name)) || strings.HasPrefix(name, "bin") || strings.HasPrefix(name, "usr") {
			t.Errorf("the image holds %s: no shell, no other programs", f)
		}
	}
	same := func(inImage, outside string) {
		a, errA := os.ReadFile(filepath.Join(rootfs, inImage))
		b, errB := os.ReadFile(outside)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("/%s in the image is not %s (%v, %v)", inImage, outside, errA, errB)
		}
	}
	same("keygate", bin)
	same("etc/ssl/certs/ca-certificates.crt", caCerts)
	passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
	group, _ := os.ReadFile(filepath.Join(rootfs, "etc", "group"))
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:[^:]*:/home/nonroot:`).Match(passwd) || !regexp.MustCompile(`(?m)^nonroot:x:65532:`).Match(group) {
		t.Errorf("no nonroot user 65532 in /etc/passwd and /etc/group:\n%s\n%s", passwd, group)
	}
}

// untar unpacks a tar stream into dir and lists its entries as
// "name type mode uid:gid". Owners are set when running as root.
func untar(t *testing.T, r io.Reader, dir string) []string {
	t.Helper()
	var list []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return list
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("tar entry %q leaves the folder", h.Name)
		}
		kind := map[byte]string{tar.TypeDir: "dir", tar.TypeReg: "file"}[h.Typeflag]
		if kind == "" {
			t.Fatalf("tar entry %q of type %c: only files and folders expected", h.Name, h.Typeflag)
		}
		list = append(list, fmt.Sprintf("%s %s %04o %d:%d", h.Name, kind, h.Mode, h.Uid, h.Gid))
		if err := unpack(tr, h, filepath.Join(dir, h.Name)); err != nil {
			t.Fatal(err)
		}
	}
}

func unpack(r io.Reader, h *tar.Header, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeDir {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, h.FileInfo().Mode())
}

// runInChroot runs the unpacked entrypoint as the image's user, in a
// chroot of the unpacked file system: --help, and keygen. A shell is not
// there to run. chroot needs root; the CI machine is root, elsewhere the
// test says why it cannot run this part.
func runInChroot(t *testing.T, rootfs string) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "running the image in a chroot needs root (chroot(2) is privileged); the image's files and config were checked"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: this may not be skipped)")
		}
		t.Skip(msg)
	}
	if err := os.Chmod(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("chroot", append([]string{"--userspec=65532:65532", rootfs}, args...)...)
		cmd.Env = []string{}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	_, stderr, err := run("/keygate", "--help")
	if err != nil || !strings.Contains(stderr, "Usage: keygate <command>") || !strings.Contains(stderr, "auth-server") {
		t.Errorf("/keygate --help as 65532 in the image: %v\n%s", err, stderr)
	}
	stdout, stderr, err := run("/keygate", "keygen")
	if err != nil || !regexp.MustCompile(`(?m)^key: +sk_\S+$`).MatchString(stdout) || !strings.Contains(stdout, "- sha256: ") {
		t.Errorf("/keygate keygen as 65532 in the image: %v\nstderr: %s", err, stderr)
	}
	if _, _, err := run("/bin/sh", "-c", "true"); err == nil {
		t.Errorf("/bin/sh ran in the image")
	}
}
