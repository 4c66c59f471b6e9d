"""After the cluster stack of a stage is deleted: delete what its controllers made in AWS.

CloudFormation deletes what it created. The AWS Load Balancer Controller and the EBS CSI
driver create resources of their own: the ALB (and its target groups, and security groups
when it manages them) from the Ingress, and an EBS volume per PersistentVolumeClaim
(Prometheus, Alertmanager). Deleting the cluster stack deletes the charts first, so the
Ingress (and with it the ALB) normally goes while the controller still runs; volumes stay
(the StatefulSets keep their claims on purpose), and anything the controller could not
finish stays too. ``make destroy`` runs this between deleting the cluster and deleting the
network, so nothing keeps billing and nothing holds the VPC's subnets.

Only resources carrying the stage cluster's own tags are touched, and only once that
cluster no longer exists (a detached volume of a live cluster is not garbage):

- load balancers and target groups tagged ``elbv2.k8s.aws/cluster=<cluster>``;
- security groups tagged ``elbv2.k8s.aws/cluster=<cluster>``;
- EBS volumes tagged ``kubernetes.io/cluster/<cluster>=owned`` (the EBS CSI add-on's
  ``k8sTagClusterId``) that no instance has attached.

``--dry-run`` lists them without deleting.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from openmarket_cdk.config import LBC_CLUSTER_TAG as LBC_CLUSTER_TAG
from openmarket_cdk.config import stage_config

# The AWS Load Balancer Controller's ownership tag, defined with the function that relies on
# it at night (re-exported for the clean-up's tests).
from scripts.aws_access import OperatorError, client, require_credentials, run

# DescribeTags takes at most 20 ARNs per call.
_TAG_BATCH = 20


def volume_cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


@dataclass
class Leftovers:
    load_balancers: list[str] = field(default_factory=list)
    target_groups: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            *(f"load balancer {arn}" for arn in self.load_balancers),
            *(f"target group {arn}" for arn in self.target_groups),
            *(f"security group {group}" for group in self.security_groups),
            *(f"EBS volume {volume}" for volume in self.volumes),
        ]


def _tagged_arns(elbv2: Any, arns: list[str], cluster_name: str) -> list[str]:
    found: list[str] = []
    for start in range(0, len(arns), _TAG_BATCH):
        batch = arns[start : start + _TAG_BATCH]
        for description in elbv2.describe_tags(ResourceArns=batch)["TagDescriptions"]:
            tags = {tag["Key"]: tag["Value"] for tag in description.get("Tags", [])}
            if tags.get(LBC_CLUSTER_TAG) == cluster_name:
                found.append(description["ResourceArn"])
    return found


def find_leftovers(cluster_name: str, ec2: Any, elbv2: Any) -> Leftovers:
    """What the cluster's controllers created and left behind, by the cluster's tags."""
    load_balancers = [
        lb["LoadBalancerArn"]
        for page in elbv2.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancers"]
    ]
    target_groups = [
        tg["TargetGroupArn"]
        for page in elbv2.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    ]
    security_groups = [
        group["GroupId"]
        for page in ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": f"tag:{LBC_CLUSTER_TAG}", "Values": [cluster_name]}]
        )
        for group in page["SecurityGroups"]
    ]
    volumes = [
        volume["VolumeId"]
        for page in ec2.get_paginator("describe_volumes").paginate(
            Filters=[
                {"Name": f"tag:{volume_cluster_tag(cluster_name)}", "Values": ["owned"]},
                {"Name": "status", "Values": ["available"]},
            ]
        )
        for volume in page["Volumes"]
    ]
    return Leftovers(
        load_balancers=_tagged_arns(elbv2, load_balancers, cluster_name),
        target_groups=_tagged_arns(elbv2, target_groups, cluster_name),
        security_groups=security_groups,
        volumes=volumes,
    )


def delete_leftovers(
    leftovers: Leftovers, ec2: Any, elbv2: Any, *, attempts: int = 12, pause_s: float = 10.0
) -> list[str]:
    """Delete in dependency order (load balancers, then their target groups and security
    groups); returns what could not be deleted, with the reason."""
    failures: list[str] = []
    for arn in leftovers.load_balancers:
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    if leftovers.load_balancers:
        elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=leftovers.load_balancers)
    for arn in leftovers.target_groups:
        elbv2.delete_target_group(TargetGroupArn=arn)
    for volume in leftovers.volumes:
        ec2.delete_volume(VolumeId=volume)
    # A deleted ALB's network interfaces linger for a minute or two: the group stays "in
    # use" (DependencyViolation) until they are gone.
    for group in leftovers.security_groups:
        for attempt in range(attempts):
            try:
                ec2.delete_security_group(GroupId=group)
                break
            except ec2.exceptions.ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code != "DependencyViolation" or attempt == attempts - 1:
                    failures.append(f"security group {group}: {error}")
                    break
                time.sleep(pause_s)
    return failures


def cluster_exists(eks: Any, cluster_name: str) -> bool:
    try:
        eks.describe_cluster(name=cluster_name)
    except eks.exceptions.ResourceNotFoundException:
        return False
    return True


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--dry-run"]
    if len(args) != 1:
        print("usage: destroy_leftovers.py STAGE [--dry-run]", file=sys.stderr)
        return 2

    def body() -> int:
        config = stage_config(args[0])
        name = config.names.cluster_name
        require_credentials()
        if cluster_exists(client("eks", config.region), name):
            raise OperatorError(
                f"cluster {name} still exists; delete its stack first "
                f"(make destroy STAGE={config.name} does both, in order)"
            )
        ec2, elbv2 = client("ec2", config.region), client("elbv2", config.region)
        leftovers = find_leftovers(name, ec2, elbv2)
        for line in leftovers.lines():
            print(f"{'would delete' if '--dry-run' in argv else 'deleting'} {line}")
        if not leftovers.lines():
            print(f"destroy_leftovers: nothing of cluster {name} is left.")
        if "--dry-run" in argv:
            return 0
        failures = delete_leftovers(leftovers, ec2, elbv2)
        for failure in failures:
            print(f"destroy_leftovers: could not delete {failure}", file=sys.stderr)
        return 1 if failures else 0

    return run(f"make destroy STAGE={args[0]} (leftovers)", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
