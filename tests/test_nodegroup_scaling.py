"""Custom::NodegroupScaling: the bounds come from the template, the size stays the
autoscaler's (emulated EKS)."""

from __future__ import annotations

import boto3
import pytest

from openmarket_cdk.lambdas.nodegroup_scaling.index import apply, desired_size

REGION = "ap-northeast-2"
ROLE = "arn:aws:iam::123456789012:role/x"


@pytest.mark.parametrize(
    ("request_type", "current", "bounds", "desired"),
    [
        ("Create", 2, (1, 3), 1),  # a new group starts at its minimum
        ("Update", 3, (1, 3), 3),  # the autoscaler's count survives a template change
        ("Update", 1, (2, 3), 2),  # a raised minimum lifts it
        ("Update", 5, (1, 3), 3),  # a lowered maximum caps it
    ],
)
def test_desired_size(
    request_type: str, current: int, bounds: tuple[int, int], desired: int
) -> None:
    assert desired_size(request_type, current, *bounds) == desired


def test_an_update_keeps_the_count_and_moves_the_bounds(emulated_aws: None) -> None:
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name="c", roleArn=ROLE, resourcesVpcConfig={"subnetIds": []})
    eks.create_nodegroup(
        clusterName="c",
        nodegroupName="g",
        nodeRole=ROLE,
        subnets=["s"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 3},
    )
    result = apply(
        "Update", {"ClusterName": "c", "NodegroupName": "g", "MinSize": 2, "MaxSize": 4}, eks
    )
    assert result == {"minSize": 2, "maxSize": 4, "desiredSize": 3}
    scaling = eks.describe_nodegroup(clusterName="c", nodegroupName="g")["nodegroup"]
    assert scaling["scalingConfig"] == {"minSize": 2, "maxSize": 4, "desiredSize": 3}


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="are not 0 <= min <= max >= 1"):
        apply(
            "Create", {"ClusterName": "c", "NodegroupName": "g", "MinSize": 3, "MaxSize": 2}, None
        )


def test_a_group_being_updated_is_waited_for() -> None:
    class Eks:
        def __init__(self) -> None:
            self.statuses = ["UPDATING", "UPDATING", "ACTIVE"]
            self.updates: list[dict[str, int]] = []

        def describe_nodegroup(self, **_: str) -> dict[str, object]:
            status = self.statuses.pop(0)
            return {
                "nodegroup": {
                    "status": status,
                    "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2},
                }
            }

        def update_nodegroup_config(self, **kwargs: object) -> None:
            self.updates.append(kwargs["scalingConfig"])  # type: ignore[arg-type]

    eks = Eks()
    waits: list[float] = []
    apply(
        "Update",
        {"ClusterName": "c", "NodegroupName": "g", "MinSize": 1, "MaxSize": 4},
        eks,
        sleep=waits.append,
    )
    assert len(waits) == 2 and eks.updates == [{"minSize": 1, "maxSize": 4, "desiredSize": 2}]
