"""StageSleep: the stage-sleep functions, their roles, schedules and Kubernetes access."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct, IConstruct

from openmarket_cdk.common import log_retention, retain_or_destroy, weekday_schedule
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.function import ARCHITECTURE, RUNTIME
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime.contract import (
    ASLEEP_INGRESS_CLASS,
    SLEEP_METRIC_NAMESPACE,
    Action,
    SleepEvent,
)

PACKAGE_DIR = Path(__file__).resolve().parent
# The Kubernetes group of the cluster function's access entry: RBAC binds it to two objects.
KUBERNETES_GROUP = "openmarket-stage-sleep"
# The cluster function's Kubernetes objects (RBAC, the asleep IngressClass).
RBAC_NAME = "openmarket-stage-sleep"
ASLEEP_CLASS_CONTROLLER = "openmarket.io/asleep"


def _code() -> lambda_.Code:
    """The package's ``runtime`` folder, nothing else (standard library and boto3 only)."""
    return lambda_.Code.from_asset(
        str(PACKAGE_DIR),
        # Paths are matched from the asset root: every .py but the runtime's stays out (the
        # package's config, plan and this construct, which imports CDK).
        exclude=["*.py", "!runtime/*.py", "__pycache__", "*.pyc"],
    )


class StageSleep(Construct):
    """A stage that sleeps outside working hours, in one part (openmarket_cdk/stage_sleep):

    - ``<prefix>-stage-sleep``, the orchestrator, outside the VPC (dev's NAT instance sleeps
      too); three weekday schedules run it (sleep, finish-sleep, wake), ``make wake`` too;
    - ``<prefix>-stage-sleep-cluster``, inside the VPC, the only one that talks to the
      Kubernetes API: an access entry whose Kubernetes group RBAC binds to the autoscaler's
      scale and (where the ALB sleeps) the Ingress;
    - the Kubernetes objects: the RBAC and the IngressClass no controller watches.

    Every write is limited to this stage's resources; the Describe calls AWS does not scope
    are read-only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.Cluster,
        vpc: ec2.IVpc,
        autoscaler: tuple[str, str],
        ingress: tuple[str, str],
        after: Sequence[IConstruct],
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stack = Stack.of(self)
        plan = stage_plan(config)
        self.plan = plan
        self.cluster_function = self._cluster_function(cluster, vpc, autoscaler, ingress, after)
        scheduler_role_name = f"{config.names.prefix}-stage-sleep-scheduler"
        scheduler_role_arn = self._stack.format_arn(
            service="iam", region="", resource="role", resource_name=scheduler_role_name
        )
        self.function = self._orchestrator(scheduler_role_arn)
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            role_name=scheduler_role_name,
            description=f"{config.names.prefix}: the schedules that run the stage-sleep function",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            ),
        )
        self.function.grant_invoke(self.scheduler_role)
        acknowledge(
            self.scheduler_role,
            f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.function)}.Arn>:*]",
            "CDK's grant also covers the function's versions; it invokes this one function.",
        )
        self._grant_orchestrator(scheduler_role_arn)
        sleep = config.sleep
        self.schedules: dict[str, scheduler.Schedule] = {
            "sleep": self._schedule("sleep", sleep.stop_hour, 0, "put the stage to sleep"),
        }
        if sleep.nat_instance_sleeps:
            self.schedules["finish-sleep"] = self._schedule(
                "finish-sleep",
                sleep.stop_hour,
                sleep.finish_after_stop_minutes,
                "stop the NAT instance once the nodes are gone",
            )
        hour, minute = sleep.wake_hour_minute
        self.schedules["wake"] = self._schedule("wake", hour, minute, "wake the stage")

    # --- the cluster function ----------------------------------------------------------
    def _cluster_function(
        self,
        cluster: eks.Cluster,
        vpc: ec2.IVpc,
        autoscaler: tuple[str, str],
        ingress: tuple[str, str],
        after: Sequence[IConstruct],
    ) -> lambda_.Function:
        config = self._config
        name = config.names.stage_sleep_cluster_function_name
        security_group = ec2.SecurityGroup(
            self,
            "ClusterFunctionSecurityGroup",
            vpc=vpc,
            description=f"{name}: no inbound; 443 to the cluster API endpoint only",
            allow_all_outbound=False,
        )
        security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "The cluster's API endpoint"
        )
        cluster.connections.allow_default_port_from(security_group, f"{name} to the API")
        ingress_sleeps = config.sleep.load_balancer_sleeps
        function = self._function(
            "ClusterFunction",
            name,
            description="Stage sleep's two Kubernetes changes: the autoscaler's replicas and "
            "the Ingress's class",
            handler="runtime.cluster.handler",
            memory_size=128,
            timeout=Duration.minutes(1),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[security_group],
            environment={
                "CLUSTER_NAME": config.names.cluster_name,
                "CLUSTER_ENDPOINT": cluster.cluster_endpoint,
                "CLUSTER_CA": cluster.cluster_certificate_authority_data,
                "AUTOSCALER_NAMESPACE": autoscaler[0],
                "AUTOSCALER_DEPLOYMENT": autoscaler[1],
                "INGRESS_NAMESPACE": ingress[0] if ingress_sleeps else "",
                "INGRESS_NAME": ingress[1] if ingress_sleeps else "",
            },
            # Invoked synchronously by the orchestrator, which reports a failure itself.
            retry_attempts=0,
        )
        role = function.role
        assert role is not None
        entry = eks.CfnAccessEntry(
            self,
            "ClusterFunctionAccess",
            cluster_name=config.names.cluster_name,
            principal_arn=role.role_arn,
            type="STANDARD",
            kubernetes_groups=[KUBERNETES_GROUP],
        )
        entry.node.add_dependency(cluster)
        manifest = cluster.add_manifest(
            "StageSleepKubernetesAccess", *self._kubernetes_objects(autoscaler, ingress)
        )
        for construct in after:
            manifest.node.add_dependency(construct)
        # The function (not its role, which the access entry names) after its access exists.
        resource = function.node.default_child
        assert resource is not None
        resource.node.add_dependency(entry, manifest)
        return function

    def _kubernetes_objects(
        self, autoscaler: tuple[str, str], ingress: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """RBAC for the access entry's group: the autoscaler's scale, and where the ALB sleeps
        the one Ingress; and the IngressClass the Ingress sleeps in."""
        objects = _role(
            autoscaler[0],
            [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "deployments/scale"],
                    "resourceNames": [autoscaler[1]],
                    "verbs": ["get", "patch"],
                }
            ],
        )
        if self._config.sleep.load_balancer_sleeps:
            objects += _role(
                ingress[0],
                [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "resources": ["ingresses"],
                        "resourceNames": [ingress[1]],
                        "verbs": ["get", "patch"],
                    }
                ],
            )
            objects.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "IngressClass",
                    "metadata": {"name": ASLEEP_INGRESS_CLASS},
                    # No controller watches it: an Ingress here has no load balancer.
                    "spec": {"controller": ASLEEP_CLASS_CONTROLLER},
                }
            )
        return objects

    # --- the orchestrator ---------------------------------------------------------------
    def _orchestrator(self, scheduler_role_arn: str) -> lambda_.Function:
        config = self._config
        name = config.names.stage_sleep_function_name
        return self._function(
            "Function",
            name,
            description="The stage sleeps outside working hours and wakes before them "
            "(openmarket_cdk/stage_sleep)",
            handler="runtime.orchestrator.handler",
            memory_size=256,
            # Waits for the ALB controller to delete the ALB and for the NAT instance to run.
            timeout=Duration.minutes(10),
            environment={"SCHEDULER_ROLE_ARN": scheduler_role_arn},
            # A failed part raises after the others ran: once more, then the errors alarm.
            retry_attempts=1,
        )

    def _grant_orchestrator(self, scheduler_role_arn: str) -> None:
        config = self._config
        plan = self.plan
        stack = self._stack
        role = self.function.role
        assert role is not None

        def allow(actions: list[str], resources: list[str], **conditions: Any) -> None:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=actions, resources=resources, conditions=conditions or None
                )
            )

        # Read-only calls AWS does not scope to a resource.
        reads = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"]
        if plan.load_balancer_name:
            reads.append("elasticloadbalancing:DescribeLoadBalancers")
        allow(reads, ["*"])
        allow(
            ["cloudwatch:PutMetricData"],
            ["*"],
            StringEquals={"cloudwatch:namespace": SLEEP_METRIC_NAMESPACE},
        )
        stacks = [
            stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{s}/*")
            for s in plan.stacks
        ]
        allow(["cloudformation:DescribeStacks"], stacks)
        allow(["lambda:InvokeFunction"], [self.cluster_function.function_arn])
        cluster_arn = stack.format_arn(
            service="eks", resource="cluster", resource_name=config.names.cluster_name
        )
        nodegroups = stack.format_arn(
            service="eks", resource="nodegroup", resource_name=f"{config.names.cluster_name}/*/*"
        )
        allow(["eks:ListNodegroups"], [cluster_arn])
        allow(["eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"], [nodegroups])
        schedules = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"default/{plan.stage}-*"
        )
        allow(["scheduler:CreateSchedule"], [schedules])
        allow(["iam:PassRole"], [scheduler_role_arn])
        wildcards = [schedules, nodegroups, *stacks]
        if plan.nat_tag is not None:
            instances = stack.format_arn(service="ec2", resource="instance", resource_name="*")
            allow(
                ["ec2:StartInstances", "ec2:StopInstances"],
                [instances],
                StringEquals={f"aws:ResourceTag/{plan.nat_tag[0]}": plan.nat_tag[1]},
            )
            wildcards.append(instances)
        if plan.database_cluster is not None:
            allow(
                ["rds:DescribeDBClusters", "rds:StartDBCluster", "rds:StopDBCluster"],
                [
                    stack.format_arn(
                        service="rds",
                        resource="cluster",
                        resource_name=plan.database_cluster,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        if plan.reader_scaling_resource is not None:
            # Suspends and resumes the reader target; App Auto Scaling scopes no resource.
            allow(["application-autoscaling:RegisterScalableTarget"], ["*"])
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Describe calls of Auto Scaling, EC2 and ELB, PutMetricData (its namespace only) and "
            "RegisterScalableTarget have no resource-level permissions.",
        )
        for resource in wildcards:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{resource}]",
                "Ids and names made at deploy time (stack ids, node groups, one-time schedules, "
                "the NAT instance by tag): the stage's own, by name prefix, tag or cluster.",
            )

    # --- helpers ------------------------------------------------------------------------
    def _schedule(self, action: Action, hour: int, minute: int, what: str) -> scheduler.Schedule:
        config = self._config
        event = SleepEvent(action, self.plan)
        return weekday_schedule(
            self,
            "".join(part.title() for part in action.split("-")) + "Schedule",
            name=f"{config.names.prefix}-{action}",
            hours=config.sleep,
            hour=hour,
            minute=minute,
            what=what,
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=self.scheduler_role,
                input=scheduler.ScheduleTargetInput.from_text(json.dumps(event.to_json())),
                retry_attempts=2,
            ),
        )

    def _function(self, construct_id: str, name: str, **settings: Any) -> lambda_.Function:
        """One of stage sleep's functions: its runtime/ code, the functions' runtime and
        architecture, JSON logs into its own log group, Lambda's managed policies
        acknowledged (the VPC one when it runs in the VPC)."""
        function = lambda_.Function(
            self,
            construct_id,
            function_name=name,
            code=_code(),
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            log_group=self._log_group(f"{construct_id}Logs", name),
            logging_format=lambda_.LoggingFormat.JSON,
            **settings,
        )
        role = function.role
        assert role is not None
        if "vpc" in settings:
            acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "Lambda's own policy for the network interfaces of a function in a VPC.",
            )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Lambda's own policy for writing the function's logs.",
        )
        return function

    def _log_group(self, construct_id: str, function_name: str) -> logs.LogGroup:
        config = self._config
        return logs.LogGroup(
            self._stack,
            f"StageSleep{construct_id}",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention(config.functions.log_retention_days),
            removal_policy=retain_or_destroy(config.retain_on_delete),
        )

    def _logical_id(self, function: lambda_.Function) -> str:
        resource = function.node.default_child
        assert resource is not None
        return self._stack.get_logical_id(resource)  # type: ignore[arg-type]


def _role(namespace: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    metadata = {"name": RBAC_NAME, "namespace": namespace}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_NAME},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": KUBERNETES_GROUP}
            ],
        },
    ]
