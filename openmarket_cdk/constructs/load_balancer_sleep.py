"""LoadBalancerSleep: a sleeping stage's ALB is deleted at night and comes back with its nodes."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnResource, Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.function import ARCHITECTURE, RUNTIME
from openmarket_cdk.lambdas.load_balancer_sleep.index import LBC_CLUSTER_TAG
from openmarket_cdk.nag import acknowledge

HANDLER_DIR = Path(__file__).resolve().parents[1] / "lambdas" / "load_balancer_sleep"


class LoadBalancerSleep(Construct):
    """A function, run by a schedule ``sleep_after_stop_minutes`` after the nodes stop, that
    deletes the stage's ALB (~$0.04 an hour with its two public addresses).

    The ALB is the AWS Load Balancer Controller's, made from the Ingress; the controller runs
    on the nodes. When the morning schedule brings the nodes back, the controller starts,
    reconciles the Ingress, finds no ALB and creates one (new DNS name; same name, security
    group, listeners and target groups). The function deletes only when the node group is
    empty and meant to be (no controller to race), and only an ALB tagged as this cluster's.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        nodegroup_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        hours = config.observability.working_hours
        stack = Stack.of(self)
        function_name = f"{config.prefix}-load-balancer-sleep"
        self.log_group = logs.LogGroup(
            stack,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention(config.functions.log_retention_days),
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )
        role = iam.Role(
            self,
            "Role",
            description=f"{function_name}: delete the stage's ALB while its nodes sleep",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroup_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "autoscaling:DescribeAutoScalingGroups",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTags",
                ],
                # None of the three has resource-level permissions.
                resources=["*"],
            )
        )
        load_balancer_arns = stack.format_arn(
            service="elasticloadbalancing",
            resource="loadbalancer",
            resource_name=f"app/{config.load_balancer_name}/*",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:DeleteLoadBalancer"],
                resources=[load_balancer_arns],
                # Only the ALB this cluster's controller made, whatever else shares the name.
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{LBC_CLUSTER_TAG}": config.cluster_name}
                },
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Describe calls of Auto Scaling and ELB have no resource-level permissions; the "
            "one write (DeleteLoadBalancer) is scoped to the stage's ALB name and cluster tag.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{load_balancer_arns}]",
            "The ALB's id is made by the ingress controller; its name and tag are fixed.",
        )
        self.function = lambda_.Function(
            self,
            "Default",
            function_name=function_name,
            description="Deletes the stage's ALB once its nodes sleep (the controller "
            "recreates it when they return)",
            # Standard library and the runtime's boto3 only: no bundling step.
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            handler="index.handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=128,
            timeout=Duration.minutes(1),
            role=role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # A failed run leaves the ALB up for a night: the errors alarm says so; retrying
            # a refusal would not change it.
            retry_attempts=0,
        )
        invoker = iam.Role(
            self,
            "InvokerRole",
            description=f"{config.prefix}: the schedule that runs {function_name}",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            ),
        )
        function_resource = cast(CfnResource, self.function.node.default_child)
        acknowledge(
            invoker,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function_resource)}.Arn>:*]",
            "CDK's grant also covers the function's versions; it invokes this one function.",
        )
        stop_minute = hours.sleep_after_stop_minutes
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=f"{config.prefix}-load-balancer-sleep",
            description=(
                f"Weekdays {hours.stop_hour:02d}:{stop_minute:02d} {hours.time_zone}: delete "
                f"{config.load_balancer_name} once the nodes are gone"
            ),
            schedule=scheduler.ScheduleExpression.cron(
                minute=str(stop_minute),
                hour=str(hours.stop_hour),
                week_day=hours.weekdays,
                time_zone=TimeZone.of(hours.time_zone),
            ),
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=invoker,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "loadBalancerName": config.load_balancer_name,
                        "clusterName": config.cluster_name,
                        "nodegroupName": config.nodegroup_name,
                    }
                ),
                retry_attempts=2,
            ),
        )
