"""Builds the whole app: shared by app.py, the tests and the benchmarks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from openmarket_cdk.config import (
    EDGE_CONTEXT_KEYS,
    REGION,
    STAGE_NAMES,
    StageConfig,
    StageConfigError,
    account_config,
    all_stage_configs,
    resolve_account,
    stage_config,
)
from openmarket_cdk.config.overrides import (
    CONTEXT_KEYS,
    SECURITY_ALARM_EMAIL_CONTEXT,
    with_account_overrides,
    with_context_overrides,
)
from openmarket_cdk.stacks.audit import AuditStack
from openmarket_cdk.stacks.deploy_access import DeployAccessStack
from openmarket_cdk.stage import OpenMarketStage

BUNDLING_CONTEXT_KEY = "aws:cdk:bundling-stacks"
NAG_PACKS = frozenset({"AwsSolutions"})
# The stages whose deploy workflow takes a manual Aurora snapshot first (make snapshot): those
# that serve customers (StagePolicy). The deploy role may snapshot exactly their clusters.
SNAPSHOT_BEFORE_DEPLOY: tuple[str, ...] = tuple(
    config.name for config in all_stage_configs() if config.policy.serves_customers
)


def selected_stages(app: cdk.App) -> list[str]:
    """Stage names from context ``stages`` (comma separated), default all, validated."""
    raw = app.node.try_get_context("stages")
    names = [s.strip() for s in str(raw).split(",") if s.strip()] if raw else list(STAGE_NAMES)
    for name in names:
        if name not in STAGE_NAMES:
            raise StageConfigError(
                f"stage config field 'name': unknown stage {name!r}; "
                f"expected one of {', '.join(STAGE_NAMES)}"
            )
    return names


def docker_available() -> bool:
    """Whether a Docker client is on PATH (bundling Lambda code needs a Docker engine)."""
    return shutil.which("docker") is not None and _docker_engine_answers()


def _docker_engine_answers() -> bool:
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def stage_with_context(app: cdk.App, config: StageConfig) -> StageConfig:
    """The stage's edge (``-c domain=shop.example.com -c hosted_zone_id=Z...
    -c hosted_zone_name=example.com``) and image tags (``-c backend_image_tag=1.4.2``, e.g.
    from CI) may come from context. A stage left without a domain says so: HTTP only."""
    config = with_context_overrides(
        config, {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    )
    if config.edge is None:
        print(
            f"{config.name}: no domain (edge.domain_name): HTTP only on the ALB's own name; "
            "-c domain=... -c hosted_zone_id=... -c hosted_zone_name=... enables HTTPS.",
            file=sys.stderr,
        )
    return config


def build_app(app: cdk.App) -> list[OpenMarketStage]:
    """Add one stage per selected stage name and the cdk-nag AwsSolutions checks."""
    if app.node.try_get_context(BUNDLING_CONTEXT_KEY) != [] and not docker_available():
        # PythonFunction bundles in a container; without an engine, synthesize the templates
        # with asset placeholders instead. Deploying needs Docker (make deploy checks).
        app.node.set_context(BUNDLING_CONTEXT_KEY, [])
        print("No Docker engine: Lambda bundling skipped (synth only).", file=sys.stderr)
    account = resolve_account({"account": app.node.try_get_context("account")})
    names = selected_stages(app)
    edge_keys = [key for key in EDGE_CONTEXT_KEYS if app.node.try_get_context(key)]
    if edge_keys and len(names) > 1:
        # One domain for several stages would have their ExternalDNS fight over one record.
        raise StageConfigError(
            f"stage config field 'edge': -c {edge_keys[0]}=... names one stage's domain; "
            "select that stage with -c stages=<stage>"
        )
    stages = [
        OpenMarketStage(app, stage_with_context(app, stage_config(name, account))) for name in names
    ]
    # Once per account, outside the stages: GitHub Actions' OIDC provider and roles.
    # `cdk deploy DeployAccess` selects it; 'dev/*' never does.
    configs = all_stage_configs(account)
    access = DeployAccessStack(
        app,
        "DeployAccess",
        stack_name="openmarket-deploy-access",
        description="OpenMarket: GitHub Actions OIDC provider, deploy and diff roles "
        "(once per account)",
        env=cdk.Environment(account=account, region=REGION),
        termination_protection=True,
        existing_provider_arn=app.node.try_get_context("github_oidc_provider_arn"),
        # The deploy workflow wakes these before deploying (make wake).
        sleeping_stages=[config for config in configs if config.sleep.enabled],
        snapshot_stages=[config for config in configs if config.name in SNAPSHOT_BEFORE_DEPLOY],
        # make smoke opens these stages' ALB to the runner for the length of the test.
        restricted_alb_stages=[config for config in configs if config.alb_is_restricted],
        # make preflight, the deploy's first step, reads what each stage needs.
        preflight_stages=configs,
    )
    # Once per account too: the audit trail and the CIS alarms (`cdk deploy Audit`).
    audit_config = with_account_overrides(
        account_config(account),
        {SECURITY_ALARM_EMAIL_CONTEXT: app.node.try_get_context(SECURITY_ALARM_EMAIL_CONTEXT)},
    )
    audit = AuditStack(
        app,
        "Audit",
        stack_name=audit_config.audit_stack_name,
        description="OpenMarket: account audit trail (CloudTrail, Object Lock bucket) and CIS "
        "monitoring alarms (once per account)",
        env=cdk.Environment(account=account, region=audit_config.region),
        termination_protection=True,
        config=audit_config,
    )
    for stack in (access, audit):
        for key, value in (("Project", "openmarket"), ("ManagedBy", "aws-cdk")):
            cdk.Tags.of(stack).add(key, value)
    # Every finding fails synth unless acknowledged with a reason on the resource.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stages


def unacknowledged_findings(assembly_directory: str) -> list[str]:
    """Every validation finding (cdk-nag included) that no acknowledgement covers.

    Under the CDK CLI the app only sets a non-zero exit code inside the jsii Node process,
    which never reaches ``python app.py``; so the app reads the report and fails by itself.
    """
    report_path = Path(assembly_directory) / "validation-report.json"
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    return [
        f"{violation['ruleName']} ({violation['severity']}) at {construct['constructPath']}"
        for plugin in report.get("pluginReports", [])
        # CDK's built-in CloudFormation checks overlap cfn-lint, which is its own gate with
        # its own justified ignore list (.cfnlintrc.yaml); here only the nag packs count.
        if plugin.get("pluginName") in NAG_PACKS
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
