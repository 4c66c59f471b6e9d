"""make preflight: every placeholder in one run without AWS, then the account's prerequisites
(bootstrap, admin role, SES, images, Slack secret) against emulated AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from openmarket_cdk.config import stage_config
from scripts import preflight
from scripts.cli_config import stage_config_from_cli
from tests.conftest import ROOT

ACCOUNT = "123456789012"
# Real-looking values for every placeholder, as a fork would give them.
REAL = [
    "-c", f"account={ACCOUNT}",
    "-c", "alarm_email=oncall@shop.io",
    "-c", "security_alarm_email=security@shop.io",
    "-c", "sender_email=no-reply@shop.io",
    "-c", "office_cidrs=198.18.7.0/24",
    "-c", "domain=www.shop.io",
    "-c", "hosted_zone_id=Z0123456789ABCDEFGHIJ",
    "-c", "hosted_zone_name=shop.io",
]  # fmt: skip


def without_aws(**extra: str) -> dict[str, str]:
    """The environment of a fresh machine: no credentials of any kind."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "OPENMARKET_ACCOUNT"
    }
    # No profile or SSO cache from the machine either.
    env |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    # And no instance metadata service to ask.
    env |= {"AWS_EC2_METADATA_DISABLED": "true"}
    return env | extra


def run_preflight(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/preflight.py", *args],
        cwd=ROOT,
        env=env or without_aws(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_fresh_clone_lists_every_placeholder_of_prod_in_one_run() -> None:
    result = run_preflight("prod")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("make preflight STAGE=prod: ") for line in lines)
    text = result.stderr
    for setting in (
        "account is the placeholder",
        "observability.alarm_email",
        "functions.sender_email",
        "edge.domain_name",
        "edge.hosted_zone_name",
        "edge.hosted_zone_id",
        "account: alarm_email",  # the CIS alarms' e-mail
    ):
        assert setting in text, setting
    # Each says where to set it, and the account checks say why they did not run.
    assert "-c alarm_email=" in text and "stages.py" in text
    assert lines[-1].endswith(
        "no AWS credentials found: sign in (aws sso login, AWS_PROFILE, "
        "or the deploy role's OIDC session in CI) and run it again"
    )


def test_dev_names_its_documentation_office_ranges() -> None:
    result = run_preflight("dev")
    assert result.returncode == 1
    assert "network.alb_ingress_cidrs[0] is the placeholder '203.0.113.0/24'" in result.stderr
    assert "kubernetes.public_endpoint_cidrs[0]" in result.stderr
    assert "-c office_cidrs=" in result.stderr


def test_with_real_values_it_reaches_the_account_checks_and_says_credentials_are_missing() -> None:
    result = run_preflight("prod", *REAL)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "make preflight STAGE=prod: account checks not run: no AWS credentials found: sign in "
        "(aws sso login, AWS_PROFILE, or the deploy role's OIDC session in CI) and run it again"
    ]


def test_real_values_from_the_environment_count_too() -> None:
    without_account = REAL[2:]  # the account from $OPENMARKET_ACCOUNT instead of -c
    result = run_preflight("prod", *without_account, env=without_aws(OPENMARKET_ACCOUNT=ACCOUNT))
    assert "account is the placeholder" not in result.stderr
    assert "account checks not run" in result.stderr


def test_an_unknown_stage_or_a_bad_value_is_one_line() -> None:
    bad = run_preflight("prod", "-c", "office_cidrs=10.0.0.300/24", *REAL[2:4])
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    unknown = run_preflight("qa")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "make preflight STAGE=qa: stage config field 'name': unknown stage 'qa'; "
        "expected one of dev, staging, prod"
    ]


def test_a_moving_image_tag_is_refused() -> None:
    config = stage_config_from_cli("prod", [*REAL, "-c", "backend_image_tag=latest"])
    assert any(
        "kubernetes.backend.image_tag is 'latest'" in p
        for p in preflight.offline_problems(config, preflight.account_config_from_cli(REAL))
    )


# --- the account checks, against emulated AWS --------------------------------------------------


def prod_config() -> Any:
    return stage_config_from_cli("prod", REAL)


def ses_stub(verified: bool, production: bool) -> Any:
    """SES v2 (moto emulates no GetAccount): a stubbed client answering the two calls."""
    sesv2 = boto3.client("sesv2", region_name="ap-northeast-2")
    stubber = Stubber(sesv2)
    stubber.add_response(
        "get_email_identity",
        {"IdentityType": "EMAIL_ADDRESS", "VerifiedForSendingStatus": verified},
        {"EmailIdentity": "no-reply@shop.io"},
    )
    stubber.add_client_error("get_email_identity", "NotFoundException", http_status_code=404)
    stubber.add_response("get_account", {"ProductionAccessEnabled": production})
    stubber.activate()
    return sesv2


def cloudformation_stub(bootstrapped: bool) -> Any:
    """CloudFormation's answer for the bootstrap stack (moto's CloudFormation needs extras
    the tests do not install)."""
    cloudformation = boto3.client("cloudformation", region_name="ap-northeast-2")
    stubber = Stubber(cloudformation)
    if bootstrapped:
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "CDKToolkit",
                        "CreationTime": "2026-12-01T00:00:00Z",
                        "StackStatus": "UPDATE_COMPLETE",
                    }
                ]
            },
            {"StackName": "CDKToolkit"},
        )
    else:
        stubber.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id CDKToolkit does not exist"
        )
    stubber.activate()
    return cloudformation


def clients_with(sesv2: Any, bootstrapped: bool) -> Any:
    stubs = {"sesv2": sesv2, "cloudformation": cloudformation_stub(bootstrapped)}

    def clients(service: str) -> Any:
        return stubs.get(service) or boto3.client(service, region_name="ap-northeast-2")

    return clients


def test_an_empty_account_is_told_every_prerequisite(emulated_aws: None) -> None:
    config = prod_config()
    found = preflight.account_findings(
        config, clients_with(ses_stub(False, False), bootstrapped=False)
    )
    text = "\n".join(found.problems)
    assert "not CDK-bootstrapped" in text and "make bootstrap" in text
    assert "OpenMarketPlatformAdmin (kubernetes.admin_role_name) does not exist" in text
    assert "no-reply@shop.io (functions.sender_email) is not a verified SES identity" in text
    assert "SES sandbox" in text  # prod: a problem, customers would get no mail
    assert "repository openmarket/prod/backend does not exist" in text
    assert "repository openmarket/prod/frontend-web does not exist" in text
    # The first deploy creates the Slack secret: said, not refused.
    assert any("does not exist yet" in note for note in found.notes)


def ready_account(config: Any, slack: dict[str, str] | None) -> None:
    boto3.client("iam").create_role(
        RoleName=config.kubernetes.admin_role_name, AssumeRolePolicyDocument="{}"
    )
    ecr = boto3.client("ecr", region_name=config.region)
    for workload in config.kubernetes.workloads:
        repository = config.names.ecr_repository_name(workload)
        ecr.create_repository(repositoryName=repository)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "0" * 64},
        }
        ecr.put_image(
            repositoryName=repository,
            imageManifest=json.dumps(manifest),
            imageTag=workload.image_tag,
        )
    if slack is not None:
        boto3.client("secretsmanager", region_name=config.region).create_secret(
            Name=config.names.slack_webhooks_secret_name, SecretString=json.dumps(slack)
        )


def test_a_ready_account_passes(emulated_aws: None) -> None:
    config = prod_config()
    receivers = config.kubernetes.monitoring.alertmanager.slack_receivers
    ready_account(config, {key: f"https://hooks.slack.com/services/T/B/{key}" for key in receivers})
    found = preflight.account_findings(
        config, clients_with(ses_stub(True, True), bootstrapped=True)
    )
    assert found.problems == [] and found.notes == []


def test_slack_placeholders_stop_a_prod_deploy(emulated_aws: None) -> None:
    config = prod_config()
    receivers = config.kubernetes.monitoring.alertmanager.slack_receivers
    urls = {
        key: config.kubernetes.monitoring.alertmanager.slack_url_placeholder for key in receivers
    }
    urls["critical"] = "https://hooks.slack.com/services/T/B/critical"
    ready_account(config, urls)
    found = preflight.account_findings(
        config, clients_with(ses_stub(True, True), bootstrapped=True)
    )
    (problem,) = found.problems
    assert "no Slack webhook URL (https://...) for warning, info, heartbeat, app" in problem
    assert "make slack-webhooks STAGE=prod" in problem


def test_credentials_of_another_account_are_named(emulated_aws: None) -> None:
    # moto's account is 123456789012; configure another one.
    config = stage_config_from_cli("prod", ["-c", "account=210987654321", *REAL[2:]])
    found = preflight.Findings()
    preflight.check_identity(config, boto3.client("sts", region_name=config.region), found)
    assert found.problems == [
        "the credentials are for account 123456789012, the stage is configured for "
        "210987654321: set OPENMARKET_ACCOUNT (or -c account=...) or switch profile"
    ]


@pytest.mark.parametrize("value", ["", "not json", "[]", '{"critical": "http://x"}'])
def test_a_malformed_slack_secret_is_named(value: str) -> None:
    problems = preflight.slack_secret_problems(stage_config("prod"), value)
    assert len(problems) == 1 and "openmarket-prod/alertmanager/slack" in problems[0]


def test_a_stage_with_a_nat_instance_needs_its_image_pinned() -> None:
    result = run_preflight("staging", *REAL)
    assert "network.nat_instance_image_id is the placeholder" in result.stderr
    pinned = run_preflight("staging", *REAL, "-c", "nat_instance_image_id=ami-0123456789abcdef0")
    assert "nat_instance_image_id" not in pinned.stderr


def test_preflight_names_the_current_nat_image() -> None:
    config = stage_config_from_cli(
        "staging", [*REAL, "-c", "nat_instance_image_id=ami-0123456789abcdef0"]
    )
    ssm = boto3.client("ssm", region_name="ap-northeast-2")
    stubber = Stubber(ssm)
    stubber.add_response(
        "get_parameter",
        {"Parameter": {"Name": "x", "Value": "ami-0fedcba9876543210"}},
        {"Name": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"},
    )
    stubber.activate()
    found = preflight.Findings()
    preflight.check_nat_image(config, ssm, found)
    (note,) = found.notes
    assert "current Amazon Linux 2023 arm64 image is ami-0fedcba9876543210" in note
