"""ClusterStack: the EKS cluster of one stage, its add-ons, and the charts it applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cdk8s
from aws_cdk import Aspects, CfnOutput, SecretValue, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from aws_cdk.lambda_layer_kubectl_v35 import KubectlV35Layer
from constructs import Construct

from charts.monitoring import AFTER_STACK_RELEASE, BEFORE_STACK_RELEASE, stack_values
from charts.stage import add_stage_charts
from openmarket_cdk.chart_values import DeployTimeValues, chart_values
from openmarket_cdk.common import log_retention, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.app_node_group import AppNodeGroup
from openmarket_cdk.constructs.backend_access import BackendAccess
from openmarket_cdk.constructs.chart_deployment import OrderedChartDeployment
from openmarket_cdk.constructs.cluster_access import ClusterAccess
from openmarket_cdk.constructs.cluster_internals import acknowledge_cluster_internals
from openmarket_cdk.constructs.deploy_order import (
    LoadBalancerReady,
    alb_controller_values,
    alb_controller_version,
    order_first_deploy,
)
from openmarket_cdk.constructs.edge import StageEdge
from openmarket_cdk.constructs.eks_addons import EksAddons
from openmarket_cdk.constructs.external_secrets import ExternalSecretsOperator
from openmarket_cdk.constructs.helm_timeouts import BoundHelmReleaseTimeouts
from openmarket_cdk.constructs.monitoring_stack import KubePrometheusStack
from openmarket_cdk.constructs.node_autoscaler import DEPLOYMENT as AUTOSCALER_DEPLOYMENT
from openmarket_cdk.constructs.node_autoscaler import NAMESPACE as AUTOSCALER_NAMESPACE
from openmarket_cdk.constructs.node_autoscaler import NodeAutoscaler
from openmarket_cdk.constructs.pod_identity import PodIdentity
from openmarket_cdk.constructs.web_acl import AlbWebAcl
from openmarket_cdk.nag import acknowledge
from openmarket_cdk.stage_sleep.construct import StageSleep

# The kubectl layer must serve the cluster's version (tests check the two agree).
KUBECTL_LAYER_VERSION = "1.35"
# The CloudWatch Observability add-on's log groups (kind -> logical id, which never changes).
CONTAINER_INSIGHTS_LOG_GROUPS = {
    "application": "ApplicationLogs",
    "dataplane": "DataplaneLogs",
    "host": "HostLogs",
    "performance": "PerformanceLogs",
}
NODE_LOG_GROUPS = ("dataplane", "host")


@dataclass(frozen=True)
class ClusterInputs:
    """What the cluster stack uses from the stacks before it (typed, no lookups)."""

    vpc: ec2.IVpc
    app_security_group: ec2.ISecurityGroup
    alb_security_group: ec2.ISecurityGroup
    uploads_bucket: s3.IBucket
    aurora_secret: secretsmanager.ISecret
    cache_secret: secretsmanager.ISecret
    cache_endpoint: str
    data_key: kms.IKey  # encrypts the Aurora and cache secrets
    event_bus: events.IEventBus  # the backend publishes OrderCreated here


class ClusterStack(Stack):
    """The Kubernetes platform OpenMarket's backend and frontend run on.

    Deploys an EKS cluster (aws-eks-v2, Kubernetes 1.35, standard support) with KMS envelope
    encryption of secrets, control-plane logs, a private API endpoint (dev: public, limited to
    configured CIDRs), an admin access entry, and a managed node group in the private subnets
    of both AZs; the EKS add-ons, the AWS Load Balancer Controller and External Secrets
    Operator; a WAF web ACL for the ALB; pod IAM roles; with a stage domain, its ACM
    certificate and ExternalDNS (the ALB's alias record); and every chart of the stage in order:
    namespace -> platform -> backend, frontend -> ingress -> network policy -> monitoring
    (namespaces, secrets -> kube-prometheus-stack -> OpenMarket's rules and dashboard ->
    network policy).

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
            alias=f"alias/{config.prefix}/eks-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {config.cluster_name}",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # EKS would create this group without retention; made here, the cluster waits for it.
        control_plane_logs = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=f"/aws/eks/{config.cluster_name}/cluster",
            retention=log_retention(k8s.control_plane_log_retention_days),
            removal_policy=removal,
        )
        # The CloudWatch Observability add-on writes the container logs (its Fluent Bit),
        # the nodes' logs and the Container Insights metrics to these; it would create a
        # missing one without retention, so they are made here first, with the stage's.
        container_insights_logs = {
            kind: logs.LogGroup(
                self,
                construct_id,
                log_group_name=config.container_insights_log_group_name(kind),
                retention=log_retention(k8s.application_log_retention_days),
                # Node logs are read when something is wrong, never turned into metrics:
                # Infrequent Access halves their ingestion price (Logs Insights still works).
                log_group_class=(
                    logs.LogGroupClass.INFREQUENT_ACCESS
                    if kind in NODE_LOG_GROUPS
                    else logs.LogGroupClass.STANDARD
                ),
                removal_policy=removal,
            )
            for kind, construct_id in CONTAINER_INSIGHTS_LOG_GROUPS.items()
        }
        self.application_log_group = container_insights_logs["application"]
        self.grafana_admin_secret = secretsmanager.Secret(
            self,
            "GrafanaAdminSecret",
            secret_name=config.grafana_admin_secret_name,
            description=f"{config.prefix}: Grafana admin login (synced by ESO)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"admin-user": "admin"}',
                generate_string_key="admin-password",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=removal,
        )
        # The webhook URLs come from Slack; operators store them (make slack-webhooks). The
        # secret is created in the shape the ExternalSecret reads (one key per receiver, a
        # placeholder each), so Alertmanager starts on the first deploy and its failed
        # deliveries reach the alarm e-mail. The template never changes these values again
        # unless the receivers or the placeholder change (then the stored URLs are reset).
        monitoring = k8s.monitoring
        self.slack_webhooks_secret = secretsmanager.Secret(
            self,
            "SlackWebhooksSecret",
            secret_name=config.slack_webhooks_secret_name,
            description=f"{config.prefix}: Alertmanager Slack webhook URL per receiver",
            secret_object_value={
                receiver: SecretValue.unsafe_plain_text(monitoring.slack_url_placeholder)
                for receiver in monitoring.slack_receivers
            },
            removal_policy=removal,
        )
        _acknowledge_manual_rotation(self.grafana_admin_secret, self.slack_webhooks_secret)

        # --- the cluster ----------------------------------------------------------------
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=config.cluster_name,
            version=eks.KubernetesVersion.of(k8s.version),
            vpc=inputs.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            endpoint_access=_endpoint_access(config),
            secrets_encryption_key=secrets_key,
            cluster_logging=_control_plane_log_types(config),
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
        self.cluster.node.add_dependency(control_plane_logs)
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, eks.CfnCluster)
        # Standard support only: extended support costs 6x the control plane and would
        # arrive silently when the version ages.
        cfn_cluster.upgrade_policy = eks.CfnCluster.UpgradePolicyProperty(support_type="STANDARD")
        cfn_cluster.deletion_protection = config.termination_protection
        # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
        icluster = cast(eks.ICluster, self.cluster)
        acknowledge_cluster_internals(self.cluster)

        # --- parts ----------------------------------------------------------------------
        eks.AccessEntry(
            self,
            "AdminAccess",
            cluster=icluster,
            principal=config.admin_role_arn,
            access_policies=[
                eks.AccessPolicy.from_access_policy_name(
                    "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
                )
            ],
        )
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
            stage_prefix=config.prefix,
            prefix_delegation=k8s.prefix_delegation,
            log_agent=k8s.monitoring.resources.log_agent,
            log_groups=tuple(container_insights_logs.values()),
        )
        node_autoscaler = NodeAutoscaler(
            self, "NodeAutoscaler", config=config, cluster=self.cluster, nodes=self.nodes
        )
        external_secrets = ExternalSecretsOperator(
            self,
            "ExternalSecretsOperator",
            cluster=self.cluster,
            nodes=self.nodes,
            stage_prefix=config.prefix,
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
                name_prefix=config.prefix,
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
        # Alertmanager publishes its heartbeat and delivery failures to SNS (topics of the
        # observability stack, named in config), outside the cluster they watch.
        alertmanager = PodIdentity(
            self,
            "AlertmanagerAccess",
            cluster=icluster,
            namespace=monitoring.namespace,
            service_account=monitoring.alertmanager_service_account,
            description=f"{config.prefix}: pod role of Alertmanager",
        )
        alertmanager.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                resources=[
                    config.sns_topic_arn(config.alerting_heartbeat_topic_name),
                    config.sns_topic_arn(config.alert_delivery_failures_topic_name),
                ],
            )
        )

        alb_controller = self.cluster.alb_controller
        # HTTPS name of the stage (staging, prod; dev when a domain is given): certificate
        # and ExternalDNS. Without one the ALB serves HTTP on its own name.
        edge = (
            StageEdge(
                self,
                "Edge",
                edge=config.edge,
                owner_id=config.external_dns_owner_id,
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
        # kube-prometheus-stack between the secrets its pods mount and OpenMarket's rules,
        # scrape target and dashboard (objects of the operator's kinds).
        monitoring_stack = KubePrometheusStack(
            self,
            "KubePrometheusStack",
            cluster=self.cluster,
            release=monitoring.stack,
            namespace=monitoring.namespace,
            values=stack_values(values.monitoring),
            after=[self.charts.manifests[BEFORE_STACK_RELEASE], alertmanager.association],
        )
        self.charts.manifests[AFTER_STACK_RELEASE].node.add_dependency(monitoring_stack.release)

        # The ALB exists before this stack completes. The wait runs again whenever the ALB can
        # have changed in-band (the Ingress or the controller changed), and a stage whose ALB
        # lives on publishes its name for the observability stack's lookup.
        load_balancer = LoadBalancerReady(
            self,
            "LoadBalancerReady",
            cluster=icluster,
            ingress_manifest=self.charts.manifests["ingress"],
            namespace=values.app.ingress.namespace,
            ingress_name=values.app.ingress.name,
            triggers={
                "IngressManifest": self.to_json_string(stage_charts["ingress"].to_json()),
                "ControllerVersion": alb_controller_version(k8s.controllers.alb_controller).version,
            },
        )
        if not config.sleep.load_balancer_sleeps:
            ssm.StringParameter(
                self,
                "LoadBalancerHostnameParameter",
                parameter_name=config.load_balancer_hostname_parameter,
                description=f"{config.prefix}: DNS name of the ALB the ingress controller made",
                string_value=load_balancer.hostname,
            )
            # A sleeping ALB (dev) comes back with a new name each morning: `make url`.
            CfnOutput(self, "LoadBalancerHostname", value=load_balancer.hostname)

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


def _endpoint_access(config: StageConfig) -> eks.EndpointAccess:
    cidrs = list(config.kubernetes.public_endpoint_cidrs)
    if not cidrs:
        return eks.EndpointAccess.PRIVATE
    # dev: reachable from the configured office/VPN ranges only, never 0.0.0.0/0.
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs)


def _control_plane_log_types(config: StageConfig) -> list[eks.ClusterLoggingTypes]:
    # Who did what (audit) and why an IAM principal was refused (authenticator): kept in
    # every stage. The other three are for debugging the control plane itself.
    if not config.kubernetes.all_control_plane_logs:
        return [eks.ClusterLoggingTypes.AUDIT, eks.ClusterLoggingTypes.AUTHENTICATOR]
    return [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
    ]


def _acknowledge_manual_rotation(
    grafana_admin: secretsmanager.ISecret, slack_webhooks: secretsmanager.ISecret
) -> None:
    acknowledge(
        grafana_admin,
        "AwsSolutions-SMG4",
        "Grafana reads its admin password at start; rotate by updating the secret "
        "and restarting Grafana (secret rotation runbook).",
    )
    acknowledge(
        slack_webhooks,
        "AwsSolutions-SMG4",
        "Slack issues webhook URLs; they are replaced in Slack and here, by hand "
        "(secret rotation runbook).",
    )
