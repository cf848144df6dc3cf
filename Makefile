# The verbs a person types. Every target installs what it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install kustomize test unit lint demo demo-cluster schema services-up services-down services-status cluster-up cluster-down cluster-status bench bench-quick clean docs

install: $(STAMP) kustomize

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast]'
	touch $(STAMP)

# The manifests' tests render k8s/ with the real kustomize v5: kubectl's own where the
# machine's kubectl has it, else kustomize itself, built from its Go module into .venv/bin.
KUSTOMIZE_VERSION := v5.5.0

kustomize: $(STAMP)
	@if kubectl version --client 2>/dev/null | grep -q '^Kustomize Version: v5\.'; then :; \
	elif [ -x $(BIN)/kustomize ]; then :; \
	else GOBIN=$(CURDIR)/$(BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); fi

test: install services-up cluster-up
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-logo --no-cache

services-up: install
	services/ctl up

services-down:
	services/ctl down

services-status:
	services/ctl status

# The three-node cluster (3 Kafka brokers, a 3-node Cassandra ring on 127.0.0.1-3), beside
# the single pair: about 2 minutes to start on two cores, about 4.5 GB of memory.
cluster-up: install
	services/ctl up --cluster

cluster-down:
	services/ctl down --cluster

cluster-status:
	services/ctl status --cluster

schema: install services-up
	$(BIN)/kafka2cassandra schema --replication-factor 1

demo: install services-up
	$(BIN)/python demo/demo.py

# The same pipeline on the three-node cluster: replication 3, writes at LOCAL_QUORUM.
demo-cluster: install cluster-up
	$(BIN)/python demo/demo.py --cluster

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench,fast]'
	touch $(BENCH_STAMP)

# Every component beside its baselines (3 interleaved rounds, then end to end): under 20 min.
# Writes bench/results/latest.json, docs/benchmarks.md and the charts.
bench: $(BENCH_STAMP) services-up cluster-up
	$(BIN)/python bench/run.py

# The same with small sizes and one round: under 3 minutes.
bench-quick: $(BENCH_STAMP) services-up cluster-up
	$(BIN)/python bench/run.py --quick

# The settings table of the operator's guide, generated from the code.
docs: install
	$(BIN)/python -m logpipe.config.doc docs/settings.md

clean:
	rm -rf $(VENV) build src/*.egg-info
