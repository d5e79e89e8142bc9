# Samsa: the two commands that matter are `make dev` and `make test`.

GO        ?= go
BIN       := bin/samsa
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 2s

.PHONY: build dev test bench fuzz lint clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN) ./cmd/samsa

# A single-node cluster on 127.0.0.1:9092 with its data in ./samsa-data.
dev: build
	./$(BIN) dev

# Unit, integration and client-compatibility tests. Tests that need kcat or
# python3-confluent-kafka skip with the reason when those are missing.
test:
	@command -v kcat >/dev/null 2>&1 || echo "note: kcat is not installed (apt-get install kcat): the kcat compatibility test will skip"
	@python3 -c 'import confluent_kafka' >/dev/null 2>&1 || /usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || \
	  echo "note: confluent_kafka is not importable (apt-get install python3-confluent-kafka): the Python client test will skip"
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)

# Produce/consume benchmarks against a dev node, and the storage benchmarks
# beside their raw-file baseline. See docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./storage/ ./test/bench/

# A short run of every fuzz target (go test runs one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin samsa-data
