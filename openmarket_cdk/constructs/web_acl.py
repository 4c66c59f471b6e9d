"""AlbWebAcl: the WAF web ACL in front of the apps' ALB."""

from __future__ import annotations

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# AWS managed rule groups, in priority order after the rate limit.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    # Log4Shell-style and other known-bad request patterns.
    "AWSManagedRulesKnownBadInputsRuleSet",
)


class AlbWebAcl(Construct):
    """A regional web ACL: a per-IP rate limit (requests per 5 minutes), then AWS's common,
    SQL-injection and known-bad-inputs rule groups; everything else is allowed. Each rule
    reports CloudWatch metrics ``<prefix>-<rule>`` and samples requests.

    The ingress controller attaches it to the ALB (annotation with ``arn``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name_prefix: str, rate_limit_per_5min: int
    ) -> None:
        super().__init__(scope, construct_id)

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{name_prefix}-{name}",
                sampled_requests_enabled=True,
            )

        def managed(priority: int, name: str) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=visibility(name),
            )

        rate_limit = wafv2.CfnWebACL.RuleProperty(
            name="rate-limit-per-ip",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=rate_limit_per_5min,
                    evaluation_window_sec=300,
                )
            ),
            visibility_config=visibility("rate-limit"),
        )
        # "Default": the ACL keeps the logical ID it had as the stack's direct child.
        self.acl = wafv2.CfnWebACL(
            self,
            "Default",
            name=f"{name_prefix}-alb",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("alb"),
            rules=[
                rate_limit,
                *(managed(priority, name) for priority, name in enumerate(MANAGED_RULE_GROUPS, 1)),
            ],
        )
        self.arn = self.acl.attr_arn
