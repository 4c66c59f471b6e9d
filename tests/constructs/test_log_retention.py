"""Log retention: the one table of CloudWatch Logs periods (config/facts.py) and CDK's enum."""

from __future__ import annotations

from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from openmarket_cdk.common import log_retention
from openmarket_cdk.config import LOG_RETENTION_PERIODS, stage_config
from tests.constructs.bare import bare_stack


def test_every_period_synthesizes_to_its_day_count() -> None:
    stack = bare_stack(stage_config("dev"))
    logical_ids: dict[int, str] = {}
    for days in LOG_RETENTION_PERIODS:
        group = logs.LogGroup(stack, f"Days{days}", retention=log_retention(days))
        assert isinstance(group.node.default_child, logs.CfnLogGroup)
        logical_ids[days] = stack.get_logical_id(group.node.default_child)
    groups = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup")
    assert {
        days: groups[logical_id]["Properties"]["RetentionInDays"]
        for days, logical_id in logical_ids.items()
    } == {days: days for days in LOG_RETENTION_PERIODS}


def test_the_table_names_every_finite_period_cdk_knows() -> None:
    """A CDK upgrade that adds a period shows here, not as a config value synth refuses."""
    finite = {member.name for member in logs.RetentionDays} - {"INFINITE"}
    assert set(LOG_RETENTION_PERIODS.values()) == finite
