# Gatehouse build targets. `make build` stamps the version and commit into the
# binary (shown by `gatehouse version`); `make run` is the README's start
# command and `make test` its test command, the one CI runs.

GO      ?= go
BIN     ?= bin/gatehouse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE   ?= gatehouse
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build run test bench bench-load pgo vet fmt docker clean

all: vet test build

## build: static binary in $(BIN), version and commit stamped
# -v names each package as it compiles: a cold build compiles every
# dependency (about 30 s), and a silent half minute looks like a hang.
build:
	@echo "building $(BIN) (the first build compiles the dependencies, about 30 s) ..."
	CGO_ENABLED=0 $(GO) build -v -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gatehouse
	@./$(BIN) version

## run: build, then serve examples/quickstart with the demo echo upstream.
# EG_HTTP_PORT, EG_ADMIN_PORT and EG_ECHO_PORT move the ports (the
# quickstart config reads the same variables, with the same defaults).
run: build
	@echo "starting $(BIN) serve --config-dir examples/quickstart ..."
	./$(BIN) serve --config-dir examples/quickstart --log-format text --echo-upstream 127.0.0.1:$${EG_ECHO_PORT:-9100}

## test: the whole suite (unit, fuzz seeds, end-to-end, the real binary)
test:
	$(GO) test -race -count=1 ./...

## bench: the Go micro-benchmarks of the router and the gateway (bench/README.md)
bench:
	$(GO) test -run xxx -bench . -benchmem ./internal/router ./internal/gateway

## bench-load: the wrk load benchmark against a bare Go proxy (needs wrk)
bench-load:
	bash bench/run.sh

## pgo: regenerate cmd/gatehouse/default.pgo (profile-guided optimization)
# from CPU profiles of the gateway under the load benchmark's scenarios
# (bench/profserve: the same gateway with a profile of the run; needs wrk),
# merged into one. The profiled build is -pgo=off, so the profile does not
# depend on the previous one. bench/README.md reports the gain; keep the
# file under ~1 MB (PGO_DURATION sets how long each scenario is profiled).
PGO_SCENARIOS ?= proxy jwt-hs256 jwt-rs256 key-auth oauth2
PGO_DURATION  ?= 10s
PGO_DIR       ?= bench/results/profiles
pgo:
	rm -f $(PGO_DIR)/cpu-*.pprof $(PGO_DIR)/allocs-*.pprof
	BENCH_PROFILE=$(PGO_DIR) BENCH_PGO=off BENCH_SCENARIOS="$(PGO_SCENARIOS)" \
		BENCH_PAIRED=0 BENCH_ROUNDS=1 BENCH_DURATION=$(PGO_DURATION) BENCH_RESULTS_DIR=$(PGO_DIR) bash bench/run.sh
	$(GO) tool pprof -proto $(PGO_DIR)/cpu-*.pprof > cmd/gatehouse/default.pgo.tmp
	mv cmd/gatehouse/default.pgo.tmp cmd/gatehouse/default.pgo
	@ls -l cmd/gatehouse/default.pgo

## vet: gofmt check and go vet, as CI runs them
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## docker: the container image (Dockerfile), tagged $(IMAGE) and $(IMAGE):$(VERSION)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		-t $(IMAGE) -t $(IMAGE):$(VERSION) .

clean:
	rm -rf bin
