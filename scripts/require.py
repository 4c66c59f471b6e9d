"""What a make target needs before it starts, each missing thing as one line naming where to
set it; exit 1 at the first one, before a synth or a CDK CLI run spends minutes on the way to
the same error.

    require.py "make diff STAGE=dev" credentials account
    require.py "make deploy-audit" credentials account audit-settings [CDK arguments...]

Checks: ``credentials`` (the default AWS chain finds some, no call made), ``account``
(``OPENMARKET_ACCOUNT`` is a 12-digit account id), ``docker`` (a Docker engine answers: the
Lambda functions are bundled in a container), ``audit-settings`` (the CIS alarms' e-mail is
no placeholder), ``session-manager-plugin`` and ``kubectl`` (on PATH).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from openmarket_cdk.config import ACCOUNT_ENV_VAR, account_deploy_blockers
from scripts.aws_access import NO_CREDENTIALS, has_credentials, run
from scripts.cli_config import account_config_from_cli

SESSION_MANAGER_PLUGIN_DOCS = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def missing(check: str, cdk_args: list[str]) -> str | None:
    """Why ``check`` fails, in one line, or None."""
    if check == "credentials":
        return None if has_credentials() else NO_CREDENTIALS
    if check == "account":
        account = os.environ.get(ACCOUNT_ENV_VAR, "")
        if re.fullmatch(r"\d{12}", account):
            return None
        return f"set {ACCOUNT_ENV_VAR} to the target AWS account id (12 digits)"
    if check == "docker":
        if docker_answers():
            return None
        return (
            "no Docker engine answers here: deploying bundles the Lambda functions in a "
            "container; run it where Docker runs (the deploy workflow does). make synth and "
            "make diff work without Docker"
        )
    if check == "audit-settings":
        blockers = account_deploy_blockers(account_config_from_cli(cdk_args))
        return blockers[0] if blockers else None
    if check in ("session-manager-plugin", "kubectl"):
        if shutil.which(check):
            return None
        where = (
            f"install the Session Manager plugin ({SESSION_MANAGER_PLUGIN_DOCS})"
            if check == "session-manager-plugin"
            else "install kubectl (https://kubernetes.io/docs/tasks/tools/)"
        )
        return f"{check} is not on PATH: {where}"
    raise SystemExit(f"require.py: unknown check {check!r}")


CHECKS = ("credentials", "account", "docker", "audit-settings", "session-manager-plugin", "kubectl")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: require.py COMMAND CHECK... [CDK arguments]", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    checks = [arg for arg in rest if arg in CHECKS]
    cdk_args = [arg for arg in rest if arg not in CHECKS]

    def body() -> int:
        for check in checks:
            reason = missing(check, cdk_args)
            if reason is not None:
                print(f"{command}: {reason}", file=sys.stderr)
                return 1
        return 0

    return run(command, body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
