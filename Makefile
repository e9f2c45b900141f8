# fieldgate — build, demo, tests. Every target installs what it needs when missing.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
# Versions come from git tags v0.x.y: on a tag the version is the tag, past one
# it is `git describe` (v0.4.0-12-gCOMMIT); without tags, v0.0.0-dev.COMMIT.
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
VERSION ?= $(or $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null),v0.0.0-dev.$(or $(COMMIT),unknown))
# The Debian version: v0.4.0 → 0.4.0, v0.4.0-12-gabc → 0.4.0+12.gabc (sorts
# after 0.4.0), v0.0.0-dev.abc → 0.0.0~dev.abc (sorts before any release).
DEBVERSION := $(shell echo '$(VERSION)' | sed -E 's/^v//; s/-dev\./~dev./; s/-([0-9]+)-g/+\1.g/; s/-dirty$$/.dirty/')
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
STATICCHECK_VERSION := v0.8.2
NFPM_VERSION := v2.48.0
FUZZTIME ?= 3s

.PHONY: all build run test tidy check unit fuzz bench bench-fleet deps tools clean dist dist-doc package-test

all: build

build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/fieldgate ./cmd/fieldgate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/testbench ./cmd/testbench

# The demo: emulated devices + reference backend + gateway, all on loopback. Ctrl-C stops it.
run: build
	./bin/testbench demo --fieldgate ./bin/fieldgate

# The whole suite: go.mod tidy, formatting, vet, staticcheck, race tests, brief
# fuzzing, and the .deb installed, run and purged (as root).
test: tidy deps tools check unit fuzz package-test

# go.mod and go.sum must be exactly what `go mod tidy` makes of them (a direct
# dependency marked "// indirect" is a difference too). The check reads only the
# module cache when it holds what tidy loads (the tests of our dependencies
# too), so it runs offline after any online `go mod tidy` or `make tidy`; when
# modules are missing and the proxy is unreachable (or GOPROXY=off) it says so
# and fails rather than pass unchecked.
tidy:
	@err=$$(mktemp); trap 'rm -f $$err' EXIT; \
	out=$$($(GO) mod tidy -diff 2>$$err) && exit 0; \
	if [ -n "$$out" ]; then \
	  echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result. The difference:"; \
	  echo "$$out"; exit 1; fi; \
	echo "could not check that go.mod/go.sum are tidy (offline with modules missing from the cache? run 'go mod tidy -diff' once with network):"; \
	grep -v '^go: downloading' $$err | head -20; exit 1

deps:
	@need=""; \
	command -v mbpoll >/dev/null || need="$$need mbpoll"; \
	command -v coap-client-notls >/dev/null || need="$$need libcoap3-bin"; \
	command -v ip >/dev/null || need="$$need iproute2"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v chromedriver >/dev/null || need="$$need chromium-driver"; \
	if [ -n "$$need" ]; then \
	  echo "installing:$$need"; \
	  (apt-get install -y -q $$need >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$need >/dev/null)) \
	    || { echo "could not install$$need (run as root?)"; exit 1; }; \
	fi

tools:
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

# Tests keep what a person may want to see afterwards (the page test's
# screenshots) under $(ARTIFACTS)/<test name>/.
ARTIFACTS ?= $(CURDIR)/artifacts
unit:
	FIELDGATE_ARTIFACTS=$(ARTIFACTS) $(GO) test -race -count=1 -timeout 10m ./...

# Each fuzz target runs briefly on top of its seed corpus (testdata/fuzz). A
# crash fails at once (the input is written under testdata/fuzz: commit it as a
# regression test). Go's fuzzer sometimes stops a worker late on a loaded
# machine ("context deadline exceeded" with no failing input): that run is
# repeated once.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$t"; \
	    for try in 1 2; do \
	      if $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg >$$log 2>&1; then break; fi; \
	      if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	        echo "  (fuzzer stopped late; once more)"; continue; fi; \
	      cat $$log; exit 1; \
	    done; \
	  done; \
	done

# Packages: a static binary (CGO_ENABLED=0) and a .deb for each architecture,
# built by nfpm from systemd/nfpm.yaml, in dist/. `make dist ARCHES=amd64` builds one.
ARCHES ?= amd64 arm64 armhf
GOARCH_amd64 := amd64
GOARCH_arm64 := arm64
GOARCH_armhf := arm
dist: $(addprefix dist-,$(ARCHES))

dist-doc:
	@mkdir -p dist/doc
	gzip -9n < README.md > dist/doc/README.md.gz
	@printf 'fieldgate (%s) unstable; urgency=medium\n\n  * Release %s, commit %s.\n\n -- fieldgate maintainers <maintainers@fieldgate.invalid>  %s\n' \
	  '$(DEBVERSION)' '$(VERSION)' '$(COMMIT)' "$$(git log -1 --format=%cD 2>/dev/null || date -R)" | gzip -9n > dist/doc/changelog.gz

dist-%: dist-doc
	@command -v nfpm >/dev/null || $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	@mkdir -p dist/$* dist/stage
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_$*) GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/$*/fieldgate ./cmd/fieldgate
	cp dist/$*/fieldgate dist/stage/fieldgate
	ARCH=$* VERSION=$(DEBVERSION) nfpm package --config systemd/nfpm.yaml --packager deb --target dist/
	@ls -l dist/fieldgate_$(DEBVERSION)_$*.deb

# The amd64 package as an installer meets it (systemd/package-test.sh): lintian,
# dpkg -i, its files, `fieldgate check`, a run as the service user against the
# testbench, remove and purge. Needs root and a machine without fieldgate installed.
package-test: build
	@need=""; command -v lintian >/dev/null || need="$$need lintian"; \
	command -v systemd-sysusers >/dev/null || need="$$need systemd"; \
	command -v curl >/dev/null || need="$$need curl"; \
	if [ -n "$$need" ]; then echo "installing:$$need"; \
	  (apt-get install -y -q $$need >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$need >/dev/null)) \
	    || { echo "could not install$$need (run as root?)"; exit 1; }; fi
	$(MAKE) --no-print-directory dist ARCHES=amd64
	systemd/package-test.sh dist/fieldgate_$(DEBVERSION)_amd64.deb ./bin/testbench

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# The fleet benchmark (issue 9): emulated Modbus TCP devices, the reference
# backend and the gateway as separate processes on loopback; one line of
# figures per workload. Not part of `make test`. FLEETFLAGS adds flags, e.g.
# FLEETFLAGS='--workloads fleet --window 60s'.
bench-fleet: build
	./bin/testbench fleet --fieldgate ./bin/fieldgate $(FLEETFLAGS)

clean:
	rm -rf bin state dist artifacts
