"""make slack-webhooks STAGE=<stage>: store Alertmanager's Slack webhook URLs in the stage's
secret (``openmarket-<stage>/alertmanager/slack``), one per channel.

It asks for each channel's URL (input hidden; Enter keeps the stored one), or reads
``<channel>=<url>`` lines from standard input when that is not a terminal, checks each is an
``https://`` URL, and writes the whole JSON object back. No URL is printed or passed on a
command line. External Secrets copies it into the cluster within its refresh interval; the
command says how to make it sooner.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from typing import Any

from openmarket_cdk.config import StageConfig
from scripts.aws_access import OperatorError, client, require_credentials, run
from scripts.cli_config import stage_config_from_cli


def parse_lines(text: str, receivers: tuple[str, ...]) -> dict[str, str]:
    """``<channel>=<url>`` lines (blank lines and ``#`` comments ignored)."""
    urls: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in receivers:
            raise OperatorError(
                f"line {number}: expected <channel>=<url> with a channel of {', '.join(receivers)}"
            )
        urls[key.strip()] = value.strip()
    return urls


def merged(current: dict[str, Any], updates: dict[str, str], config: StageConfig) -> dict[str, str]:
    """The secret's new value: every channel, updated where given; each must be https."""
    monitoring = config.kubernetes.monitoring
    result = {
        key: str(
            updates.get(key) or current.get(key) or monitoring.alertmanager.slack_url_placeholder
        )
        for key in monitoring.alertmanager.slack_receivers
    }
    bad = [key for key, url in result.items() if key in updates and not url.startswith("https://")]
    if bad:
        raise OperatorError(f"not an https:// URL for {', '.join(bad)}: nothing was stored")
    return result


def store(config: StageConfig, updates: dict[str, str], secretsmanager: Any) -> list[str]:
    name = config.names.slack_webhooks_secret_name
    try:
        current = json.loads(secretsmanager.get_secret_value(SecretId=name)["SecretString"])
    except secretsmanager.exceptions.ResourceNotFoundException:
        raise OperatorError(
            f"the secret {name} does not exist: deploy the stage first (its cluster stack "
            "creates it)"
        ) from None
    value = merged(current if isinstance(current, dict) else {}, updates, config)
    secretsmanager.put_secret_value(SecretId=name, SecretString=json.dumps(value))
    return [
        key for key in config.kubernetes.monitoring.alertmanager.slack_receivers if key in updates
    ]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: slack_webhooks.py STAGE [CDK arguments]", file=sys.stderr)
        return 2

    def body() -> int:
        config = stage_config_from_cli(argv[0], argv[1:])
        receivers = config.kubernetes.monitoring.alertmanager.slack_receivers
        require_credentials()
        if sys.stdin.isatty():
            updates = {}
            for key in receivers:
                url = getpass.getpass(f"Slack webhook URL for #{key} (Enter keeps it): ").strip()
                if url:
                    updates[key] = url
        else:
            updates = parse_lines(sys.stdin.read(), receivers)
        if not updates:
            print("nothing given: the secret is unchanged")
            return 0
        stored = store(config, updates, client("secretsmanager", config.region))
        print(
            f"stored the webhook URL of {', '.join(stored)} in "
            f"{config.names.slack_webhooks_secret_name}. External Secrets syncs it within "
            f"{config.kubernetes.monitoring.secret_refresh_interval}; sooner: make kubectl "
            f"STAGE={config.name} CMD='-n {config.kubernetes.monitoring.namespace} annotate "
            f"externalsecret {config.kubernetes.monitoring.alertmanager.slack_webhooks_k8s_secret} "
            f"force-sync={int(time.time())} --overwrite'"
        )
        return 0

    return run(f"make slack-webhooks STAGE={argv[0]}", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
