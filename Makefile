# SFT Foundry — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch lies on this machine's disk; on a GPU machine, e.g.:
#   make test TORCH_SPEC='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'
TORCH_SPEC ?= torch==2.13.0
# Every other package comes from a committed, hashed lock (requirements/, written by `make lock`).
# LOCK=latest installs the newest versions pyproject.toml allows instead (see test-latest).
LOCK ?= requirements/dev.txt
EXTRAS ?= dev,train,infer
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell (echo '$(TORCH_SPEC) $(EXTRAS) $(LOCK)'; cat $(LOCK) 2>/dev/null) | sha1sum | cut -c1-12)

.PHONY: help venv lock test-latest demo test unit integration lint typecheck protos bench clean stack-up stack-down stack-status k8s-validate

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(filter-out latest,$(LOCK))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(TORCH_SPEC)
ifeq ($(LOCK),latest)
	$(PY) -c "from importlib.metadata import version; print('torch==' + version('torch'))" > $(VENV)/torch-constraint.txt
	$(PIP) install --quiet --upgrade --upgrade-strategy eager -c $(VENV)/torch-constraint.txt -e '.[$(EXTRAS)]'
else
	$(PIP) install --quiet --no-deps --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
endif
	$(PIP) check
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP) ## create .venv: torch first, then every other package from the lock, then the project

lock: ## regenerate requirements/*.txt (keeps locked versions; UPGRADE=1 takes the newest allowed)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) show --quiet torch 2>/dev/null || $(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet --no-deps --require-hashes -r requirements/tools.txt
	$(PY) tools/lock.py $(if $(UPGRADE),--upgrade)

test-latest: ## the suite on the newest versions pyproject.toml allows (own venv; not part of make test)
	$(MAKE) test VENV=.venv-latest LOCK=latest

demo: $(STAMP) ## run the main job end to end on the embedded default (local S3, all services)
	$(VENV)/bin/foundry demo

test: $(STAMP) lint typecheck ## lint, type-check, then every test (starts its own S3 server)
	$(PY) -m pytest -q

unit: $(STAMP) ## unit tests only
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) ## integration and end-to-end tests
	$(PY) -m pytest -q tests/integration tests/e2e

lint: $(STAMP) ## ruff on our own code (generated stubs excluded)
	$(VENV)/bin/ruff check services tests bench tools
	$(VENV)/bin/ruff format --check services tests bench tools

typecheck: $(STAMP) ## mypy --strict on our own code
	$(VENV)/bin/mypy

protos: $(STAMP) ## regenerate services/foundry/api from protos/
	$(PY) tools/gen_protos.py

bench: $(STAMP) ## run every benchmark in bench/ (prints side-by-side tables)
	@shopt -s nullglob; for b in bench/[a-z]*.py; do echo "== $$b"; $(PY) $$b $(BENCH_ARGS) || exit 1; done

k8s-validate: $(STAMP) ## render every deploy/k8s overlay and check it (kubernetes-validate --strict, policies)
	$(PY) -m pytest -q tests/unit/deploy

stack-up: $(STAMP) ## start the local stack
	$(VENV)/bin/foundry stack up

stack-down: $(STAMP) ## stop the local stack
	$(VENV)/bin/foundry stack down

stack-status: $(STAMP) ## health of every service
	$(VENV)/bin/foundry stack status

clean: ## remove caches (keeps .venv and .foundry)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info services/*.egg-info
