"""make preflight STAGE=<stage> [CDK_ARGS=...]: everything a first deploy needs, checked before
anything is created, every problem listed in one run.

1. Without AWS (always): the settings that still hold placeholders (the account, the alarm
   and security-alert e-mails, the SES sender, the domain and hosted zone, dev's office
   ranges, moving image tags), as the CDK app would see them for the same command line
   (cdk.json's context, ``-c key=value``, ``$OPENMARKET_ACCOUNT``).
2. With credentials: the account itself. The CDK bootstrap stack, the platform admin role
   (the cluster's admin access entry names it; without it the cluster stack would fail
   after building the cluster, and its rollback delete it), the SES sender identity
   verified (and the account out of the SES sandbox: a warning in dev/staging, a problem in
   prod), the stage's images in ECR, and in staging/prod the Slack secret holding a webhook
   URL per receiver.

Exit 0 when the stage may deploy; 1 with one line per problem. ``make deploy`` and the deploy
workflow run it first.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openmarket_cdk.config import (
    AccountConfig,
    StageConfig,
    account_deploy_blockers,
    deploy_blockers,
)
from scripts.aws_access import NO_CREDENTIALS, client, explain, has_credentials
from scripts.cli_config import account_config_from_cli, stage_config_from_cli

BOOTSTRAP_STACK = "CDKToolkit"


@dataclass
class Findings:
    """What the checks found: problems stop the deploy, notes are said and let it go."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def offline_problems(config: StageConfig, account: AccountConfig) -> list[str]:
    """Every placeholder the stage (and the account's audit settings) still holds."""
    return [*deploy_blockers(config), *account_deploy_blockers(account)]


# --- account checks (each takes its boto3 client, so tests give it emulated ones) ----------


def check_identity(config: StageConfig, sts: Any, found: Findings) -> None:
    caller = sts.get_caller_identity()["Account"]
    if caller != config.account:
        found.problems.append(
            f"the credentials are for account {caller}, the stage is configured for "
            f"{config.account}: set OPENMARKET_ACCOUNT (or -c account=...) or switch profile"
        )


def check_bootstrap(config: StageConfig, cloudformation: Any, found: Findings) -> None:
    try:
        stacks = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except cloudformation.exceptions.ClientError as err:
        if "does not exist" not in str(err):
            raise
        stacks = []
    if not stacks or stacks[0]["StackStatus"].endswith(("_FAILED", "DELETE_COMPLETE")):
        found.problems.append(
            f"the account is not CDK-bootstrapped in {config.region} (no healthy "
            f"{BOOTSTRAP_STACK} stack): run make bootstrap"
        )


def check_admin_role(config: StageConfig, iam: Any, found: Findings) -> None:
    name = config.kubernetes.admin_role_name
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        found.problems.append(
            f"the platform admin role {name} (kubernetes.admin_role_name) does not exist: the "
            "cluster's admin access entry names it. Create it first (docs/deployment.md, "
            "'The platform admin role')"
        )


def check_sender_identity(config: StageConfig, sesv2: Any, found: Findings) -> None:
    """The sender address, or its domain, is a verified SES identity; the account may send
    to anyone (out of the sandbox)."""
    sender = config.functions.sender_email
    candidates = (sender, sender.rsplit("@", 1)[-1])
    verified = False
    for identity in candidates:
        try:
            answer = sesv2.get_email_identity(EmailIdentity=identity)
        except sesv2.exceptions.NotFoundException:
            continue
        verified = verified or bool(answer.get("VerifiedForSendingStatus"))
    if not verified:
        found.problems.append(
            f"the SES sender {sender} (functions.sender_email) is not a verified SES identity "
            f"in {config.region}, nor is its domain: verify it (docs/deployment.md, 'E-mail "
            "sender')"
        )
    if not sesv2.get_account().get("ProductionAccessEnabled", False):
        line = (
            f"the account is in the SES sandbox in {config.region}: order e-mails reach "
            "verified addresses only; request production access (docs/deployment.md, "
            "'E-mail sender')"
        )
        # Customers get order e-mails: the sandbox (verified recipients only) would drop them.
        serves_customers = config.policy.serves_customers
        (found.problems if serves_customers else found.notes).append(line)


def missing_images(config: StageConfig, ecr: Any) -> list[str]:
    """One line per image the stage deploys that its ECR repository does not hold."""
    problems: list[str] = []
    for workload in config.kubernetes.workloads:
        repository = config.names.ecr_repository_name(workload)
        image = f"{repository}:{workload.image_tag}"
        try:
            ecr.describe_images(
                repositoryName=repository, imageIds=[{"imageTag": workload.image_tag}]
            )
        except ecr.exceptions.RepositoryNotFoundException:
            problems.append(
                f"{image}: repository {repository} does not exist in {config.region}. "
                f"Create the registries first (make deploy-registries STAGE={config.name}), "
                "then push the image (docs/deployment.md, 'Images')"
            )
        except ecr.exceptions.ImageNotFoundException:
            problems.append(
                f"{image}: tag {workload.image_tag} is not in {repository}. Push it, or set "
                f"kubernetes.{workload.name}.image_tag (-c {workload.name}_image_tag=...) to a "
                "tag that is there"
            )
    return problems


def slack_secret_problems(config: StageConfig, secret_string: str) -> list[str]:
    """What is wrong with the Slack secret's value: a JSON object with one https URL per
    receiver."""
    name = config.names.slack_webhooks_secret_name
    receivers = config.kubernetes.monitoring.alertmanager.slack_receivers
    store = (
        f"store them with make slack-webhooks STAGE={config.name} (docs/monitoring.md, "
        "'Slack channels')"
    )
    try:
        value = json.loads(secret_string)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        return [f"the secret {name} is not a JSON object with the keys {', '.join(receivers)}"]
    unset = [
        key
        for key in receivers
        if not (isinstance(value.get(key), str) and str(value[key]).startswith("https://"))
    ]
    if unset:
        return [
            f"the secret {name} has no Slack webhook URL (https://...) for "
            f"{', '.join(unset)}: Alertmanager cannot deliver there; {store}"
        ]
    return []


def check_slack_secret(config: StageConfig, secretsmanager: Any, found: Findings) -> None:
    try:
        secret = secretsmanager.get_secret_value(SecretId=config.names.slack_webhooks_secret_name)
    except secretsmanager.exceptions.ResourceNotFoundException:
        found.notes.append(
            f"the secret {config.names.slack_webhooks_secret_name} does not exist yet: this first "
            "deploy creates it with a placeholder per channel (delivery failures then reach "
            f"the alarm e-mail); store the URLs with make slack-webhooks STAGE={config.name}"
        )
        return
    problems = slack_secret_problems(config, secret.get("SecretString", ""))
    # Production-like stages (staging, prod) have people on the channels; a development
    # stage's alerts reach e-mail only until someone stores the URLs.
    if config.policy.production_like:
        found.problems.extend(problems)
    else:
        found.notes.extend(problems)


# The current Amazon Linux 2023 image, by architecture (AWS's public parameters).
AL2023_IMAGE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


def nat_image_architecture(instance_type: str) -> str:
    """Graviton families end in g (t4g, c7g...): arm64; others x86_64."""
    return "arm64" if instance_type.split(".")[0].endswith("g") else "x86_64"


def check_nat_image(config: StageConfig, ssm: Any, found: Findings) -> None:
    """Says what the current image is, so pinning or updating it is one copy."""
    network = config.network
    if not network.nat_instance_count:
        return
    arch = nat_image_architecture(network.nat_instance_type)
    name = AL2023_IMAGE_PARAMETER.format(arch=arch)
    current = str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    if current != network.nat_instance_image_id:
        found.notes.append(
            f"the NAT instance pins {network.nat_instance_image_id}; the current Amazon Linux "
            f"2023 {arch} image is {current} (network.nat_instance_image_id; changing it "
            "replaces the instance: docs/runbooks.md, 'Updating the NAT instance image')"
        )


def account_findings(config: StageConfig, clients: Any) -> Findings:
    """The account checks; ``clients(service)`` gives a boto3 client of the stage's region."""
    found = Findings()
    check_identity(config, clients("sts"), found)
    check_bootstrap(config, clients("cloudformation"), found)
    check_admin_role(config, clients("iam"), found)
    check_sender_identity(config, clients("sesv2"), found)
    found.problems.extend(missing_images(config, clients("ecr")))
    check_slack_secret(config, clients("secretsmanager"), found)
    check_nat_image(config, clients("ssm"), found)
    return found


def preflight(stage: str, cdk_args: Sequence[str], clients: Any = None) -> tuple[int, list[str]]:
    """Exit code and the lines to print."""
    command = f"make preflight STAGE={stage}"
    try:
        config = stage_config_from_cli(stage, cdk_args)
        account = account_config_from_cli(cdk_args)
    except Exception as err:
        line = explain(err)
        if line is None:
            raise
        return 1, [f"{command}: {line}"]
    problems = offline_problems(config, account)
    lines = [f"{command}: {problem}" for problem in problems]
    if clients is None:
        if not has_credentials():
            lines.append(f"{command}: account checks not run: {NO_CREDENTIALS}")
            return 1, lines
        clients = lambda service: client(service, config.region)  # noqa: E731
    try:
        found = account_findings(config, clients)
    except Exception as err:
        line = explain(err)
        if line is None:
            raise
        lines.append(f"{command}: account checks stopped: {line}")
        return 1, lines
    lines += [f"{command}: {problem}" for problem in found.problems]
    lines += [f"{command}: note: {note}" for note in found.notes]
    if problems or found.problems:
        return 1, lines
    lines.append(f"{command}: ready to deploy {config.name} into {config.account}")
    return 0, lines


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: preflight.py STAGE [CDK arguments, e.g. -c alarm_email=...]", file=sys.stderr)
        return 2
    code, lines = preflight(argv[0], argv[1:])
    for line in lines:
        print(line, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
