"""WorkingHoursSchedule: a stage's compute sleeps outside weekdays' working hours (Asia/Seoul)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from openmarket_cdk.common import weekday_schedule
from openmarket_cdk.config import STAGE_SLEEP_METRIC_NAMESPACE, AuroraCapacity, StageConfig
from openmarket_cdk.constructs.stage_sleep import StageSleep
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.stage_sleep_mark import stage_sleep_mark


class WorkingHoursSchedule(Construct):
    """EventBridge Scheduler schedules with universal targets for nodes and database (and,
    where the ALB or the NAT instance sleeps, the small function of ``StageSleep``).

    - At ``stop_hour`` on weekdays the managed node group is scaled to 0 nodes
      (``eks:UpdateNodegroupConfig``); at ``start_hour`` it is scaled back to the configured
      size.
    - A provisioned Aurora cluster (staging) is stopped at ``stop_hour`` and started at
      ``start_hour`` (``rds:StopDBCluster``/``StartDBCluster``). Aurora starts a stopped
      cluster by itself after 7 days; a weekend is 2.5. A Serverless v2 cluster at 0 ACU
      (dev) is not scheduled: auto-pause already costs nothing while idle.
    - With ``nat_instance_sleeps`` / ``load_balancer_sleeps`` (dev), ``StageSleep`` stops the
      NAT instance and deletes the ALB once the nodes are gone, and starts the NAT instance
      before they return (the ingress controller makes a new ALB when they are back).
      Nothing else in the stage needs the internet at night: the functions' events come
      from the apps, which sleep too, and dev's report runs in working hours.

    The role may update this one node group and stop/start this one cluster, nothing else.
    ``make wake STAGE=<stage>`` does the start half by hand (off-hours deploys, approvals).
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
        k8s = config.kubernetes
        self._config = config
        self.role = iam.Role(
            self,
            "Role",
            description=f"{config.prefix}: stop and start the stage's compute for working hours",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            ),
        )
        update_nodegroup = iam.PolicyStatement(
            actions=["eks:UpdateNodegroupConfig"], resources=[nodegroup_arn]
        )
        self.schedules: dict[str, scheduler.Schedule] = {}
        for action, minimum, desired, hour in (
            ("start", k8s.node_min_size, k8s.node_desired_size, hours.start_hour),
            ("stop", 0, 0, hours.stop_hour),
        ):
            self.schedules[f"nodes-{action}"] = self._schedule(
                f"{action.title()}Nodes",
                f"nodes-{action}",
                hour,
                f"node group to {desired} nodes",
                scheduler_targets.Universal(
                    service="eks",
                    action="updateNodegroupConfig",
                    role=self.role,
                    # Exactly this node group (the target's default would be Resource "*").
                    policy_statements=[update_nodegroup],
                    input=scheduler.ScheduleTargetInput.from_object(
                        {
                            "ClusterName": config.cluster_name,
                            "NodegroupName": config.nodegroup_name,
                            "ScalingConfig": {
                                "MinSize": minimum,
                                "DesiredSize": desired,
                                "MaxSize": k8s.node_max_size,
                            },
                        }
                    ),
                    retry_attempts=2,
                ),
            )
        if config.aurora.capacity is AuroraCapacity.PROVISIONED:
            cluster_arn = Stack.of(self).format_arn(
                service="rds",
                resource="cluster",
                resource_name=config.aurora_cluster_identifier,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for action, hour in (("start", hours.start_hour), ("stop", hours.stop_hour)):
                self.schedules[f"database-{action}"] = self._schedule(
                    f"{action.title()}Database",
                    f"database-{action}",
                    hour,
                    f"{action} the Aurora cluster",
                    scheduler_targets.Universal(
                        service="rds",
                        action=f"{action}DBCluster",
                        role=self.role,
                        policy_statements=[
                            iam.PolicyStatement(
                                actions=[f"rds:{action.title()}DBCluster"],
                                resources=[cluster_arn],
                            )
                        ],
                        input=scheduler.ScheduleTargetInput.from_object(
                            {"DbClusterIdentifier": config.aurora_cluster_identifier}
                        ),
                        retry_attempts=2,
                    ),
                )

        # The mark the alerting dead man's switch reads: asleep from the stop, awake from the
        # start (make wake marks it too), so a silent Prometheus at night pages nobody.
        publish_mark = iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            # PutMetricData has no resource-level permissions; the condition pins the
            # namespace.
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": STAGE_SLEEP_METRIC_NAMESPACE}},
        )
        for action, asleep, hour in (("start", 0, hours.start_hour), ("stop", 1, hours.stop_hour)):
            self.schedules[f"mark-{action}"] = self._schedule(
                f"Mark{action.title()}",
                f"mark-{action}",
                hour,
                f"mark the stage {'asleep' if asleep else 'awake'} (alerting heartbeat)",
                scheduler_targets.Universal(
                    service="cloudwatch",
                    action="putMetricData",
                    role=self.role,
                    policy_statements=[publish_mark],
                    input=scheduler.ScheduleTargetInput.from_object(
                        stage_sleep_mark(config.name, asleep=bool(asleep))
                    ),
                    retry_attempts=2,
                ),
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the condition allows "
            f"the {STAGE_SLEEP_METRIC_NAMESPACE} namespace only.",
        )

        self.stage_sleep = (
            StageSleep(self, "StageSleep", config=config, nodegroup_arn=nodegroup_arn)
            if hours.nat_instance_sleeps or hours.load_balancer_sleeps
            else None
        )

    def _schedule(
        self,
        construct_id: str,
        name: str,
        hour: int,
        what: str,
        target: scheduler.IScheduleTarget,
    ) -> scheduler.Schedule:
        return weekday_schedule(
            self,
            construct_id,
            name=f"{self._config.prefix}-{name}",
            hours=self._config.observability.working_hours,
            hour=hour,
            what=what,
            target=target,
        )
