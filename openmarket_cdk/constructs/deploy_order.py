"""First-deploy ordering of the cluster stack: what CloudFormation would otherwise run in
parallel and lose to a webhook or a controller that is not there yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, CfnResource, Duration, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from openmarket_cdk.common import helm_resources
from openmarket_cdk.config import ControllerRelease, StageConfig
from openmarket_cdk.config.errors import fail

# The AWS Load Balancer Controller chart (3.x) registers a mutating webhook on every Service
# (failurePolicy Fail) that makes the controller the default for Services of type
# LoadBalancer. Until its pods are Ready, every Service create in the cluster is rejected
# (aws-load-balancer-controller#4140): CoreDNS's, metrics-server's, ESO's. OpenMarket has no
# LoadBalancer Service (the ALB comes from the Ingress), so the webhook only adds that risk.
# The pod webhook (readiness gates) stays: it only intercepts namespaces labelled for it,
# whose charts are applied after the controller.
ALB_CONTROLLER_HELM_VALUES: dict[str, object] = {"enableServiceMutatorWebhook": False}


def alb_controller_version(release: ControllerRelease) -> eks.AlbControllerVersion:
    """The controller's pinned chart, as one of the versions aws-cdk-lib ships the IAM policy
    for (chart ``X.Y.Z`` is ``AlbControllerVersion.VX_Y_Z``); another needs a CDK that knows it."""
    name = "V" + release.chart_version.replace(".", "_")
    version = getattr(eks.AlbControllerVersion, name, None)
    if not isinstance(version, eks.AlbControllerVersion):
        fail(
            "kubernetes.controllers.alb_controller.chart_version",
            f"{release.chart_version} is not a version aws-cdk-lib ships the controller's IAM "
            "policy for (eks.AlbControllerVersion): upgrade aws-cdk-lib or pick a known one",
        )
    return version


def alb_controller_values(release: ControllerRelease) -> dict[str, object]:
    """The chart values the cluster's ALB controller release gets (checked against the
    chart's values.yaml at the pinned version: replicaCount, resources,
    enableServiceMutatorWebhook)."""
    return {
        **ALB_CONTROLLER_HELM_VALUES,
        "replicaCount": release.replicas,
        "resources": helm_resources(release.resources),
    }


# How long the cluster stack waits for the controller to create the ALB from the Ingress
# (usually 1-3 minutes). Below the kubectl handler's 15-minute Lambda timeout.
LOAD_BALANCER_WAIT = Duration.minutes(12)


def order_first_deploy(
    *,
    alb_controller: IConstruct | None,
    nodes: IConstruct,
    service_creators: Sequence[IConstruct],
) -> None:
    """Controller before anything that creates a Service; nodes before the controller.

    ``service_creators`` are the EKS add-ons that run in-cluster (CoreDNS, metrics-server,
    EBS CSI, CloudWatch) and the External Secrets release; every chart comes after the latter.
    The controller's release waits (Helm ``--wait``) for its pods, which need nodes: started
    before the node group exists it would spend its 15-minute Helm timeout waiting for them.
    Even with the Service webhook off (``ALB_CONTROLLER_HELM_VALUES``) the order stays: a
    future chart value or a controller upgrade that adds a webhook must not reopen the race.
    """
    if alb_controller is None:
        return
    alb_controller.node.add_dependency(nodes)
    for creator in service_creators:
        creator.node.add_dependency(alb_controller)


class LoadBalancerReady(Construct):
    """Waits, at deploy time and for at most ``LOAD_BALANCER_WAIT``, until the controller has
    created the ALB for the Ingress (its hostname appears in the Ingress status).

    The observability stack looks the ALB up by name for its alarms and dashboard; it depends
    on this stack, so it never runs before the ALB exists. If the controller fails (bad
    annotation, missing permission) the deploy stops here, naming the Ingress, rather than
    in a later stack with "load balancer not found".
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        ingress_manifest: IConstruct,
        namespace: str,
        ingress_name: str,
        triggers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._value = eks.KubernetesObjectValue(
            self,
            "IngressHostname",
            cluster=cluster,
            object_type="ingress",
            object_name=ingress_name,
            object_namespace=namespace,
            json_path=".status.loadBalancer.ingress[0].hostname",
            timeout=LOAD_BALANCER_WAIT,
        )
        self._value.node.add_dependency(ingress_manifest)
        # The custom resource asks again only when its properties change: ``triggers`` are
        # extra properties (the handler ignores them) that change with what can change the
        # ALB, so its name is read again then.
        resource = self._value.node.find_child("Resource").node.default_child
        assert isinstance(resource, CfnResource)
        for key, value in (triggers or {}).items():
            resource.add_property_override(key, value)

    @property
    def hostname(self) -> str:
        """The ALB's DNS name (a deploy-time value)."""
        return self._value.value


def load_balancer_ready(
    stack: Stack,
    config: StageConfig,
    *,
    cluster: eks.ICluster,
    ingress_manifest: eks.KubernetesManifest,
    ingress_json: object,
    ingress: tuple[str, str],
) -> LoadBalancerReady:
    """The ALB exists before the stack completes (``LoadBalancerReady``, the stack's child).
    The wait runs again whenever the ALB can have changed in-band (the Ingress or the
    controller changed), and a stage whose ALB lives on publishes its name in SSM for the
    observability stack's lookup (a sleeping ALB, dev's, comes back with a new name each
    morning: `make url`)."""
    namespace, name = ingress
    ready = LoadBalancerReady(
        stack,
        "LoadBalancerReady",
        cluster=cluster,
        ingress_manifest=ingress_manifest,
        namespace=namespace,
        ingress_name=name,
        triggers={
            "IngressManifest": stack.to_json_string(ingress_json),
            "ControllerVersion": alb_controller_version(
                config.kubernetes.controllers.alb_controller
            ).version,
        },
    )
    if not config.sleep.load_balancer_sleeps:
        ssm.StringParameter(
            stack,
            "LoadBalancerHostnameParameter",
            parameter_name=config.names.load_balancer_hostname_parameter,
            description=f"{config.names.prefix}: DNS name of the ALB the ingress controller made",
            string_value=ready.hostname,
        )
        CfnOutput(stack, "LoadBalancerHostname", value=ready.hostname)
    return ready
