"""Wakes a stage that sleeps outside working hours: `make wake STAGE=staging`.

dev and staging sleep outside weekdays' working hours (openmarket_cdk/stage_sleep). A deploy,
an approval or a test at night needs them back first: this runs the stage's own stage-sleep
function with the same ``wake`` event its morning schedule sends (NAT instance, Aurora and
its reader scaling, every node group, the Cluster Autoscaler, dev's Ingress back in the ALB
controller's class, the sleep mark) and then waits, bounded, until every node group has its
minimum of nodes. Already awake: the wake changes nothing. Not deployed yet (the first
deploy into an empty account): nothing to wake. prod never sleeps.

The next scheduled sleep puts the stage to sleep again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from openmarket_cdk.config import STAGE_NAMES, StageConfig, stage_config
from openmarket_cdk.stage_sleep.plan import stage_plan
from openmarket_cdk.stage_sleep.runtime.contract import SleepEvent
from openmarket_cdk.stage_sleep.runtime.parts import node_groups
from scripts.aws_access import OperatorError, client, require_credentials, run

# Nodes join in a few minutes; Aurora takes 5-10 to start (it is not waited for).
WAIT_POLL_S = 20
WAIT_MAX_S = 20 * 60
# The function waits for the NAT instance and the ALB; its own limit is 10 minutes.
INVOKE_TIMEOUT_S = 11 * 60


def invoke_wake(config: StageConfig, lambda_client: Any) -> list[str]:
    """Run the stage-sleep function's wake; what it did (or why there is nothing to do)."""
    event = SleepEvent("wake", stage_plan(config))
    try:
        answer = lambda_client.invoke(
            FunctionName=config.names.stage_sleep_function_name,
            Payload=json.dumps(event.to_json()).encode(),
        )
    except lambda_client.exceptions.ResourceNotFoundException:
        return [
            f"{config.names.stage_sleep_function_name} not found: {config.name} is not deployed yet"
        ]
    body = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise OperatorError(
            f"the wake failed in part: {body.get('errorMessage', body)} (the function's log: "
            f"/aws/lambda/{config.names.stage_sleep_function_name})"
        )
    return list(body.get("done", []))


def nodes_short(config: StageConfig, eks: Any, autoscaling: Any) -> list[str]:
    """Zones whose node group has fewer running nodes than its minimum."""
    plan = stage_plan(config)
    groups = node_groups(plan, eks)
    short = []
    for zone in plan.zones:
        group = groups[zone.zone]
        names = [a["name"] for a in (group.get("resources") or {}).get("autoScalingGroups", [])]
        running = 0
        if names:
            for asg in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)[
                "AutoScalingGroups"
            ]:
                running += sum(
                    1 for i in asg.get("Instances", []) if i.get("LifecycleState") == "InService"
                )
        if running < zone.min_size:
            short.append(f"{zone.zone} {running}/{zone.min_size}")
    return short


def wait_for_nodes(
    config: StageConfig, eks: Any, autoscaling: Any, sleep: Any = time.sleep
) -> None:
    waited = 0
    while short := nodes_short(config, eks, autoscaling):
        if waited >= WAIT_MAX_S:
            raise OperatorError(f"nodes still missing after {WAIT_MAX_S // 60} minutes: {short}")
        print(f"waiting for nodes: {', '.join(short)}", file=sys.stderr)
        sleep(WAIT_POLL_S)
        waited += WAIT_POLL_S


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--no-wait", action="store_true", help="wake, do not wait for nodes")
    args = parser.parse_args(argv)

    def body() -> int:
        config = stage_config(args.stage)
        if not config.sleep.enabled:
            print(f"{config.name} never sleeps: nothing to wake")
            return 0
        require_credentials()
        # One attempt: a wake is not retried behind the operator's back.
        lambda_client = client("lambda", config.region, read_timeout=INVOKE_TIMEOUT_S, attempts=1)
        done = invoke_wake(config, lambda_client)
        print("\n".join(done) if done else f"{config.name} is awake: nothing to do")
        if args.no_wait or any("not deployed yet" in line for line in done):
            return 0
        wait_for_nodes(config, client("eks", config.region), client("autoscaling", config.region))
        print(f"{config.name}'s nodes are back")
        return 0

    return run(f"make wake STAGE={args.stage}", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
