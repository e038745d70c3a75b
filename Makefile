# citywatch — build, test and benchmark. `make test` is the README's test command and what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X citywatch/app.Version=$(VERSION)
# The two longest packages are named first so that go test starts them first: the rest fill the other slot
# around them instead of leaving e2e/browser to run alone at the end (go list keeps each package once).
PKGS     := ./e2e/browser ./cmd/citywatch ./...
# The race detector is slow on 2 cores: integration tests get generous timeouts, never wall-clock asserts.
TESTFLAGS ?= -race -count=1 -timeout 40m

.PHONY: all build test test-deps unit vet fmt-check bench fuzz-smoke clean stress

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/citywatch ./cmd/citywatch

# test installs what the integration tests need (mosquitto, ffmpeg, chromium, influxd) and runs every test:
# unit, integration against real servers, and the end-to-end tests that drive the built binary.
# GORACE atexit_sleep_ms=0: a race-built program sleeps 1 s at exit by default (for late race reports from
# other goroutines); that second, paid by each of the ~50 test binaries and each race-built citywatch the
# end-to-end tests stop, was about 30 s of the suite's 4 minutes. Races found while tests run are reported as
# before. A GORACE of your own is kept (its options come after, so they win).
test: test-deps fmt-check vet
	GORACE="atexit_sleep_ms=0 $$GORACE" $(GO) test $(TESTFLAGS) $(PKGS)

test-deps:
	bash scripts/install-test-deps.sh

# unit runs the unit tests alone (-short): no install, no real server, no external program, no e2e build
# (internal/testenv's starters skip under -short).
unit:
	$(GO) test -count=1 -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# stress runs the integration packages (those whose tests use internal/testenv: real servers, programs, the
# built binary) STRESS_COUNT times while stress-ng keeps two cores busy, as a loaded CI machine does. It must
# pass: a failure is a timing assumption to fix at the root, never a timeout to raise. Narrow it with
# STRESS_PKGS (and STRESS_RUN, a -run pattern).
STRESS_COUNT ?= 3
STRESS_RUN   ?= .
STRESS_PKGS  ?= $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | \
	grep ' citywatch/internal/testenv' | cut -d' ' -f1)
stress: test-deps
	@command -v stress-ng >/dev/null || { echo "stress-ng not found: run scripts/install-test-deps.sh"; exit 1; }
	@stress-ng --cpu 2 --quiet & hog=$$!; trap 'kill $$hog 2>/dev/null; wait $$hog 2>/dev/null' EXIT INT TERM; \
	pkgs="$(STRESS_PKGS)"; echo "stress: go test -count=$(STRESS_COUNT) -run '$(STRESS_RUN)' under stress-ng --cpu 2:" $$pkgs; \
	$(GO) test -count=$(STRESS_COUNT) -run '$(STRESS_RUN)' -timeout 90m $$pkgs

# bench prints the performance table (docs/benchmarks.md records it).
bench: test-deps
	$(GO) run ./bench

# fuzz-smoke runs every fuzz target briefly; the committed corpus under testdata/fuzz runs in `make test`.
fuzz-smoke:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 10s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
