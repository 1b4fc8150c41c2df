# Every target installs what it needs into .venv first, so a fresh clone works.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SOAK_MINUTES ?= 10
CAMPAIGN_MINUTES ?= 10
SEED ?= 1
STAMP  := $(VENV)/.installed

.PHONY: check check-proof check-small test soak campaign adequacy bench lint native pure java chromium etcd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# TLC needs a Java runtime; install Debian's when none is on PATH.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing a Java runtime for TLC (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

# The HTML trace view is tested in a real headless browser: Debian's Chromium (the
# tests never let a tool download a browser of its own).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium for the HTML trace view test (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The etcd engine's tests start real etcd servers (Debian's etcd-server) and make TLS certificates (openssl).
etcd:
	@command -v etcd >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 || { \
	  echo "installing etcd for the etcd engine's tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client openssl >/dev/null; }

## check: prove IndInv for every size with Z3 while the data path's configuration, resource failures'
## (with liveness) and liveness on the default configuration without restarts and configuration changes
## are checked (one core each; liveness without restarts and configuration changes because the full
## default's unreduced graph would not fit in memory: spec/README.md, Liveness), then model-check the
## default configuration on two workers. The model is compiled by `make native` when a C compiler is
## there, else it runs as pure Python (about 3x slower). About 2 minutes here.
## (exit 0 every obligation proved and every configuration holds; non-zero otherwise)
check: $(STAMP)
	@$(MAKE) --no-print-directory native > .native.log 2>&1 \
		|| echo "make native failed (.native.log): the model runs as pure Python, about 3x slower"
	@$(MAKE) --no-print-directory -j2 --output-sync=target check-proof check-small
	$(BIN)/pbjoin check --config default --workers 2
	@echo "make check: every obligation proved, and every configuration checked holds"

# The two halves of check that run side by side (each prints when it is done).
check-proof: $(STAMP)
	$(BIN)/pbjoin prove --unbounded

check-small: $(STAMP)
	$(BIN)/pbjoin check --config writes
	$(BIN)/pbjoin check --config resources --liveness
	$(BIN)/pbjoin check --config default --max-restarts 0 --max-config-changes 0 --liveness --quiet

## test: the whole test suite, TLC agreement included: the model and in-memory tests on two workers,
## then the tests that run etcd and node processes one at a time (the slowest tests listed). The
## model is compiled first, as for check (tests/test_native.py compares it with the pure-Python one)
test: $(STAMP) java chromium etcd
	@$(MAKE) --no-print-directory native > .native.log 2>&1 \
		|| echo "make native failed (.native.log): the model runs as pure Python, about 3x slower"
	$(BIN)/python -m pytest -q -n 2 -m "not real_processes" --durations=15
	$(BIN)/python -m pytest -q -m real_processes --durations=5

## soak: churn a group on 3 authenticated etcd servers for SOAK_MINUTES (joins, leaves, kills, pauses,
## etcd leader losses, idle stretches), then check exits, data and conformance (exit 0 passed, 1 failed)
soak: $(STAMP) etcd
	$(BIN)/python tests/soak.py --minutes $(SOAK_MINUTES)

## campaign: the data path under faults - clients write while the soak's nemesis (plus SIGSTOPs of the
## primary host) runs for CAMPAIGN_MINUTES, then every copy is read: lost, duplicated, foreign,
## out-of-order and deposed-epoch writes must all be 0 (exit 0 passed, 1 failed; SEED reproduces a run)
campaign: $(STAMP) etcd
	$(BIN)/python tests/campaign.py --minutes $(CAMPAIGN_MINUTES) --seed $(SEED)

## adequacy: every implementation mutant against every conformance method (demo, exhaustive replay
## without and with writes, seeded lockstep): which method kills which mutant, and how fast; then
## every model and spec mutant against every model-side method (explorer on each configuration,
## liveness, IndInv on reachable states, the unbounded proof, BMC, TLC, invariant and symbolic
## agreement, simulation; 83 min here, bench/adequacy_model.py --quick for a part of it)
adequacy: $(STAMP) java
	$(BIN)/python bench/adequacy.py --json bench/adequacy.json
	$(BIN)/python bench/adequacy_model.py --json bench/adequacy_model.json

## bench: pbjoin check against TLC at 1 and 2 workers (wall and CPU ratios), checker states/s and peak
## memory on larger configurations; conformance throughput; write latency,
## writes/s with 0, 1 and 2 backups and failover time over etcd
bench: $(STAMP) etcd
	$(BIN)/python bench/bench_checker.py -o bench/results.json
	$(BIN)/python bench/bench_conformance.py -o bench/conformance.json
	$(BIN)/python bench/bench_writes.py -o bench/writes.json

## native: compile the model's hot modules with mypyc (optional, about 3x faster checks; the pure-Python
## sources stay, and are used instead whenever one changes after compiling, or with PBJOIN_PURE=1)
native: $(STAMP)
	cd model && ../$(BIN)/python build_native.py

## pure: remove the compiled modules
pure:
	rm -rf model/build model/pbjoin_model/protocol/*.so model/pbjoin_model/protocol/native.json

## lint: ruff (lint and format) and mypy --strict over model/, src/, tests/ and bench/
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean: pure
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info .native.log
