"""MonthlyBudget: the stage's AWS Budgets cost budget."""

from __future__ import annotations

from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_sns as sns
from constructs import Construct

from openmarket_cdk.config import STAGE_TAG, StageConfig


class MonthlyBudget(Construct):
    """``<prefix>-monthly``: the month's cost of the stage's resources against
    ``observability.budget_usd_per_month``, notifying ``topic`` at 80% and 100% of actual
    spend. The budget is the ``Default`` child: with the construct id ``MonthlyBudget`` it
    keeps the logical ID it had as the stack's own child."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        self.budget = budgets.CfnBudget(
            self,
            "Default",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{config.names.prefix}-monthly",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=config.observability.budget_usd_per_month, unit="USD"
                ),
                # Costs of resources tagged Stage=<stage> (activate the cost allocation tag).
                filter_expression=budgets.CfnBudget.ExpressionProperty(
                    tags=budgets.CfnBudget.TagValuesProperty(
                        key=STAGE_TAG, values=[config.name], match_options=["EQUALS"]
                    )
                ),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        comparison_operator="GREATER_THAN",
                        notification_type="ACTUAL",
                        threshold=percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=[
                        budgets.CfnBudget.SubscriberProperty(
                            address=topic.topic_arn, subscription_type="SNS"
                        )
                    ],
                )
                for percent in (80, 100)
            ],
        )
