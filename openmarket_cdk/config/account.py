"""What exists once per AWS account, outside every stage (the ``openmarket-audit`` stack)."""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config.facts import GITHUB_DEPLOY_ROLE_NAME, REGION


@dataclass(frozen=True)
class AccountConfig:
    """What exists once per AWS account, outside every stage: the audit trail and its alarms.

    Stages may share an account, so none of them owns these; ``openmarket-audit`` does.
    """

    account: str
    region: str = REGION
    trail_name: str = "openmarket-audit"
    # CloudTrail log files (and digests) can be neither deleted nor overwritten for this
    # many days (S3 Object Lock, compliance mode), and expire when the lock ends.
    trail_retention_days: int = 365
    # Then Glacier Flexible Retrieval: audit logs are read rarely, and a restore is fine.
    trail_glacier_after_days: int = 90
    # The trail's CloudWatch Logs copy, which the CIS metric filters read: one year.
    trail_log_group_retention_days: int = 365
    # Server access logs of the trail bucket (CIS: access logging on the CloudTrail bucket).
    access_logs_expire_after_days: int = 365
    # Where the CIS alarms (root use, unauthorized calls, console sign-in without MFA, ...)
    # are sent.
    alarm_email: str = "security-alerts@openmarket.example"
    # The roles the platform's own automation acts as (IAM role names, * as wildcard): their
    # security-group, network-ACL and IAM-policy changes are routine (a deploy, `make smoke`)
    # and do not page; a person's or an unknown principal's still do. The CDK bootstrap's
    # CloudFormation execution role makes every stack change; the GitHub deploy role opens
    # dev's ALB to the smoke test.
    routine_role_names: tuple[str, ...] = (
        "cdk-*-cfn-exec-role-*",
        GITHUB_DEPLOY_ROLE_NAME,
    )

    @property
    def audit_stack_name(self) -> str:
        return "openmarket-audit"

    @property
    def trail_bucket_name(self) -> str:
        return f"openmarket-audit-trail-{self.account}"

    @property
    def access_logs_bucket_name(self) -> str:
        return f"openmarket-audit-access-logs-{self.account}"

    @property
    def trail_log_group_name(self) -> str:
        return f"/aws/cloudtrail/{self.trail_name}"

    @property
    def trail_arn(self) -> str:
        """Known before deploy, so the key and bucket policies can name the trail exactly."""
        return f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{self.trail_name}"
