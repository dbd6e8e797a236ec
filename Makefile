# alertmedic — make demo runs the main job end to end; make test runs every test.
# Heavy builds (kube-apiserver, etcd, kubectl, kube-controller-manager,
# kube-scheduler, kwok) are cached in ~/.cache/alertmedic.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/alertmedic
ASSETS     = $(shell hack/envtest-assets.sh)
CLUSTER_ASSETS = $(shell hack/cluster-assets.sh)
GOTESTFLAGS ?= -race -count=1 -timeout 25m

.PHONY: all build test lint verify-generated generate bench bench-go soak demo envtest clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/alertmedic

## envtest: build (once) the kube-apiserver, etcd and kubectl the tests run,
## and kube-controller-manager, kube-scheduler and kwok for a full cluster;
## find or install the Prometheus the replay tests run.
envtest:
	@hack/envtest-assets.sh
	@hack/cluster-assets.sh
	@hack/prometheus.sh

## test: lint, then every test, against a real API server.
test: lint verify-generated
	KUBEBUILDER_ASSETS="$(ASSETS)" ALERTMEDIC_CLUSTER_ASSETS="$(CLUSTER_ASSETS)" $(GO) test $(GOTESTFLAGS) ./...

## generate: DeepCopy methods and the CRD from api/ (controller-gen, cached).
generate:
	hack/generate.sh

verify-generated:
	@tmp="$$(mktemp -d)"; mkdir -p "$$tmp/api/v1alpha1" "$$tmp/manifests/crds"; \
	  hack/generate.sh "$$tmp" && \
	  diff -r "$$tmp/manifests/crds" manifests/crds && \
	  diff "$$tmp/api/v1alpha1/zz_generated.deepcopy.go" api/v1alpha1/zz_generated.deepcopy.go && \
	  diff -r "$$tmp/charts/alertmedic/crds" charts/alertmedic/crds && \
	  diff -r "$$tmp/charts/alertmedic/files" charts/alertmedic/files || \
	  { echo "generated files are stale: run make generate"; rm -rf "$$tmp"; exit 1; }; rm -rf "$$tmp"

## lint: gofmt, go vet and staticcheck (built once into ~/.cache/alertmedic/bin).
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	hack/staticcheck.sh ./...

## bench: the alertmedic binary measured against a real API server, with the
## Go benchmarks of ingest and latency, as one table of figures and targets
## (docs/performance.md); under 10 minutes. BENCHFLAGS: see
## 'go run ./test/bench -h'.
BENCHFLAGS ?=
bench: build
	KUBEBUILDER_ASSETS="$(ASSETS)" $(GO) run ./test/bench -bin $(BIN) $(BENCHFLAGS)

## bench-go: every Go benchmark of every package (rule matching among them).
bench-go:
	KUBEBUILDER_ASSETS="$(ASSETS)" $(GO) test -run '^$$' -bench . -benchmem ./...

## soak: alertmedic for SOAKFLAGS (default 10 minutes) through the fault
## proxy, every episode counted; not part of make test (docs/performance.md).
SOAKFLAGS ?=
soak: build
	KUBEBUILDER_ASSETS="$(ASSETS)" $(GO) run ./test/soak -bin $(BIN) $(SOAKFLAGS)

demo:
	@hack/demo.sh

clean:
	rm -rf bin
