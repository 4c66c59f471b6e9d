"""ClusterStack: the EKS cluster of one stage, its add-ons, and the charts it applies."""

from __future__ import annotations

from typing import Any, cast

import cdk8s
from aws_cdk import Aspects, CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms
from aws_cdk.lambda_layer_kubectl_v35 import KubectlV35Layer
from constructs import Construct

from charts.monitoring import stack_values
from charts.stage import add_stage_charts
from openmarket_cdk.chart_values import DeployTimeValues, chart_values
from openmarket_cdk.common import retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.app_node_group import AppNodeGroup
from openmarket_cdk.constructs.backend_access import BackendAccess
from openmarket_cdk.constructs.chart_deployment import OrderedChartDeployment
from openmarket_cdk.constructs.cluster_access import ClusterAccess
from openmarket_cdk.constructs.cluster_internals import acknowledge_cluster_internals
from openmarket_cdk.constructs.cluster_settings import (
    admin_access,
    container_insights_logs,
    control_plane_log_types,
    control_plane_logs,
    endpoint_access,
    standard_support_only,
)
from openmarket_cdk.constructs.deploy_order import (
    alb_controller_values,
    alb_controller_version,
    load_balancer_ready,
    order_first_deploy,
)
from openmarket_cdk.constructs.edge import StageEdge
from openmarket_cdk.constructs.eks_addons import EksAddons
from openmarket_cdk.constructs.external_secrets import ExternalSecretsOperator
from openmarket_cdk.constructs.helm_timeouts import BoundHelmReleaseTimeouts
from openmarket_cdk.constructs.monitoring_secrets import (
    grafana_admin_secret,
    slack_webhooks_secret,
)
from openmarket_cdk.constructs.monitoring_stack import KubePrometheusStack, alertmanager_access
from openmarket_cdk.constructs.node_autoscaler import DEPLOYMENT as AUTOSCALER_DEPLOYMENT
from openmarket_cdk.constructs.node_autoscaler import NAMESPACE as AUTOSCALER_NAMESPACE
from openmarket_cdk.constructs.node_autoscaler import NodeAutoscaler
from openmarket_cdk.constructs.web_acl import AlbWebAcl
from openmarket_cdk.stacks.cluster_inputs import ClusterInputs
from openmarket_cdk.stage_sleep.construct import StageSleep

# The kubectl layer must serve the cluster's version (a test checks the layer's package
# against config.pins.KUBERNETES_VERSION).


class ClusterStack(Stack):
    """The Kubernetes platform OpenMarket's backend and frontend run on.

    An EKS cluster (aws-eks-v2, standard support, KMS-encrypted secrets, private endpoint;
    dev's public and limited to configured CIDRs), node groups per zone, the add-ons and
    controllers, a WAF web ACL, pod roles, with a domain its certificate and ExternalDNS,
    and every chart of the stage in order (kube-prometheus-stack among the monitoring ones).

    The stateful resources (key, log groups, secrets, cluster) are the stack's direct
    children, so their logical IDs never depend on how the parts are arranged.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        inputs: ClusterInputs,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        k8s = config.kubernetes
        removal = retain_or_destroy(config.retain_on_delete)

        # --- stateful: key, log groups, monitoring secrets ------------------------------
        secrets_key = kms.Key(
            self,
            "SecretsKey",
            alias=f"alias/{config.names.prefix}/eks-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {config.names.cluster_name}",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        cluster_logs = control_plane_logs(self, config, removal)
        insights_logs = container_insights_logs(self, config, removal)
        self.application_log_group = insights_logs["application"]
        self.grafana_admin_secret = grafana_admin_secret(self, config, removal)
        self.slack_webhooks_secret = slack_webhooks_secret(self, config, removal)
        monitoring = k8s.monitoring

        # --- the cluster ----------------------------------------------------------------
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=config.names.cluster_name,
            version=eks.KubernetesVersion.of(k8s.version),
            vpc=inputs.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            endpoint_access=endpoint_access(config),
            secrets_encryption_key=secrets_key,
            cluster_logging=control_plane_log_types(config),
            default_capacity=0,  # the managed node group below replaces the default one
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            kubectl_provider_options=eks.KubectlProviderOptions(
                kubectl_layer=KubectlV35Layer(self, "KubectlLayer"),
                # With a private endpoint the kubectl handler must run inside the VPC.
                private_subnets=inputs.vpc.select_subnets(
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                ).subnets,
            ),
            alb_controller=eks.AlbControllerOptions(
                version=alb_controller_version(k8s.controllers.alb_controller),
                additional_helm_chart_values=alb_controller_values(k8s.controllers.alb_controller),
            ),
            # Pinned so the monitoring network policies can name the Service range.
            service_ipv4_cidr=config.network.service_cidr,
            removal_policy=removal,
        )
        self.cluster.node.add_dependency(cluster_logs)
        standard_support_only(self.cluster, config)
        # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
        icluster = cast(eks.ICluster, self.cluster)
        acknowledge_cluster_internals(self.cluster)

        # --- parts ----------------------------------------------------------------------
        admin_access(self, config, icluster)
        # A private endpoint (staging, prod): operators reach it through Session Manager.
        if not k8s.public_endpoint_cidrs:
            ClusterAccess(
                self, "ClusterAccess", config=config, cluster=self.cluster, vpc=inputs.vpc
            )
        node_group = AppNodeGroup(
            self,
            "AppNodeGroup",
            config=config,
            cluster=self.cluster,
            app_security_group=inputs.app_security_group,
        )
        # What waits for nodes depends on the node groups of every zone.
        self.nodes = node_group
        addons = EksAddons(
            self,
            "Addons",
            cluster=icluster,
            nodes=self.nodes,
            stage_prefix=config.names.prefix,
            prefix_delegation=k8s.prefix_delegation,
            log_agent=k8s.monitoring.log_agent,
            log_groups=tuple(insights_logs.values()),
        )
        node_autoscaler = NodeAutoscaler(
            self, "NodeAutoscaler", config=config, cluster=self.cluster, nodes=self.nodes
        )
        external_secrets = ExternalSecretsOperator(
            self,
            "ExternalSecretsOperator",
            cluster=self.cluster,
            nodes=self.nodes,
            stage_prefix=config.names.prefix,
            controllers=k8s.controllers,
            foreign_secrets=(inputs.aurora_secret, inputs.cache_secret),
            foreign_key=inputs.data_key,
            own_secrets=(self.grafana_admin_secret, self.slack_webhooks_secret),
        )
        # dev has none: its ALB answers network.alb_ingress_cidrs only.
        self.web_acl = (
            AlbWebAcl(
                self,
                "WebAcl",
                name_prefix=config.names.prefix,
                rate_limit_per_5min=k8s.waf_rate_limit_per_5min,
            )
            if k8s.waf_enabled
            else None
        )
        backend_access = BackendAccess(
            self,
            "BackendAccess",
            config=config,
            cluster=icluster,
            uploads_bucket=inputs.uploads_bucket,
            event_bus=inputs.event_bus,
        )
        alertmanager = alertmanager_access(self, config, icluster)

        alb_controller = self.cluster.alb_controller
        # HTTPS name of the stage (staging, prod; dev when a domain is given): certificate
        # and ExternalDNS. Without one the ALB serves HTTP on its own name.
        edge = (
            StageEdge(
                self,
                "Edge",
                edge=config.edge,
                owner_id=config.names.external_dns_owner_id,
                region=config.region,
                release=k8s.controllers.external_dns,
                cluster=self.cluster,
                after=[self.nodes, *([alb_controller] if alb_controller else [])],
            )
            if config.edge
            else None
        )

        # --- charts, in order -----------------------------------------------------------
        values = chart_values(
            config,
            DeployTimeValues(
                alb_security_group_id=inputs.alb_security_group.security_group_id,
                waf_acl_arn=self.web_acl.arn if self.web_acl else None,
                cache_endpoint=inputs.cache_endpoint,
                uploads_bucket_name=inputs.uploads_bucket.bucket_name,
                event_bus_name=inputs.event_bus.event_bus_name,
                certificate_arn=edge.certificate.certificate_arn if edge else None,
            ),
        )
        order_first_deploy(
            alb_controller=alb_controller,
            nodes=self.nodes,
            service_creators=(
                *addons.after_nodes,
                external_secrets.chart,
                node_autoscaler.chart,
                *([edge.chart] if edge else []),
            ),
        )
        stage_charts = add_stage_charts(cdk8s.App(), values)
        self.charts = OrderedChartDeployment(
            self,
            "Charts",
            cluster=self.cluster,
            charts=stage_charts,
            # ESO's CRDs exist before the first SecretStore/ExternalSecret; DNS, volumes and
            # metrics (the in-cluster add-ons) before the first pod.
            first_after=(external_secrets.chart, *addons.after_nodes),
            also_after={
                # Credentials before the pods that use them.
                "backend": [backend_access.association],
                "ingress": [alb_controller] if alb_controller is not None else [],
            },
        )
        KubePrometheusStack(
            self,
            "KubePrometheusStack",
            cluster=self.cluster,
            release=monitoring.stack,
            namespace=monitoring.namespace,
            values=stack_values(values.monitoring),
            charts=self.charts,
            association=alertmanager.association,
        )

        load_balancer_ready(
            self,
            config,
            cluster=icluster,
            ingress_manifest=self.charts.manifests["ingress"],
            ingress_json=stage_charts["ingress"].to_json(),
            ingress=(values.app.ingress.namespace, values.app.ingress.name),
        )

        # Outside working hours (dev, staging): the stage sleeps, through the owners' APIs.
        if config.sleep.enabled:
            StageSleep(
                self,
                "StageSleep",
                config=config,
                cluster=self.cluster,
                vpc=inputs.vpc,
                autoscaler=(AUTOSCALER_NAMESPACE, AUTOSCALER_DEPLOYMENT),
                ingress=(values.app.ingress.namespace, values.app.ingress.name),
                after=[self.charts.manifests["ingress"], node_autoscaler.chart],
            )

        # Every Helm release (the ALB controller's included) ends inside the handler's life.
        Aspects.of(self).add(BoundHelmReleaseTimeouts())

        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        if self.web_acl is not None:
            CfnOutput(self, "WebAclArn", value=self.web_acl.arn)
        if edge is not None:
            CfnOutput(self, "CertificateArn", value=edge.certificate.certificate_arn)
