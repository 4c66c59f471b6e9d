"""make slack-webhooks: the URLs go into the stage's secret (emulated Secrets Manager) in the
shape the ExternalSecret reads; a bad URL stores nothing."""

from __future__ import annotations

import json

import boto3
import pytest

from openmarket_cdk.config import stage_config
from scripts.aws_access import OperatorError
from scripts.slack_webhooks import parse_lines, store

PROD = stage_config("prod")
MONITORING = PROD.kubernetes.monitoring.alertmanager
NAME = PROD.names.slack_webhooks_secret_name


def created_by_the_stack(secretsmanager: object) -> None:
    """What the cluster stack creates: a placeholder per channel."""
    placeholders = {key: MONITORING.slack_url_placeholder for key in MONITORING.slack_receivers}
    secretsmanager.create_secret(Name=NAME, SecretString=json.dumps(placeholders))  # type: ignore[attr-defined]


def test_given_urls_are_stored_and_the_others_kept(emulated_aws: None) -> None:
    secretsmanager = boto3.client("secretsmanager", region_name=PROD.region)
    created_by_the_stack(secretsmanager)
    updates = parse_lines(
        "# from Slack's app page\ncritical=https://hooks.slack.com/services/T/B/c\n\n"
        "app = https://hooks.slack.com/services/T/B/a\n",
        MONITORING.slack_receivers,
    )
    assert store(PROD, updates, secretsmanager) == ["critical", "app"]
    value = json.loads(secretsmanager.get_secret_value(SecretId=NAME)["SecretString"])
    assert list(value) == list(MONITORING.slack_receivers)
    assert value["critical"] == "https://hooks.slack.com/services/T/B/c"
    assert value["warning"] == MONITORING.slack_url_placeholder


def test_a_bad_url_stores_nothing(emulated_aws: None) -> None:
    secretsmanager = boto3.client("secretsmanager", region_name=PROD.region)
    created_by_the_stack(secretsmanager)
    with pytest.raises(OperatorError, match="not an https:// URL for info"):
        store(PROD, {"info": "http://hooks.slack.com/x"}, secretsmanager)
    value = json.loads(secretsmanager.get_secret_value(SecretId=NAME)["SecretString"])
    assert value["info"] == MONITORING.slack_url_placeholder


def test_before_the_first_deploy_it_says_so(emulated_aws: None) -> None:
    secretsmanager = boto3.client("secretsmanager", region_name=PROD.region)
    with pytest.raises(OperatorError, match="does not exist: deploy the stage first"):
        store(PROD, {"info": "https://hooks.slack.com/x"}, secretsmanager)


@pytest.mark.parametrize("line", ["nochannel", "pager=https://x", "=https://x"])
def test_a_line_that_names_no_channel_is_refused(line: str) -> None:
    with pytest.raises(OperatorError, match="line 1: expected <channel>=<url>"):
        parse_lines(line, MONITORING.slack_receivers)
