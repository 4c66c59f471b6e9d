"""Wakes a stage that sleeps outside working hours: `make wake STAGE=staging`.

dev and staging scale their node group to 0 (staging stops its Aurora cluster, dev its NAT
instance and its ALB) outside weekdays' working hours
(openmarket_cdk/constructs/working_hours.py). A deploy, an approval or a test at night needs
them back first: this starts the NAT instance and the Aurora cluster if they are stopped,
scales the node group back to the configured size if it is below it, and waits (bounded)
until they are available. The ingress controller, back with the nodes, recreates a deleted
ALB by itself within minutes (`make smoke` waits for it). Already awake: it says so and
changes nothing. prod never sleeps.

The next scheduled stop puts the stage to sleep again.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from openmarket_cdk.config import (
    SLEEPS_TAG,
    STAGE_NAMES,
    AuroraCapacity,
    StageConfig,
    stage_config,
)
from openmarket_cdk.lambdas.stage_sleep.index import (
    InstanceTag,
    StillStoppingError,
    start_nat_instances,
)
from openmarket_cdk.stage_sleep_mark import stage_sleep_mark
from scripts.aws_access import OperatorError, client, require_credentials, run

# Aurora takes 5-10 minutes to start, a node group a few minutes to add nodes.
WAIT_DELAY_S = 30
WAIT_MAX_ATTEMPTS = 40  # 20 minutes


def wake(
    config: StageConfig,
    rds: Any,
    eks: Any,
    wait: bool = True,
    ec2: Any | None = None,
    cloudwatch: Any | None = None,
) -> list[str]:
    """Start what sleeps; return what was done (empty: it was awake). ``ec2`` is needed for
    a stage whose NAT instance sleeps (dev). With ``cloudwatch``, a stage that was woken is
    marked awake, which arms its alerting dead man's switch again (after its grace time)."""
    if not config.observability.working_hours.enabled:
        return []
    done: list[str] = []
    if config.observability.working_hours.nat_instance_sleeps:
        # First: the nodes pull their images through it as they boot.
        if ec2 is None:
            raise ValueError(f"{config.name}'s NAT instance sleeps: wake needs an EC2 client")
        done += _start_nat_instances(config, ec2, wait)
    cluster_id = config.aurora_cluster_identifier
    waiting_for_database = waiting_for_nodes = False
    if config.aurora.capacity is AuroraCapacity.PROVISIONED:
        try:
            (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
        except rds.exceptions.DBClusterNotFoundFault:
            # The first deploy into an empty account: nothing sleeps yet.
            done.append(f"Aurora cluster {cluster_id} not found: not deployed yet")
            cluster = {"Status": "absent"}
        if cluster["Status"] == "stopped":
            rds.start_db_cluster(DBClusterIdentifier=cluster_id)
            done.append(f"started Aurora cluster {cluster_id}")
            waiting_for_database = True
        elif cluster["Status"] == "stopping":
            raise OperatorError(
                f"Aurora cluster {cluster_id} is stopping: run make wake again in a few minutes"
            )
    k8s = config.kubernetes
    nodegroup: dict[str, Any] | None = None
    try:
        # The cluster first: its ARN is exact, so the deploy role's grant answers "not found"
        # before a first deploy (a node group's ARN ends in an id that does not exist yet).
        eks.describe_cluster(name=config.cluster_name)
        nodegroup = eks.describe_nodegroup(
            clusterName=config.cluster_name, nodegroupName=config.nodegroup_name
        )["nodegroup"]
    except eks.exceptions.ResourceNotFoundException:
        done.append(f"node group {config.nodegroup_name} not found: not deployed yet")
    if nodegroup is not None and nodegroup["scalingConfig"]["desiredSize"] < k8s.node_desired_size:
        eks.update_nodegroup_config(
            clusterName=config.cluster_name,
            nodegroupName=config.nodegroup_name,
            scalingConfig={
                "minSize": k8s.node_min_size,
                "desiredSize": k8s.node_desired_size,
                "maxSize": k8s.node_max_size,
            },
        )
        done.append(f"scaled node group {config.nodegroup_name} to {k8s.node_desired_size}")
        waiting_for_nodes = True
    if waiting_for_nodes and cloudwatch is not None:
        cloudwatch.put_metric_data(**stage_sleep_mark(config.name, asleep=False))
        done.append(
            "marked the stage awake: the alerting heartbeat counts again in "
            f"{config.observability.heartbeat_wake_grace_minutes} minutes"
        )
    if wait:
        waiter_config = {"Delay": WAIT_DELAY_S, "MaxAttempts": WAIT_MAX_ATTEMPTS}
        if waiting_for_database:
            rds.get_waiter("db_cluster_available").wait(
                DBClusterIdentifier=cluster_id, WaiterConfig=waiter_config
            )
        if waiting_for_nodes:
            eks.get_waiter("nodegroup_active").wait(
                clusterName=config.cluster_name,
                nodegroupName=config.nodegroup_name,
                WaiterConfig=waiter_config,
            )
    return done


def _start_nat_instances(config: StageConfig, ec2: Any, wait: bool) -> list[str]:
    """What the stage-sleep function does at 08:50, now, and wait for it to run."""
    try:
        started = start_nat_instances(InstanceTag(SLEEPS_TAG, config.name), ec2)
    except StillStoppingError:
        raise OperatorError(
            f"{config.name}'s NAT instance is stopping: run make wake again in a minute"
        ) from None
    ids = started["resources"]
    if not ids:
        return []
    if wait:
        ec2.get_waiter("instance_running").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 10, "MaxAttempts": 30}
        )
    return [f"started NAT instance {', '.join(ids)}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--no-wait", action="store_true", help="start, do not wait")
    args = parser.parse_args(argv)

    def body() -> int:
        config = stage_config(args.stage)
        if not config.observability.working_hours.enabled:
            print(f"{config.name} never sleeps: nothing to wake")
            return 0
        require_credentials()
        rds, eks, ec2, cloudwatch = (
            client(service, config.region) for service in ("rds", "eks", "ec2", "cloudwatch")
        )
        done = wake(config, rds, eks, wait=not args.no_wait, ec2=ec2, cloudwatch=cloudwatch)
        print("\n".join(done) if done else f"{config.name} is awake: nothing to do")
        return 0

    return run(f"make wake STAGE={args.stage}", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
