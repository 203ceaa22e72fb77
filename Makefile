# keygate: API keys and rate limits as Kubernetes resources.

IMG ?= keygate:latest
NAMESPACE ?= keygate-system

# Tool versions, installed into bin/ by version (hack/go-install.sh, which
# reuses a copy cached in ~/.cache/keygate/tools).
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
CYCLONEDX_GOMOD_VERSION ?= v1.10.0
ACTIONLINT_VERSION ?= v1.7.12

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
CYCLONEDX_GOMOD ?= $(LOCALBIN)/cyclonedx-gomod-$(CYCLONEDX_GOMOD_VERSION)
ACTIONLINT ?= $(LOCALBIN)/actionlint-$(ACTIONLINT_VERSION)
KUBECTL ?= kubectl

GO ?= go
# The release: the Helm chart's version (without the v) and appVersion
# (make chart writes both into charts/keygate/Chart.yaml), and the tag of
# make release. The one place the version is set.
VERSION ?= v0.1.0
# The architecture of the release binary and image.
GOARCH ?= $(shell $(GO) env GOARCH)
# Fuzz time per target for make fuzz.
FUZZTIME ?= 30s

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers in api/, controllers/ and webhook/.
	$(CONTROLLER_GEN) rbac:roleName=keygate-controller crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=keygate-auth-server paths="./webhook/..." output:rbac:artifacts:config=config/rbac/auth-server
	./hack/chart-sync.sh $(VERSION)

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml): vet, staticcheck, import rules, function length, spelling, formatting.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests lint actionlint ## Regenerate code and manifests, lint; fail when they differ from what is committed.
	$(ACTIONLINT) .github/workflows/*.yaml
	$(GO) mod tidy
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	@if ! git diff --exit-code --stat -- . ; then echo "generated files are out of date: run make generate manifests and commit"; exit 1; fi
	@if [ -n "$$(git status --porcelain --untracked-files=all -- api config charts go.mod go.sum)" ]; then git status --porcelain -- api config charts go.mod go.sum; echo "untracked generated files: commit them"; exit 1; fi

.PHONY: test-deps
test-deps: ## Install what the tests need: envtest binaries, nginx, redis-server, third-party CRDs.
	./hack/setup-envtest.sh >/dev/null
	./hack/install-e2e-deps.sh
	./hack/third-party-crds.sh >/dev/null
	./hack/install-traefik.sh >/dev/null

.PHONY: test
test: test-deps vet ## Run every test: unit, envtest integration, end to end through nginx and Redis.
	KUBEBUILDER_ASSETS="$$(./hack/setup-envtest.sh)" $(GO) test -race -count=1 -timeout 40m ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 30s) each.
	./hack/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: test-deps ## Run the benchmarks and the HTTP load runs on loopback.
	./hack/bench.sh

.PHONY: bench-scale
bench-scale: test-deps ## Measure keygate at scale (~20 min): the auth server at 1k-100k keys, the controller with 20,000 ApiKeys, the index at 1M keys (docs/scale.md).
	./hack/bench.sh scale

##@ Build

.PHONY: build
build: ## Build bin/keygate.
	$(GO) build -o bin/keygate .

.PHONY: run
run: ## Run the controller against the current kubeconfig.
	$(GO) run . controller

.PHONY: dev
dev: build ## Run the whole product locally with no cluster: control plane, controller, auth server on :8080.
	./hack/setup-envtest.sh >/dev/null
	./bin/keygate dev --assets "$$(./hack/setup-envtest.sh)"

.PHONY: docker-build
docker-build: ## Build the container image IMG.
	docker build -t $(IMG) .

##@ Release

.PHONY: chart
chart: ## Copy the CRDs, roles and alerts into charts/keygate and write VERSION into its Chart.yaml.
	./hack/chart-sync.sh $(VERSION)

# The static release binary. The Dockerfile's go build line uses the same
# flags (test/image compares the two lines).
.PHONY: build-static
build-static: ## Build the static release binary dist/keygate-linux-GOARCH.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -buildvcs=false -ldflags="-s -w" -o dist/keygate-linux-$(GOARCH) .

.PHONY: release
release: build-static cyclonedx-gomod ## Write dist/ for VERSION: image (OCI layout), install.yaml, crds.yaml, chart, SBOM, SHA256SUMS.
	GOARCH=$(GOARCH) CYCLONEDX_GOMOD=$(CYCLONEDX_GOMOD) ./hack/release.sh $(VERSION) dist/keygate-linux-$(GOARCH)

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRDs into the current cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs (and every ApiKey and RateLimitPolicy) from the current cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Install keygate into the current cluster with image IMG.
	cd config/manager && $(KUSTOMIZE) edit set image keygate=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove keygate from the current cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	./hack/go-install.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	./hack/go-install.sh $@ sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	./hack/go-install.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: cyclonedx-gomod
cyclonedx-gomod: $(CYCLONEDX_GOMOD)
$(CYCLONEDX_GOMOD):
	./hack/go-install.sh $@ github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

.PHONY: actionlint
actionlint: $(ACTIONLINT)
$(ACTIONLINT):
	./hack/go-install.sh $@ github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
