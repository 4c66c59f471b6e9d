"""tools/assembly.py, the one cloud-assembly reader of make cost and make diagram.

Small hand-written assemblies pin each rule (loading, references, manifests); the session's
real synth checks that the CDK still writes what the reader expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openmarket_cdk.config import STAGE_NAMES
from tests.conftest import Synthesized
from tests.tools.helpers import write_cdk_out
from tools.assembly import (
    KUBERNETES_RESOURCE_TYPE,
    AssemblyError,
    StackTemplate,
    StageAssembly,
    as_number,
    flatten,
    load_stage,
    manifest_objects,
    stage_names,
)


def res(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"Resources": resources, **sections}


NETWORK = StackTemplate(
    "prod/Network",
    template(
        {
            "Vpc": res("AWS::EC2::VPC"),
            "Subnet": res("AWS::EC2::Subnet", VpcId={"Ref": "Vpc"}),
            "Sg": res("AWS::EC2::SecurityGroup"),
        },
        Description="the network",
        Outputs={
            "PublishVpc": {"Value": {"Ref": "Vpc"}},
            "ExportedSubnet": {
                "Value": {"Ref": "Subnet"},
                "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-subnet"}},
            },
            "ExportedSg": {"Value": {"Fn::GetAtt": ["Sg", "GroupId"]}, "Export": {"Name": "sg"}},
            # Outputs that point at each other must not loop the resolver.
            "Loop": {"Value": {"Fn::ImportValue": "loop"}, "Export": {"Name": "loop"}},
        },
    ),
    stack_name="openmarket-prod-network",
)
DATA = StackTemplate(
    "prod/Data",
    template(
        {
            "Cluster": res(
                "AWS::RDS::DBCluster",
                VpcId={
                    "Fn::GetStackOutput": {
                        "StackName": "openmarket-prod-network",
                        "OutputName": "PublishVpc",
                    }
                },
                SubnetIds=[{"Fn::ImportValue": "openmarket-prod-network-subnet"}],
                SecurityGroupIds=[{"Fn::ImportValue": "sg"}],
            ),
            "Broken": res("AWS::SQS::Queue", Policy={"Fn::ImportValue": "loop"}),
        }
    ),
    stack_name="openmarket-prod-data",
)


@pytest.fixture
def stage() -> StageAssembly:
    return StageAssembly("prod", [NETWORK, DATA])


# --- loading ---------------------------------------------------------------------------------


def test_a_missing_cdk_out_says_to_synthesize_first(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"does not exist: run `make synth` first"):
        load_stage(tmp_path / "cdk.out", "prod")


def test_a_cdk_out_without_manifest_or_with_a_broken_one_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"manifest\.json not found: run `make synth`"):
        load_stage(tmp_path, "prod")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(AssemblyError, match=r"is not JSON"):
        stage_names(tmp_path)


def test_an_unknown_stage_names_the_stages_there_are(tmp_path: Path) -> None:
    cdk_out = write_cdk_out(tmp_path, {"dev": [NETWORK], "prod": [NETWORK]})
    assert stage_names(cdk_out) == ["dev", "prod"]
    with pytest.raises(AssemblyError, match=r"no assembly for stage 'qa' \(stages: dev, prod\)"):
        load_stage(cdk_out, "qa")


def test_a_stage_without_stacks_is_an_error(tmp_path: Path) -> None:
    cdk_out = write_cdk_out(tmp_path, {"prod": []})
    with pytest.raises(AssemblyError, match="holds no stack templates"):
        load_stage(cdk_out, "prod")


def test_a_stage_is_its_stacks_in_assembly_order_with_both_names(tmp_path: Path) -> None:
    cdk_out = write_cdk_out(tmp_path, {"prod": [NETWORK, DATA]})
    for name in ("prod", "assembly-prod"):
        loaded = load_stage(cdk_out, name)
        assert [s.name for s in loaded.stacks] == ["prod/Network", "prod/Data"]
        assert loaded.name == "prod"  # the stage's own name, however it was asked for
    network = loaded.stack("prod/Network")
    assert (network.stack_name, network.kind, network.description) == (
        "openmarket-prod-network",
        "Network",
        "the network",
    )
    assert [r.address for r in loaded.of_type("AWS::EC2::Subnet")] == ["prod/Network/Subnet"]
    assert loaded[("prod/Network", "Subnet")].prop("VpcId") == {"Ref": "Vpc"}
    assert StackTemplate("prod/Test", {}).stack_name == "prod/Test"


# --- references ------------------------------------------------------------------------------


def test_ref_getatt_and_sub_resolve_within_the_stack(stage: StageAssembly) -> None:
    value = {
        "A": {"Ref": "Vpc"},
        "B": {"Fn::GetAtt": ["Subnet", "SubnetId"]},
        "C": {"Fn::GetAtt": "Sg.GroupId"},
        "D": {"Ref": "AWS::Region"},
        "E": {"Ref": "NoSuchResource"},
    }
    assert stage.references("prod/Network", value) == {
        ("prod/Network", "Vpc"),
        ("prod/Network", "Subnet"),
        ("prod/Network", "Sg"),
    }
    sub = {"Fn::Sub": "arn:${AWS::Partition}:ec2:::${Vpc}/${Sg.GroupId}/${!Literal}"}
    assert stage.references("prod/Network", sub) == {
        ("prod/Network", "Vpc"),
        ("prod/Network", "Sg"),
    }
    # In the list form a ${Name} that is a variable is the variable, not a resource.
    listed = {"Fn::Sub": ["${Subnet}-${Vpc}", {"Subnet": {"Ref": "Sg"}}]}
    assert stage.references("prod/Network", listed) == {
        ("prod/Network", "Sg"),
        ("prod/Network", "Vpc"),
    }


def test_cross_stack_references_reach_the_producers_resources(stage: StageAssembly) -> None:
    cluster = stage[("prod/Data", "Cluster")]
    assert stage.references(cluster.stack, cluster.prop("VpcId")) == {("prod/Network", "Vpc")}
    # Exports by name, with ${AWS::StackName} as the producer's CloudFormation name.
    assert stage.references(cluster.stack, cluster.prop("SubnetIds")) == {
        ("prod/Network", "Subnet")
    }
    assert [r.address for r in stage.targets(cluster.stack, cluster.properties)] == [
        "prod/Network/Sg",
        "prod/Network/Subnet",
        "prod/Network/Vpc",
    ]


def test_unknown_or_looping_outputs_resolve_to_nothing(stage: StageAssembly) -> None:
    assert stage.references("prod/Data", {"Fn::ImportValue": "loop"}) == set()
    missing = {"Fn::GetStackOutput": {"StackName": "elsewhere", "OutputName": "X"}}
    assert stage.references("prod/Data", missing) == set()
    assert stage.references("prod/Data", {"Fn::ImportValue": "no-such-export"}) == set()


# --- values ----------------------------------------------------------------------------------


def test_flatten_spells_tokens_as_placeholders_or_a_given_token() -> None:
    joined = {"Fn::Join": ["/", ["/aws/lambda", {"Ref": "Fn"}, {"Fn::GetAtt": ["Fn", "Arn"]}]]}
    assert flatten(joined) == "/aws/lambda/${Fn}/${Fn.Arn}"
    assert flatten(joined, token="…") == "/aws/lambda/…/…"
    assert flatten({"Fn::Sub": ["${A}-x", {"A": "a"}]}) == "a-x"
    assert flatten({"Fn::Select": [0, ["a"]]}) == "${Fn::Select}"
    assert flatten(3) == "3"
    assert [flatten(value) for value in (True, None, ["a"], {"A": 1, "B": 2})] == [None] * 4


def test_as_number_reads_numbers_written_as_strings() -> None:
    assert as_number("2", 0) == 2.0
    assert as_number(1.5, 0) == 1.5
    assert [as_number(value, 7) for value in ("many", True, None)] == [7, 7, 7]


# --- Kubernetes manifests --------------------------------------------------------------------


def test_manifests_around_tokens_parse_with_placeholders() -> None:
    parts = ['[{"kind":"Ingress","metadata":{"annotations":{"waf":"', {"Ref": "Acl"}, '"}}}]']
    assert manifest_objects({"Fn::Join": ["", parts]}) == (
        {"kind": "Ingress", "metadata": {"annotations": {"waf": "${Acl}"}}},
    )
    # Encoded twice (a JSON string of the JSON text) and a single object read the same.
    twice = json.dumps(json.dumps([{"kind": "Namespace"}]))
    assert manifest_objects(twice) == ({"kind": "Namespace"},)
    assert manifest_objects('{"kind": "Namespace"}') == ({"kind": "Namespace"},)


def test_an_unreadable_manifest_is_none_not_empty() -> None:
    assert manifest_objects("not json") is None
    assert manifest_objects(None) is None
    assert manifest_objects("[]") == ()


def test_manifests_are_keyed_by_resource_so_a_chart_may_have_several() -> None:
    chart = StackTemplate(
        "prod/Cluster",
        template(
            {
                "ChartbackendPart1": res(KUBERNETES_RESOURCE_TYPE, Manifest='[{"kind": "A"}]'),
                "ChartbackendPart2": res(KUBERNETES_RESOURCE_TYPE, Manifest='[{"kind": "B"}]'),
                "Broken": res(KUBERNETES_RESOURCE_TYPE, Manifest="["),
                "Other": res("AWS::EKS::Cluster"),
            }
        ),
    )
    manifests = StageAssembly("prod", [chart]).kubernetes_manifests
    assert {key: m.objects for key, m in manifests.items()} == {
        ("prod/Cluster", "ChartbackendPart1"): ({"kind": "A"},),
        ("prod/Cluster", "ChartbackendPart2"): ({"kind": "B"},),
        ("prod/Cluster", "Broken"): None,
    }
    assert manifests[("prod/Cluster", "Broken")].resource.logical_id == "Broken"


# --- the real assembly -----------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", STAGE_NAMES)
def test_the_synthesized_assembly_reads_completely(
    synthesized: Synthesized, stage_name: str
) -> None:
    loaded = load_stage(synthesized.outdir, stage_name)
    expected = {name for (s, _), name in synthesized.stack_names.items() if s == stage_name}
    assert {s.stack_name for s in loaded.stacks} == expected
    manifests = loaded.kubernetes_manifests
    assert manifests, "the cluster stack applies its charts as KubernetesResources"
    unreadable = [key for key, m in manifests.items() if m.objects is None]
    assert not unreadable, f"manifests the reader cannot parse: {unreadable}"
    kinds = {obj.get("kind") for m in manifests.values() for obj in m.objects or ()}
    assert {"Namespace", "Deployment", "Ingress"} <= kinds


def test_the_synthesized_cross_stack_references_resolve(synthesized: Synthesized) -> None:
    loaded = load_stage(synthesized.outdir, "prod")
    # The database sits in the network stack's subnets: a reference across stacks.
    [subnet_group] = loaded.of_type("AWS::RDS::DBSubnetGroup")
    subnets = loaded.targets(subnet_group.stack, subnet_group.properties)
    assert subnets and all(r.type == "AWS::EC2::Subnet" for r in subnets)
    assert {r.stack for r in subnets} == {"prod/Network"} != {subnet_group.stack}
