# Stratus on one machine. `make help` lists the targets; each `## text` below is its help line.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := .venv/bin
MANAGE := $(BIN)/stratus-manage
# `make up HOSTS=2`: how many hosts this machine runs (remembered in .stratus/stratus.toml for later runs)
HOSTS ?=
# `make up VOLUMES=ceph`: volumes on a single-node Ceph (deploy/ceph/) besides files; VOLUMES=file goes back (remembered)
VOLUMES ?=
# `make up HA=1`: the highly available shape on this machine (two copies of each control worker, three API processes
# behind HAProxy, Redis with Sentinel, PostgreSQL with a standby; remembered); HA=0 goes back to one copy of each
HA ?=
# `make test TEST_WORKERS=N`: pytest-xdist workers sharing the suite (tests/conftest.py says how); 0 runs it in one
# process. Two on two cores: both may boot TCG guests at once (tests/conftest.py), and a third worker slowed them
# past their timeouts.
TEST_WORKERS ?= 2

.PHONY: help deps system-services up down status test lint bench conformance

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## Install the Debian packages and the virtualenv (.venv), only what is missing
	@bash deploy/install-deps.sh

system-services: ## Start virtlogd and libvirtd when they are not running
	@bash deploy/start-system-services.sh

up: deps system-services ## Start the cloud (idempotent; data in .stratus is kept) and write ./clouds.yaml; HOSTS=N runs N hosts, VOLUMES=ceph adds Ceph, HA=1 the highly available shape
	bash deploy/images/build-tiny.sh .stratus/build/tiny.qcow2
	$(BIN)/python deploy/bootstrap.py --prepare $(if $(HOSTS),--hosts $(HOSTS)) $(if $(VOLUMES),--volumes $(VOLUMES)) $(if $(HA),--ha $(HA))
	@state="$$($(BIN)/python deploy/bootstrap.py --local-ceph)"; if [ -n "$$state" ]; then \
		STRATUS_CEPH_ADDRESS="$$($(BIN)/python deploy/bootstrap.py --ceph-address)" bash deploy/ceph/up.sh "$$state"; fi
	$(MANAGE) services up
	$(BIN)/python deploy/bootstrap.py --clouds-yaml clouds.yaml --tiny-image .stratus/build/tiny.qcow2

down: ## Stop every process `make up` started (data is kept), the single-node Ceph last
	@if [ -x $(MANAGE) ]; then $(MANAGE) services down; else echo "nothing to stop: no $(MANAGE)"; fi
	@bash deploy/ceph/down.sh

status: ## Show each service: pid, running or stopped, log file (fails if one is down); the Ceph daemons when made
	@rc=0; $(MANAGE) services status || rc=$$?; bash deploy/ceph/status.sh || rc=1; exit $$rc

lint: ## ruff and the import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Ceph's packages (deploy/ceph/install.sh, a no-op once there) before any test runs: the Ceph tests' fixtures would
# otherwise install them on a new machine while the other worker's tests run with Ceph's libraries loaded.
test: deps system-services lint ## Lint, then every test (unit, functional, end-to-end), on TEST_WORKERS workers
	@bash deploy/ceph/install.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=25 tests

# `make conformance SUITES=identity,network`: some suites only (conformance/run.py lists them); ALL=1 runs the tests
# conformance/expected-failures.txt lists too
SUITES ?=
ALL ?=

conformance: ## OpenStack's Tempest against the cloud `make up` started: passed, skipped, failed per API suite
	$(BIN)/python conformance/run.py $(if $(SUITES),--suites $(SUITES)) $(if $(ALL),--all)

bench: ## Run the benchmarks; they print figures, they do not pass or fail
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/image.py
	$(BIN)/python bench/image_upload.py --quick
	$(BIN)/python bench/compute.py
	$(BIN)/python bench/cold_migration.py
	$(BIN)/python bench/network.py
	$(BIN)/python bench/metadata.py
	$(BIN)/python bench/floating_ips.py
	$(BIN)/python bench/quota.py
	$(BIN)/python bench/rebalance.py
	$(BIN)/python bench/boot.py
	$(BIN)/python bench/migration.py
	$(BIN)/python bench/hosts.py
	$(BIN)/python bench/portal.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/volumes.py
	$(BIN)/python bench/bringup.py
	$(BIN)/python bench/scale.py
