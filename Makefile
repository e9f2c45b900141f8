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
FUZZTIME ?= 2s

.PHONY: all build run test tidy check unit security promtool fuzz bench bench-fleet syscalls deps tools clean dist dist-doc package-test

all: build

# The daemon is built as it ships (static, CGO_ENABLED=0: no libc mapped),
# so that the benchmarks measure the binary installers run.
build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/fieldgate ./cmd/fieldgate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/testbench ./cmd/testbench

# The demo: emulated devices + reference backend + gateway, all on loopback. Ctrl-C stops it.
run: build
	./bin/testbench demo --fieldgate ./bin/fieldgate

# The whole suite: go.mod tidy, formatting, vet, staticcheck, the unit's
# exposure score, race tests, brief fuzzing, and the .deb installed, run and
# purged (as root).
test: tidy deps tools check security promtool unit fuzz package-test

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
	command -v systemd-analyze >/dev/null || need="$$need systemd"; \
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

# The unit file: systemd-analyze verify (with ExecStart pointed at a built
# binary, as the installed one may not exist) and its exposure score, which
# must stay at or below SECURITY_MAX.
SECURITY_MAX ?= 1.5
security: deps
	@set -e; d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; \
	$(GO) build -o $$d/fieldgate ./cmd/fieldgate; \
	sed "s#/usr/bin/fieldgate#$$d/fieldgate#g" systemd/fieldgate.service >$$d/fieldgate.service; \
	systemd-analyze verify $$d/fieldgate.service; \
	out=$$(systemd-analyze security --offline=yes --no-pager $$d/fieldgate.service 2>&1) || { echo "$$out"; exit 1; }; \
	score=$$(echo "$$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'); \
	if [ -z "$$score" ]; then echo "$$out"; echo "systemd-analyze security: no score found"; exit 1; fi; \
	echo "systemd/fieldgate.service: exposure $$score (at most $(SECURITY_MAX))"; \
	awk -v s=$$score -v m=$(SECURITY_MAX) 'BEGIN { exit !(s <= m) }' || { echo "$$out" | grep '✗'; exit 1; }

# promtool, for `promtool check metrics` on the scrape of a running gateway in
# gateway's TestMetricsScrape (which, without it, checks the format's rules
# only): taken out of Debian's prometheus package (19 MB), not installed (no
# daemon, no web assets). The test finds it in bin/ without $PROMTOOL too.
PROMTOOL := $(CURDIR)/bin/promtool
promtool:
	@test -x $(PROMTOOL) && exit 0; \
	d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; \
	(cd $$d && (apt-get download -q prometheus >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null))) \
	  || { echo "could not download Debian's prometheus package (for promtool)"; exit 1; }; \
	dpkg-deb -x $$d/prometheus_*.deb $$d/x && mkdir -p bin && cp $$d/x/usr/bin/promtool $(PROMTOOL) && echo "promtool: $$($(PROMTOOL) --version 2>&1 | head -1)"

# The unit's system call filter against the real daemon, in the demo (fixed
# ports: not part of `make test`). First every call the daemon makes (strace
# -f) is checked against the filter's list; then the demo runs again with the
# daemon under that very filter (libseccomp, refused calls fail with EPERM, as
# under systemd) and must log no EPERM and see an operation succeed.
SYSCALLS_SECONDS ?= 45
syscalls: build
	@set -e; need=""; command -v strace >/dev/null || need="$$need strace"; \
	/usr/bin/python3 -c 'import seccomp' 2>/dev/null || need="$$need python3-seccomp"; \
	if [ -n "$$need" ]; then apt-get install -y -q $$need >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $$need >/dev/null; }; fi; \
	d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; \
	printf '#!/bin/sh\nexec strace -f -c -o %s/strace.txt %s "$$@"\n' $$d $(CURDIR)/bin/fieldgate >$$d/traced; \
	printf '#!/bin/sh\nexec /usr/bin/python3 %s/systemd/filter-exec.py %s "$$@"\n' $(CURDIR) $(CURDIR)/bin/fieldgate >$$d/filtered; \
	chmod +x $$d/traced $$d/filtered; \
	(cd $$d && timeout -s INT $(SYSCALLS_SECONDS) $(CURDIR)/bin/testbench demo --fieldgate $$d/traced >/dev/null 2>&1 || true); \
	awk 'NR>2 && $$NF !~ /^-/ && $$NF != "total" {print $$NF}' $$d/strace.txt >$$d/used; \
	python3 systemd/syscalls.py $$d/used; \
	rm -rf $$d/state; (cd $$d && timeout -s INT $(SYSCALLS_SECONDS) $(CURDIR)/bin/testbench demo --fieldgate $$d/filtered >$$d/demo.out 2>&1 || true); \
	if grep -i 'operation not permitted' $$d/state/fieldgate.log; then echo "the daemon met EPERM under the unit's filter"; exit 1; fi; \
	grep -q 'SUCCEEDED' $$d/demo.out || { tail -20 $$d/demo.out; echo "no operation succeeded under the unit's filter"; exit 1; }; \
	echo "the demo ran with the daemon under the unit's system call filter: $$(grep -c readings $$d/demo.out) readings lines, $$(grep -c SUCCEEDED $$d/demo.out) operation(s) succeeded"

# Tests keep what a person may want to see afterwards (the page test's
# screenshots) under $(ARTIFACTS)/<test name>/.
ARTIFACTS ?= $(CURDIR)/artifacts
unit:
	PROMTOOL=$$(test -x $(PROMTOOL) && echo $(PROMTOOL)) FIELDGATE_ARTIFACTS=$(ARTIFACTS) $(GO) test -race -count=1 -parallel 4 -timeout 10m ./...

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
