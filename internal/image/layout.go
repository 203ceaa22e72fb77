package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// RefNameAnnotation names an image in an OCI layout's index.json; tools
// such as skopeo and crane select the image by it (oci-archive:file:TAG).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayoutTar writes img as an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) in a tar stream, its index entry annotated with ref
// (e.g. v0.1.0). The tar is as reproducible as the image: entries sorted,
// owned by root, every time set to created.
func WriteLayoutTar(w io.Writer, img v1.Image, ref string, created time.Time) error {
	dir, err := os.MkdirTemp("", "keygate-oci-layout-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: ref})); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	return tarDir(w, dir, created.UTC().Truncate(time.Second))
}

// tarDir writes the files below dir, in name order, with fixed metadata.
func tarDir(w io.Writer, dir string, created time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		if err := tarEntry(tw, dir, n, created); err != nil {
			return err
		}
	}
	return tw.Close()
}

func tarEntry(tw *tar.Writer, dir, name string, created time.Time) error {
	h := &tar.Header{Name: name, ModTime: created, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	if name[len(name)-1] == '/' {
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
		return tw.WriteHeader(h)
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}
