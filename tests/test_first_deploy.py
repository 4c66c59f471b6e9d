"""A first deploy into an empty account in one pass, and safe later updates of the charts.

- Ordering in the cluster template: the node group before the add-ons that run on nodes and
  before the AWS Load Balancer Controller; the controller (its webhooks) before anything that
  creates Services or pods; External Secrets (its CRDs) before any SecretStore/ExternalSecret.
- The stack waits, with a bound, for the controller to create the ALB the observability
  stack's alarms look up.
- No Secret that External Secrets creates can carry a chart's prune label.
- Every manifest custom resource fits an update event (old + new properties) in Lambda's
  256 KB asynchronous payload.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from charts.stage import render_stage
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.cfn import of_type
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)

MANIFEST = "Custom::AWSCDK-EKS-KubernetesResource"
HELM_CHART = "Custom::AWSCDK-EKS-HelmChart"
PRUNE_LABEL_PREFIX = "aws.cdk.eks/prune-"
# Lambda's asynchronous invocation payload is 256 KB; an update event carries the old and
# the new properties, so each side must stay under half of it, with room for the envelope.
MAX_PROPERTIES_BYTES = 120_000
# Add-ons whose pods run on the nodes and that create Services (or serve webhooks).
IN_CLUSTER_ADDONS = {
    "coredns",
    "metrics-server",
    "aws-ebs-csi-driver",
    "amazon-cloudwatch-observability",
}
# Add-ons the nodes need to join with networking and pod identity working.
NODE_LEVEL_ADDONS = {"vpc-cni", "kube-proxy", "eks-pod-identity-agent"}


def _references(value: Any) -> set[str]:
    """Logical ids a property value points at (Ref / Fn::GetAtt): implicit dependencies."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(str(value["Fn::GetAtt"][0]))
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _waits_for(template: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource CloudFormation creates before ``logical_id`` (transitively)."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [logical_id]
    while todo:
        resource = resources[todo.pop()]
        direct = set(resource.get("DependsOn", [])) | _references(resource.get("Properties", {}))
        for dependency in direct & set(resources) - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


def _one(found: dict[str, dict[str, Any]]) -> str:
    assert len(found) == 1, sorted(found)
    return next(iter(found))


def _helm_chart(template: dict[str, Any], chart: str) -> str:
    return _one(
        {
            logical_id: resource
            for logical_id, resource in of_type(template, HELM_CHART).items()
            if resource["Properties"]["Chart"] == chart
        }
    )


def _addons(template: dict[str, Any], names: set[str]) -> dict[str, str]:
    found = {
        resource["Properties"]["AddonName"]: logical_id
        for logical_id, resource in of_type(template, "AWS::EKS::Addon").items()
    }
    assert names <= set(found), sorted(found)
    return {name: found[name] for name in names}


def manifest_objects(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a manifest custom resource; deploy-time values (tokens in a
    Fn::Join) read as ``"<token>"``."""
    manifest = resource["Properties"]["Manifest"]
    if isinstance(manifest, dict):
        parts = manifest["Fn::Join"][1]
        manifest = "".join(part if isinstance(part, str) else "<token>" for part in parts)
    objects: list[dict[str, Any]] = json.loads(manifest)
    return objects


def _chart_manifests(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in of_type(template, MANIFEST).items()
        if logical_id.startswith("ClusterChart")
    }


def test_the_alb_controller_comes_after_the_nodes_and_before_every_service(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    controller = _helm_chart(template, "aws-load-balancer-controller")
    # Its Helm release waits for its pods: they need nodes (every zone's group).
    nodegroups = set(of_type(template, "AWS::EKS::Nodegroup"))
    assert len(nodegroups) == 2 and nodegroups <= _waits_for(template, controller)
    # Its Service webhook (failurePolicy Fail) is off: no LoadBalancer Service exists here.
    values = json.dumps(template["Resources"][controller]["Properties"]["Values"])
    assert '\\"enableServiceMutatorWebhook\\":false' in values
    # And everything that creates Services or pods comes after it anyway.
    later = {
        **_addons(template, IN_CLUSTER_ADDONS),
        "external-secrets": _helm_chart(template, "external-secrets"),
        **{logical_id: logical_id for logical_id in _chart_manifests(template)},
    }
    for name, logical_id in later.items():
        assert controller in _waits_for(template, logical_id), name


def test_nodes_come_after_node_level_addons_and_before_in_cluster_ones(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    nodegroups = set(of_type(template, "AWS::EKS::Nodegroup"))
    assert len(nodegroups) == 2
    for nodegroup in nodegroups:
        before = _waits_for(template, nodegroup)
        for name, logical_id in _addons(template, NODE_LEVEL_ADDONS).items():
            assert logical_id in before, name
        for name, logical_id in _addons(template, IN_CLUSTER_ADDONS).items():
            assert nodegroup in _waits_for(template, logical_id), name


def test_external_secrets_crds_exist_before_any_of_their_objects(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    operator = _helm_chart(template, "external-secrets")
    using = {
        logical_id
        for logical_id, resource in of_type(template, MANIFEST).items()
        if any(
            obj.get("apiVersion", "").startswith("external-secrets.io/")
            for obj in manifest_objects(resource)
        )
    }
    # The app namespace's secrets and the monitoring namespace's.
    assert len(using) == 2
    for logical_id in using:
        assert operator in _waits_for(template, logical_id), logical_id


def test_the_stack_waits_a_bounded_time_for_the_alb(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "cluster")
    waits = of_type(template, "Custom::AWSCDK-EKS-KubernetesObjectValue")
    (logical_id,) = [
        logical_id
        for logical_id, resource in waits.items()
        if resource["Properties"]["ObjectType"] == "ingress"
    ]
    props = waits[logical_id]["Properties"]
    assert props["ObjectNamespace"] == stage_config(stage).names.namespace
    assert props["JsonPath"] == ".status.loadBalancer.ingress[0].hostname"
    # Bounded, and below the kubectl handler's 15-minute Lambda timeout.
    assert 0 < int(props["TimeoutSeconds"]) <= 13 * 60
    ingress = next(
        chart_id
        for chart_id, resource in _chart_manifests(template).items()
        if any(obj["kind"] == "Ingress" for obj in manifest_objects(resource))
    )
    assert ingress in _waits_for(template, logical_id)
    # It asks again when what can change the ALB changes: the Ingress, the controller.
    assert "Ingress" in json.dumps(props["IngressManifest"])
    assert props["ControllerVersion"].startswith("v")
    # A stage whose ALB lives on publishes its name (the observability stack's lookup reads
    # it); a sleeping one (dev: a new ALB each morning) publishes nothing that would go stale.
    sleeps = stage_config(stage).sleep.load_balancer_sleeps
    assert ("LoadBalancerHostname" in template["Outputs"]) is not sleeps
    names = [p["Properties"].get("Name") for p in of_type(template, "AWS::SSM::Parameter").values()]
    assert (stage_config(stage).names.load_balancer_hostname_parameter in names) is not sleeps


def test_no_synced_secret_can_carry_a_prune_label(synthesized: Synthesized, stage: str) -> None:
    """The kubectl handler labels every object of a chart for ``apply --prune``; ESO copies
    an ExternalSecret's labels onto its Secret unless the target template sets them."""
    template = synthesized.template(stage, "cluster")
    external_secrets = [
        obj
        for resource in of_type(template, MANIFEST).values()
        for obj in manifest_objects(resource)
        if obj["kind"] == "ExternalSecret"
    ]
    assert len(external_secrets) == 4  # aurora, cache, grafana-admin, alertmanager-slack
    for obj in external_secrets:
        name = obj["metadata"]["name"]
        # The chart's objects are pruned by this label: the ExternalSecret carries it ...
        assert any(label.startswith(PRUNE_LABEL_PREFIX) for label in obj["metadata"]["labels"])
        # ... and its Secret gets the template's labels and annotations instead.
        metadata = obj["spec"]["target"]["template"]["metadata"]
        assert set(metadata) == {"labels", "annotations"}, name
        assert not any(
            key.startswith(PRUNE_LABEL_PREFIX)
            for key in (*metadata["labels"], *metadata["annotations"])
        ), name


def test_rendered_external_secrets_set_their_secrets_metadata(stage: str) -> None:
    rendered = render_stage(placeholder_chart_values(stage_config(stage)))
    external_secrets = [
        obj for objects in rendered.values() for obj in objects if obj["kind"] == "ExternalSecret"
    ]
    assert len(external_secrets) == 4
    for obj in external_secrets:
        template = obj["spec"]["target"]["template"]
        # No template data: the Secret's keys are exactly the synced ones.
        assert set(template) == {"metadata"}, obj["metadata"]["name"]
        assert template["metadata"]["labels"], obj["metadata"]["name"]
        assert template["metadata"]["annotations"] == {}


def test_every_manifest_fits_an_update_event(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.template(stage, "cluster")
    manifests = of_type(template, MANIFEST)
    assert len(manifests) > len(_chart_manifests(template))  # CDK's own ones count too
    for logical_id, resource in manifests.items():
        size = len(json.dumps(resource["Properties"], separators=(",", ":")).encode())
        assert size < MAX_PROPERTIES_BYTES, (logical_id, size)


# The kubectl handler Lambda that runs Helm stops at 15 minutes (aws-eks-v2 kubectl-provider).
KUBECTL_HANDLER_SECONDS = 15 * 60


def test_every_helm_release_times_out_well_inside_the_handler(
    synthesized: Synthesized, stage: str
) -> None:
    """A release still waiting when the handler dies stays pending-install and blocks every
    retry (aws-cdk#22257): each, the ALB controller's included, gives up by 10 minutes."""
    releases = of_type(synthesized.template(stage, "cluster"), HELM_CHART)
    assert {r["Properties"]["Release"] for r in releases.values()} >= {
        "aws-load-balancer-controller",
        "external-secrets",
        "cluster-autoscaler",
    }
    for logical_id, release in releases.items():
        timeout = str(release["Properties"]["Timeout"])
        assert timeout.endswith("s"), logical_id
        assert int(timeout[:-1]) <= 10 * 60 < KUBECTL_HANDLER_SECONDS, logical_id


def test_every_managed_addon_resolves_conflicts_explicitly(
    synthesized: Synthesized, stage: str
) -> None:
    """EKS installs vpc-cni, kube-proxy and CoreDNS itself; creating the managed add-on over
    them with configuration values fails unless conflicts are overwritten."""
    addons = of_type(synthesized.template(stage, "cluster"), "AWS::EKS::Addon")
    assert len(addons) == 7
    for logical_id, addon in addons.items():
        assert addon["Properties"].get("ResolveConflicts") == "OVERWRITE", logical_id
