"""WorkingHoursSchedule: dev's node group sleeps outside weekdays 09:00-18:00 Asia/Seoul."""

from __future__ import annotations

from aws_cdk import TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from openmarket_cdk.config import StageConfig


class WorkingHoursSchedule(Construct):
    """Two EventBridge Scheduler schedules with universal targets, no Lambda.

    At ``stop_hour`` on weekdays the managed node group is scaled to 0 nodes
    (``eks:UpdateNodegroupConfig``); at ``start_hour`` it is scaled back to the configured
    size. Aurora is not scheduled: dev runs Serverless v2 with auto-pause, which already costs
    nothing while idle. The role may update this one node group and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster_name: str,
        nodegroup_name: str,
        nodegroup_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        hours = config.observability.working_hours
        k8s = config.kubernetes
        role = iam.Role(
            self,
            "Role",
            description=f"{config.prefix}: scale the app node group for working hours",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": config.account}},
            ),
        )
        update_nodegroup = iam.PolicyStatement(
            actions=["eks:UpdateNodegroupConfig"], resources=[nodegroup_arn]
        )
        sizes = {
            "start": (k8s.node_min_size, k8s.node_desired_size, hours.start_hour),
            "stop": (0, 0, hours.stop_hour),
        }
        self.schedules: dict[str, scheduler.Schedule] = {}
        for action, (minimum, desired, hour) in sizes.items():
            self.schedules[action] = scheduler.Schedule(
                self,
                f"{action.title()}Nodes",
                schedule_name=f"{config.prefix}-nodes-{action}",
                description=f"Weekdays {hour:02d}:00 {hours.time_zone}: node group to "
                f"{desired} nodes",
                schedule=scheduler.ScheduleExpression.cron(
                    minute="0",
                    hour=str(hour),
                    week_day=hours.weekdays,
                    time_zone=TimeZone.of(hours.time_zone),
                ),
                target=scheduler_targets.Universal(
                    service="eks",
                    action="updateNodegroupConfig",
                    role=role,
                    # Exactly this node group (the target's default would be Resource "*").
                    policy_statements=[update_nodegroup],
                    input=scheduler.ScheduleTargetInput.from_object(
                        {
                            "ClusterName": cluster_name,
                            "NodegroupName": nodegroup_name,
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
