# keygate: one static binary for the controller and the auth server.
#
# Releases do not use this file: make release builds the binary with the
# Makefile's build-static line (the same flags as below; test/image compares
# the two) and assembles the image without a container engine
# (internal/image). This file is for building your own image with Docker.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# Dependencies first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY webhook/ webhook/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false -ldflags="-s -w" -o keygate .

# distroless static, non-root (uid 65532): no shell, no package manager.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/keygate /keygate
USER 65532:65532
ENTRYPOINT ["/keygate"]
