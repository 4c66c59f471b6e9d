"""cdk-nag 3 acknowledgements: one rule (or one finding) on one construct, with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# Where CDK records acknowledgements on each construct node (Validations.ACKNOWLEDGED_RULES...).
ACKNOWLEDGED_RULES_METADATA_KEY = "aws:cdk:acknowledged-rules"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge ``rule_id`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope``.

    Every call is counted by the test suite, so a new acknowledgement shows in review.
    """
    if len(reason) < 20:
        raise ValueError(f"acknowledgement of {rule_id} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
