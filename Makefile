# Gatehouse build targets. `make build` stamps the version and commit into the
# binary (shown by `gatehouse version`); `make test` is the README's test
# command, the one CI runs.

GO      ?= go
BIN     ?= bin/gatehouse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE   ?= gatehouse
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build test bench bench-load vet fmt docker clean

all: vet test build

## build: static binary in $(BIN), version and commit stamped
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gatehouse
	@./$(BIN) version

## test: the whole suite (unit, fuzz seeds, end-to-end, the real binary)
test:
	$(GO) test -race -count=1 ./...

## bench: the Go micro-benchmarks of the router and the gateway (bench/README.md)
bench:
	$(GO) test -run xxx -bench . -benchmem ./internal/router ./internal/gateway

## bench-load: the wrk load benchmark against a bare Go proxy (needs wrk)
bench-load:
	bash bench/run.sh

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
