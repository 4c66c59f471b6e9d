"""The monitoring stack's two Secrets Manager secrets (Grafana's login, the Slack webhook
URLs), created with the stack as their scope (stateful: fixed logical IDs); External
Secrets syncs them into the cluster."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_secretsmanager as secretsmanager

from openmarket_cdk.config import StageConfig
from openmarket_cdk.nag import acknowledge


def grafana_admin_secret(
    stack: Stack, config: StageConfig, removal: RemovalPolicy
) -> secretsmanager.Secret:
    secret = secretsmanager.Secret(
        stack,
        "GrafanaAdminSecret",
        secret_name=config.names.grafana_admin_secret_name,
        description=f"{config.names.prefix}: Grafana admin login (synced by ESO)",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template='{"admin-user": "admin"}',
            generate_string_key="admin-password",
            exclude_punctuation=True,
            password_length=32,
        ),
        removal_policy=removal,
    )
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "Grafana reads its admin password at start; rotate by updating the secret "
        "and restarting Grafana (secret rotation runbook).",
    )
    return secret


def slack_webhooks_secret(
    stack: Stack, config: StageConfig, removal: RemovalPolicy
) -> secretsmanager.Secret:
    """The webhook URLs come from Slack; operators store them (make slack-webhooks). The
    secret is created in the shape the ExternalSecret reads (one key per receiver, a
    placeholder each), so Alertmanager starts on the first deploy and its failed deliveries
    reach the alarm e-mail. The template never changes these values again unless the
    receivers or the placeholder change (then the stored URLs are reset)."""
    alertmanager = config.kubernetes.monitoring.alertmanager
    secret = secretsmanager.Secret(
        stack,
        "SlackWebhooksSecret",
        secret_name=config.names.slack_webhooks_secret_name,
        description=f"{config.names.prefix}: Alertmanager Slack webhook URL per receiver",
        secret_object_value={
            receiver: SecretValue.unsafe_plain_text(alertmanager.slack_url_placeholder)
            for receiver in alertmanager.slack_receivers
        },
        removal_policy=removal,
    )
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "Slack issues webhook URLs; they are replaced in Slack and here, by hand "
        "(secret rotation runbook).",
    )
    return secret
