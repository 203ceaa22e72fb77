// Package image assembles keygate's container image without a container
// engine or a base image: one layer holding the static binary, an
// /etc/passwd and /etc/group with the nonroot user 65532, and the CA
// certificates, on an empty image. No shell, no package manager.
//
// The image is reproducible: every timestamp is Options.Created and the
// layer's files are written in a fixed order with fixed owners and modes,
// so the same binary and certificates give the same digest.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the uid and gid the image runs as: distroless's nonroot.
const User = "65532:65532"

// Entrypoint is where the binary is in the image.
const Entrypoint = "/keygate"

// Options say what goes into the image.
type Options struct {
	// Binary is the path of the static (CGO_ENABLED=0) keygate binary.
	Binary string
	// CACerts is the path of the CA bundle, e.g. Debian's
	// /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Created is the time of every file and of the image (the commit time,
	// or SOURCE_DATE_EPOCH), so that a rebuild gives the same digest.
	Created time.Time
	// Arch is the GOARCH of the binary (amd64, arm64).
	Arch string
	// Labels are set on the image config (org.opencontainers.image.*).
	Labels map[string]string
}

// File is one entry of the image's only layer.
type File struct {
	Name string // without a leading slash; directories end in /
	Mode int64
	Data []byte
}

const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

// Files lists the layer's entries in the order they are written: the
// binary at /keygate, /etc/passwd, /etc/group, the CA bundle at
// /etc/ssl/certs/ca-certificates.crt, and an empty /tmp.
func Files(o Options) ([]File, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificates (on Debian: apt-get install ca-certificates): %w", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.CACerts)
	}
	return []File{
		{Name: "etc/", Mode: 0o755},
		{Name: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Name: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Name: "etc/ssl/", Mode: 0o755},
		{Name: "etc/ssl/certs/", Mode: 0o755},
		{Name: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: certs},
		{Name: "home/", Mode: 0o755},
		{Name: "home/nonroot/", Mode: 0o700},
		{Name: "keygate", Mode: 0o755, Data: bin},
		{Name: "tmp/", Mode: 0o1777},
	}, nil
}

// Layer writes files as an uncompressed tar: owned by root (home/nonroot
// by 65532), every time set to created.
func Layer(files []File, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.Name,
			Mode:    f.Mode,
			ModTime: created,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		if f.Name == "home/nonroot/" {
			h.Uid, h.Gid, h.Uname, h.Gname = 65532, 65532, "nonroot", "nonroot"
		}
		if f.Name[len(f.Name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Build assembles the image: an OCI manifest with the one layer, running
// Entrypoint as User.
func Build(o Options) (v1.Image, error) {
	if o.Arch == "" {
		return nil, fmt.Errorf("image: no architecture given")
	}
	created := o.Created.UTC().Truncate(time.Second)
	files, err := Files(o)
	if err != nil {
		return nil, err
	}
	data, err := Layer(files, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "keygate: static binary, /etc/passwd with nonroot 65532, CA certificates",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{Entrypoint},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     o.Labels,
	}
	return mutate.ConfigFile(img, cf)
}
