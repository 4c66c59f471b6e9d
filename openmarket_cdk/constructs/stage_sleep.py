"""StageSleep: what still bills while a stage's nodes sleep (its ALB, its NAT instance) sleeps
too, only once the nodes are gone, and wakes before they return."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from openmarket_cdk.common import log_retention, retain_or_destroy, weekday_schedule
from openmarket_cdk.config import SLEEPS_TAG, StageConfig
from openmarket_cdk.constructs.function import ARCHITECTURE, RUNTIME
from openmarket_cdk.lambdas.stage_sleep.index import LBC_CLUSTER_TAG
from openmarket_cdk.nag import acknowledge

HANDLER_DIR = Path(__file__).resolve().parents[1] / "lambdas" / "stage_sleep"


class StageSleep(Construct):
    """One function, run by two schedules (openmarket_cdk/lambdas/stage_sleep):

    - ``sleep_after_stop_minutes`` after the nodes stop: when the node group is empty and
      meant to be (nothing running that needs egress, no ingress controller to race), stop
      the NAT instance (``load_balancer_sleeps``: and delete the ALB, ~$0.04 an hour with its
      two public addresses). Someone woke the stage: it skips, and the night costs a little.
    - ``nat_wake_before_start_minutes`` before the nodes start: start the NAT instance, which
      booting nodes pull their images through.

    The ALB is the AWS Load Balancer Controller's, made from the Ingress; the controller runs
    on the nodes. When the morning schedule brings them back, it starts, reconciles the
    Ingress, finds no ALB and creates one (new DNS name; same name, security group, listeners
    and target groups). The function deletes only an ALB tagged as this cluster's, and
    stops/starts only instances tagged ``openmarket:sleeps=<stage>``, by tag: no instance id
    crosses stacks.
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
        function_name = f"{config.prefix}-stage-sleep"
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
            description=f"{function_name}: the stage's ALB and NAT instance sleep with its nodes",
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
                    "ec2:DescribeInstances",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTags",
                ],
                # None of these has resource-level permissions.
                resources=["*"],
            )
        )
        if hours.nat_instance_sleeps:
            self._allow_nat_instances(role, config)
        if hours.load_balancer_sleeps:
            self._allow_load_balancer(role, config)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Describe calls of Auto Scaling, EC2 and ELB have no resource-level permissions; "
            "the writes are scoped to the stage's tagged instances and its ALB's name and tag.",
        )
        self.function = lambda_.Function(
            self,
            "Default",
            function_name=function_name,
            description="The stage's ALB and NAT instance sleep once its nodes are gone; the "
            "NAT instance wakes before they return",
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
            # A failed night leaves the ALB or NAT up: the errors alarm says so. A failed
            # morning is retried (a NAT instance still stopping, a throttled call).
            retry_attempts=2,
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
        tag = {"key": SLEEPS_TAG, "value": config.name}
        sleep_input: dict[str, object] = {
            "action": "sleep",
            "clusterName": config.cluster_name,
            "nodegroupName": config.nodegroup_name,
        }
        if hours.load_balancer_sleeps:
            sleep_input["loadBalancerName"] = config.load_balancer_name
        if hours.nat_instance_sleeps:
            sleep_input["natInstanceTag"] = tag
        self.schedules = {
            "sleep": self._schedule(
                "Schedule",
                f"{config.prefix}-stage-sleep",
                hours.stop_hour,
                hours.sleep_after_stop_minutes,
                "put the ALB and the NAT instance to sleep once the nodes are gone",
                sleep_input,
                invoker,
                config,
            )
        }
        if hours.nat_instance_sleeps:
            self.schedules["wake"] = self._schedule(
                "WakeSchedule",
                f"{config.prefix}-stage-wake",
                hours.start_hour - 1,
                60 - hours.nat_wake_before_start_minutes,
                "start the NAT instance before the nodes boot",
                {"action": "wake", "natInstanceTag": tag},
                invoker,
                config,
            )

    def _schedule(
        self,
        construct_id: str,
        name: str,
        hour: int,
        minute: int,
        what: str,
        event: dict[str, object],
        invoker: iam.IRole,
        config: StageConfig,
    ) -> scheduler.Schedule:
        return weekday_schedule(
            self,
            construct_id,
            name=name,
            hours=config.observability.working_hours,
            hour=hour,
            minute=minute,
            what=what,
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=invoker,
                input=scheduler.ScheduleTargetInput.from_object(event),
                retry_attempts=2,
            ),
        )

    def _allow_nat_instances(self, role: iam.Role, config: StageConfig) -> None:
        instances = Stack.of(self).format_arn(service="ec2", resource="instance", resource_name="*")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:StartInstances", "ec2:StopInstances"],
                resources=[instances],
                # Instance ids are made at deploy time: the stage's sleep tag says which.
                conditions={"StringEquals": {f"aws:ResourceTag/{SLEEPS_TAG}": config.name}},
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{instances}]",
            f"Start/stop only instances tagged {SLEEPS_TAG}={config.name} (the NAT instance).",
        )

    def _allow_load_balancer(self, role: iam.Role, config: StageConfig) -> None:
        load_balancer_arns = Stack.of(self).format_arn(
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
            f"AwsSolutions-IAM5[Resource::{load_balancer_arns}]",
            "The ALB's id is made by the ingress controller; its name and tag are fixed.",
        )
