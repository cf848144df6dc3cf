# The verbs a person types. Every target installs what it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install kustomize system-tools test test-bucketed unit lint demo demo-cluster schema services-up services-down services-status cluster-up cluster-down cluster-status bench bench-quick bench-query bench-steady clean docs

install: $(STAMP) kustomize system-tools

$(STAMP): pyproject.toml setup.py src/logpipe/formats/_combined.c
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

# Tests mostly wait on servers: several pytest workers share the two cores (tests that
# must not overlap are grouped with xdist_group marks).
TEST_WORKERS ?= 3

# Tests run Debian's real httpd (package apache2) and Prometheus' promtool and server
# (package prometheus): installed with apt-get when missing, as root or through sudo.
APT_TOOLS := /usr/sbin/apache2=apache2 /usr/bin/promtool=prometheus

system-tools:
	@missing=""; for t in $(APT_TOOLS); do [ -x "$${t%%=*}" ] || missing="$$missing $${t##*=}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "as root: apt-get install$$missing" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: install services-up cluster-up
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

# The same suite with every table it makes bucketed (the poller and the query command
# read the layout from the table).
test-bucketed: install services-up cluster-up
	KAFKA2CASSANDRA_LAYOUT=bucketed $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

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

# make demo DEMO_ARGS=--prometheus: also a local Prometheus with the alert rules, its link
# and the alerts that fired.
demo: install services-up
	$(BIN)/python demo/demo.py $(DEMO_ARGS)

# The same pipeline on the three-node cluster: replication 3, writes at LOCAL_QUORUM.
demo-cluster: install cluster-up
	$(BIN)/python demo/demo.py --cluster

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench,fast]'
	touch $(BENCH_STAMP)

# Every component beside its baselines (3 interleaved rounds, then end to end).
# Writes bench/results/latest.json, docs/benchmarks.md and the charts. Fluent Bit is
# measured when LOGPIPE_BENCH_FLUENT_BIT names its binary (docs/benchmarks.md: building it).
bench: $(BENCH_STAMP) services-up cluster-up
	$(BIN)/python bench/run.py

# The same with small sizes and one round.
# Writes into bench/results/local/ (ignored by git): only make bench changes the committed
# results.
bench-quick: $(BENCH_STAMP) services-up cluster-up
	$(BIN)/python bench/run.py --quick

# query filters on 1,000,000 rows beside a full scan (about a quarter of an hour).
bench-query: $(BENCH_STAMP) services-up
	$(BIN)/python bench/bench_query.py

# The shippers following a log written one line per write() at 2,000 lines/s for 60 s: each
# one's share of a core and its RSS (one round, printed; make bench runs it in its rounds).
# make bench-steady STEADY_ARGS="--seconds 20 --runs 3"
bench-steady: $(BENCH_STAMP) services-up
	$(BIN)/python bench/bench_steady.py $(STEADY_ARGS)

# The settings table of the operator's guide, generated from the code.
docs: install
	$(BIN)/python -m logpipe.config.doc docs/settings.md

clean:
	rm -rf $(VENV) build src/*.egg-info
