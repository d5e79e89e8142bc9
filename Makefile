# Samsa: the two commands that matter are `make dev` and `make test`.

GO        ?= go
BIN       := bin/samsa
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 2s

.PHONY: build dev test bench fuzz lint clean fault fault-long

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
	@python3 -c 'import kafka' >/dev/null 2>&1 || /usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || \
	  echo "note: kafka-python is not importable (apt-get install python3-kafka): the kafka-python test will skip"
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)

# The fault-injection run alone (test/fault_test.go; `make test` runs it for
# 2 minutes). SEED=N replays a run, DURATION sets the faulty part. As root
# with iproute2 each node runs in its own network namespace and leaders are
# also cut off from the other nodes; SAMSA_TEST_NETNS=off leaves that out.
SEED ?=
DURATION ?= 2m
fault:
	SAMSA_FAULT_SEED=$(SEED) SAMSA_FAULT_DURATION=$(DURATION) $(GO) test -count=1 -timeout 30m -run '^TestFaultInjection$$' -v ./test/

fault-long:
	$(MAKE) fault DURATION=10m

# Produce/consume benchmarks against a dev node, and the storage benchmarks
# beside their raw-file baseline. See docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./storage/ ./test/bench/ ./client/ ./client/samsatest/

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
	rm -rf bin samsa-data samsa-cluster

# ---- Deployment (docs/operations.md) ----

.PHONY: cluster-up cluster-down image compose-up compose-down docker-test

CLUSTER_DIR := samsa-cluster
CLUSTER_NODES := 1 2 3
IMAGE ?= samsa:dev
# Whether the pid in $$pid is a live samsa process (not a zombie, not a
# reused pid).
SAMSA_ALIVE = ps -o stat=,comm= -p $$pid 2>/dev/null | grep -q '^[^Z][^ ]* *samsa$$'
COMPOSE := $(shell if docker compose version >/dev/null 2>&1; then echo 'docker compose'; elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi)

# Three combined nodes on this host from deploy/cluster/node{1,2,3}.yaml,
# in the background: logs in samsa-cluster/nodeN.log, pids in
# samsa-cluster/nodeN.pid, data in samsa-cluster/nodeN/. Waits until the
# quorum has a leader, each node has logged "broker serving" since it was
# started, and every node lists all three brokers live (unfenced). A node
# already running is left alone, so after a kill -9 this restarts just it.
cluster-up: build
	@mkdir -p $(CLUSTER_DIR)
	@for n in $(CLUSTER_NODES); do \
	  pidf=$(CLUSTER_DIR)/node$$n.pid; \
	  if [ -f $$pidf ] && pid=$$(cat $$pidf) && $(SAMSA_ALIVE); then echo "node $$n already running (pid $$pid)"; continue; fi; \
	  echo "==== make cluster-up: node $$n starting at $$(date -u +%FT%TZ) ====" >>$(CLUSTER_DIR)/node$$n.log; \
	  nohup ./$(BIN) server --config deploy/cluster/node$$n.yaml >>$(CLUSTER_DIR)/node$$n.log 2>&1 </dev/null & \
	  echo $$! >$$pidf; echo "node $$n started (pid $$!, log $(CLUSTER_DIR)/node$$n.log)"; \
	done
	@for i in $$(seq 1 60); do \
	  ok=0; for n in $(CLUSTER_NODES); do \
	    awk '/^==== make cluster-up/{s=0} /"message":"broker serving"/{s=1} END{exit !s}' $(CLUSTER_DIR)/node$$n.log || ok=-9; \
	  done; \
	  for p in 19092 29092 39092; do \
	    ./$(BIN) cluster describe --bootstrap 127.0.0.1:$$p --timeout 2s 2>/dev/null | grep -q '^Live brokers: *3$$' && ok=$$((ok+1)); \
	  done; \
	  if [ $$ok -eq 3 ]; then \
	    ./$(BIN) cluster describe --bootstrap 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092; \
	    echo "bootstrap: 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"; exit 0; fi; \
	  sleep 1; \
	done; echo "the cluster did not list three live brokers within 60 s; see $(CLUSTER_DIR)/node*.log" >&2; exit 1

# SIGTERM to each node of cluster-up (a graceful shutdown), then wait up
# to 60 s for each to exit. The data stays in samsa-cluster/; remove that
# directory for a fresh cluster.
cluster-down:
	@failed=0; for n in $(CLUSTER_NODES); do \
	  pidf=$(CLUSTER_DIR)/node$$n.pid; [ -f $$pidf ] || continue; pid=$$(cat $$pidf); \
	  if $(SAMSA_ALIVE) && kill -TERM $$pid 2>/dev/null; then \
	    for i in $$(seq 1 600); do $(SAMSA_ALIVE) || break; sleep 0.1; done; \
	    if $(SAMSA_ALIVE); then echo "node $$n (pid $$pid) still running 60 s after SIGTERM; kill -9 $$pid if it must go" >&2; failed=1; continue; fi; \
	    echo "node $$n stopped"; \
	  fi; \
	  rm -f $$pidf; \
	done; exit $$failed

# A FROM scratch image holding the static binary (deploy/Dockerfile).
image: build
	docker build -f deploy/Dockerfile -t $(IMAGE) .

# Three combined nodes in containers (deploy/compose.yaml, image $(IMAGE)),
# Kafka listeners published on 127.0.0.1:19092, 29092 and 39092 and
# advertised as samsa-1:19092, samsa-2:29092 and samsa-3:39092 (the names
# the nodes reach each other by). Waits until the cluster answers, asked
# from inside samsa-1. Host clients need those names to resolve to
# 127.0.0.1 (an /etc/hosts line; docs/operations.md). The Docker test
# alone: make docker-test.
COMPOSE_RUN = SAMSA_IMAGE=$(IMAGE) $(COMPOSE) -p samsa -f deploy/compose.yaml
compose-up: image
	@[ -n "$(COMPOSE)" ] || { echo "neither docker compose nor docker-compose is installed" >&2; exit 1; }
	$(COMPOSE_RUN) up -d
	@for i in $$(seq 1 90); do \
	  if $(COMPOSE_RUN) exec -T samsa-1 /samsa cluster describe --bootstrap samsa-1:19092,samsa-2:29092,samsa-3:39092 --timeout 2s 2>/dev/null; then \
	    echo "bootstrap: 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"; \
	    getent hosts samsa-1 samsa-2 samsa-3 2>/dev/null | grep -c '^127\.0\.0\.1 ' | grep -qx 3 || \
	      echo "note: host clients must resolve samsa-1, samsa-2 and samsa-3 to 127.0.0.1 (add '127.0.0.1 samsa-1 samsa-2 samsa-3' to /etc/hosts) or run in a container: docker run --rm --network samsa_default --entrypoint /samsa $(IMAGE) topic list --bootstrap samsa-1:19092"; \
	    exit 0; fi; \
	  sleep 1; \
	done; echo "the compose cluster did not answer within 90 s; see: $(COMPOSE) -p samsa -f deploy/compose.yaml logs" >&2; exit 1

# Stops the compose cluster; the volumes stay (add -v to drop them:
# $(COMPOSE) -p samsa -f deploy/compose.yaml down -v).
compose-down:
	@[ -n "$(COMPOSE)" ] || { echo "neither docker compose nor docker-compose is installed" >&2; exit 1; }
	$(COMPOSE_RUN) down

# test/docker_test.go alone: builds its own image tag and compose project
# (on free host ports), runs the faults and removes everything after; it
# skips, saying why, without a Docker engine or compose. `make test` runs
# it too.
docker-test:
	$(GO) test -count=1 -timeout 10m -run '^TestDockerComposeCluster$$' -v ./test/
