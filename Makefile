# amtenant — see README.md.
GO      ?= go
BIN     := bin/sidecar
CACHE   := $(CURDIR)/.cache
AM_VERSION := v0.31.1
ALERTMANAGER := $(CACHE)/bin/alertmanager

.PHONY: all build demo bench test unit fuzz integration compat vet fmt-check clean alertmanager kube-apiserver prometheus-operator prometheus etcd

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sidecar

## demo: Alertmanager and the sidecar on this machine; prints what each
## tenant's channels receive.
demo: build $(ALERTMANAGER)
	@echo "Building done (the first run builds Alertmanager and the sidecar: a few minutes)."
	$(GO) run ./examples/demo --alertmanager=$(ALERTMANAGER) --sidecar=$(BIN) --objects=examples/demo/objects

## bench: the Go benchmarks (decode of 1k/10k/50k alerts, generated client
## against the sidecar's decoder; tracker work per poll at 0.1/1/10% churn),
## then the side-by-side runs with a real Alertmanager (local mode, and
## Kubernetes mode on the suite's kube-apiserver and etcd), which write
## BENCHMARKS.md.
bench: build $(ALERTMANAGER) kube-apiserver etcd
	$(GO) test -run '^$$' -bench . -benchmem ./poller/ | tee $(CACHE)/bench-go.txt
	$(GO) test -run '^$$' -bench BenchmarkPollPath -benchmem ./tenancy/ | tee -a $(CACHE)/bench-go.txt
	$(GO) run ./integration/bench --alertmanager=$(ALERTMANAGER) --sidecar=$(BIN) --kube-apiserver=$(CACHE)/bin/kube-apiserver --out=BENCHMARKS.md --go-bench=$(CACHE)/bench-go.txt

## test: every test: formatting, vet, unit tests with the race detector,
## and the end-to-end suite against a real Alertmanager.
test: fmt-check vet unit fuzz integration

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...
	@# The release of start-up pages must keep what a PIE or externally
	@# linked build's loader relocated (a crash otherwise).
	$(GO) test -count=1 -buildmode=pie -run '^TestReleaseStartupPages$$' ./cmd/sidecar/
	$(GO) test -count=1 -ldflags=-linkmode=external -run '^TestReleaseStartupPages$$' ./cmd/sidecar/

## fuzz: each fuzz target for a short fixed time (FUZZTIME), on top of
## its corpus in testdata/fuzz (which `make unit` replays).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLeanDecoder$$' -fuzztime $(FUZZTIME) ./poller/
	$(GO) test -run '^$$' -fuzz '^FuzzChannelSecret$$' -fuzztime $(FUZZTIME) ./senders/
	$(GO) test -run '^$$' -fuzz '^FuzzGuardAddress$$' -fuzztime $(FUZZTIME) ./senders/

integration: $(ALERTMANAGER) kube-apiserver etcd
	AMTENANT_ALERTMANAGER=$(ALERTMANAGER) AMTENANT_KUBE_APISERVER=$(CACHE)/bin/kube-apiserver \
		$(GO) test -tags integration -count=1 -timeout 30m ./integration/

## compat: proof against the real components users run, beyond make test:
## the poller's representative scenario against every supported Alertmanager
## release (TestAlertmanagerVersions), each built once from its module into
## .cache/alertmanager-<version> (about 40 s each; v0.29 was never tagged,
## v0.32 and later do not build from their module), and prometheus-operator
## itself reconciling examples/prometheus-operator on the suite's
## kube-apiserver (TestPrometheusOperatorReconciles; the operator is built
## once, about 2 minutes), and two real Prometheus servers evaluating an
## alerting rule for two Alertmanagers and their sidecars (TestPrometheusPair;
## Prometheus is built once, without UI assets and service discovery).
COMPAT_VERSIONS := v0.25.0 v0.26.0 v0.27.0 v0.28.1 v0.30.0 v0.31.1
compat: build $(ALERTMANAGER) kube-apiserver prometheus-operator prometheus etcd
	@set -e; spec=""; for v in $(COMPAT_VERSIONS); do \
		if [ "$$v" = "$(AM_VERSION)" ]; then bin=$(ALERTMANAGER); else \
			bin=$(CACHE)/alertmanager-$$v/alertmanager; \
			[ -x "$$bin" ] || { echo "Building Alertmanager $$v..."; GOBIN=$(CACHE)/alertmanager-$$v $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$$v; }; \
		fi; \
		spec="$$spec$${spec:+,}$$v=$$bin"; \
	done; \
	AMTENANT_ALERTMANAGER=$(ALERTMANAGER) AMTENANT_ALERTMANAGERS=$$spec \
		AMTENANT_KUBE_APISERVER=$(CACHE)/bin/kube-apiserver AMTENANT_PROMETHEUS_OPERATOR=$(CACHE)/bin/prometheus-operator \
		AMTENANT_PROMETHEUS=$(CACHE)/bin/prometheus \
		$(GO) test -tags integration -count=1 -run '^(TestAlertmanagerVersions|TestPrometheusOperatorReconciles|TestPrometheusPair)$$' ./integration/

## prometheus: build it from its Go module into .cache/bin (once).
prometheus:
	bash scripts/build-prometheus.sh

## prometheus-operator: build it from its Go module into .cache/bin (once),
## for the test that runs it against the suite's kube-apiserver.
prometheus-operator:
	bash scripts/build-prometheus-operator.sh

## kube-apiserver: build it from the k8s.io/kubernetes module into .cache/bin
## (about 10 minutes on 2 cores, once).
kube-apiserver:
	bash scripts/build-kube-apiserver.sh

## etcd: Debian's etcd-server, installed when missing.
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
		echo "Installing etcd-server from apt..."; \
		SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server >/dev/null; }

## alertmanager: build Alertmanager from its Go module into .cache/bin
## (v0.31.1 is the newest tag whose module builds: later ones embed a UI the
## module does not contain).
alertmanager: $(ALERTMANAGER)
$(ALERTMANAGER):
	GOBIN=$(CACHE)/bin $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(AM_VERSION)

clean:
	rm -rf bin
