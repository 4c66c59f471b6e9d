"""ClusterStack: the EKS cluster of one stage, its add-ons, and the app charts it applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cdk8s
from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk.lambda_layer_kubectl_v35 import KubectlV35Layer
from constructs import Construct, IConstruct

from charts import CHART_KINDS, add_app_charts
from charts.monitoring import MONITORING_CHART_KINDS, add_monitoring_charts
from openmarket_cdk.chart_values import (
    BACKEND,
    DeployTimeValues,
    app_chart_values,
    monitoring_chart_values,
)
from openmarket_cdk.common import grant_secret_read, log_retention, retain_or_destroy
from openmarket_cdk.config import StageConfig
from openmarket_cdk.nag import acknowledge

_IAM4_BARE = "AwsSolutions-IAM4[Policy::"
_IAM4 = f"{_IAM4_BARE}arn:<AWS::Partition>:iam::aws:policy/"
_ALB_CONTROLLER_RESOURCES = (
    "*",
    "arn:<AWS::Partition>:ec2:*:*:security-group/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/app/*/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:listener/net/*/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/app/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:loadbalancer/net/*/*",
    "arn:<AWS::Partition>:elasticloadbalancing:*:*:targetgroup/*/*",
)

# The kubectl layer must serve the cluster's version (tests check the two agree).
KUBECTL_LAYER_VERSION = "1.35"
ALB_CONTROLLER_VERSION = eks.AlbControllerVersion.V3_2_2
EXTERNAL_SECRETS_CHART_VERSION = "2.0.1"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
EXTERNAL_SECRETS_SERVICE_ACCOUNT = "external-secrets"

# Charts are applied in CHART_KINDS order (namespace, platform, backend, frontend, ingress,
# network-policy); each waits for the one before.


@dataclass(frozen=True)
class ClusterInputs:
    """What the cluster stack uses from the stacks before it (typed, no lookups)."""

    vpc: ec2.IVpc
    app_security_group: ec2.ISecurityGroup
    alb_security_group: ec2.ISecurityGroup
    uploads_bucket: s3.IBucket
    image_registry: str
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
    of both AZs; the add-ons VPC CNI (network policies on), CoreDNS, kube-proxy, EBS CSI,
    metrics-server, Pod Identity agent, the AWS Load Balancer Controller and External Secrets
    Operator; a WAF web ACL for the ALB; pod IAM roles; and the app charts in order:
    namespace -> platform -> backend, frontend -> ingress -> network policy, then the
    monitoring charts.
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
        self._config = config
        k8s = config.kubernetes
        removal = retain_or_destroy(config.storage.retain_on_delete)
        cluster_name = config.cluster_name

        secrets_key = kms.Key(
            self,
            "SecretsKey",
            alias=f"alias/{config.prefix}/eks-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # EKS would create this group without retention; made here, the cluster waits for it.
        control_plane_logs = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=f"/aws/eks/{cluster_name}/cluster",
            retention=log_retention(k8s.control_plane_log_retention_days),
            removal_policy=removal,
        )
        log_types = [
            eks.ClusterLoggingTypes.API,
            eks.ClusterLoggingTypes.AUDIT,
            eks.ClusterLoggingTypes.AUTHENTICATOR,
        ]
        if k8s.all_control_plane_logs:
            log_types += [
                eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
                eks.ClusterLoggingTypes.SCHEDULER,
            ]

        private_subnets = inputs.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnets
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            version=eks.KubernetesVersion.of(k8s.version),
            vpc=inputs.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            endpoint_access=self._endpoint_access(),
            secrets_encryption_key=secrets_key,
            cluster_logging=log_types,
            default_capacity=0,  # the managed node group below replaces the default one
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            kubectl_provider_options=eks.KubectlProviderOptions(
                kubectl_layer=KubectlV35Layer(self, "KubectlLayer"),
                # With a private endpoint the kubectl handler must run inside the VPC.
                private_subnets=private_subnets,
            ),
            alb_controller=eks.AlbControllerOptions(version=ALB_CONTROLLER_VERSION),
            # Pinned so the monitoring network policies can name the Service range.
            service_ipv4_cidr=config.network.service_cidr,
            removal_policy=removal,
        )
        self.cluster.node.add_dependency(control_plane_logs)
        # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
        self._icluster = cast(eks.ICluster, self.cluster)
        cfn_cluster = self.cluster.node.default_child
        assert isinstance(cfn_cluster, eks.CfnCluster)
        # Standard support only: extended support costs 6x the control plane and would
        # arrive silently when the version ages.
        cfn_cluster.upgrade_policy = eks.CfnCluster.UpgradePolicyProperty(support_type="STANDARD")
        cfn_cluster.deletion_protection = config.termination_protection

        self._access_entries()
        self._node_group(inputs)
        self._addons()
        # Fluent Bit (monitoring charts) ships container logs here; retention from config.
        self.application_log_group = logs.LogGroup(
            self,
            "ApplicationLogs",
            log_group_name=config.application_log_group_name,
            retention=log_retention(k8s.application_log_retention_days),
            removal_policy=removal,
        )
        self.monitoring_values = monitoring_chart_values(config)
        self._monitoring_secrets()
        self._external_secrets(inputs)
        self.web_acl = self._web_acl()
        backend_role = self._backend_pod_role(inputs.uploads_bucket, inputs.event_bus)

        deploy_values = DeployTimeValues(
            image_registry=inputs.image_registry,
            alb_security_group_id=inputs.alb_security_group.security_group_id,
            waf_acl_arn=self.web_acl.attr_arn,
            cache_endpoint=inputs.cache_endpoint,
            uploads_bucket_name=inputs.uploads_bucket.bucket_name,
            event_bus_name=inputs.event_bus.event_bus_name,
        )
        self.chart_values = app_chart_values(config, deploy_values)
        # Credentials before the pods that use them (see _pod_identity).
        identities = {
            "backend": self._pod_identity(BACKEND, config.namespace, backend_role),
            "fluent-bit": self._fluent_bit_identity(),
        }
        self._apply_charts(identities)

        self._acknowledge_cdk_owned_findings()
        CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        CfnOutput(self, "WebAclArn", value=self.web_acl.attr_arn)

    # --- cluster ----------------------------------------------------------------------------
    def _endpoint_access(self) -> eks.EndpointAccess:
        cidrs = list(self._config.kubernetes.public_endpoint_cidrs)
        if not cidrs:
            return eks.EndpointAccess.PRIVATE
        # dev: reachable from the configured office/VPN ranges only, never 0.0.0.0/0.
        return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs)

    def _access_entries(self) -> None:
        eks.AccessEntry(
            self,
            "AdminAccess",
            cluster=self._icluster,
            principal=self._config.admin_role_arn,
            access_policies=[
                eks.AccessPolicy.from_access_policy_name(
                    "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
                )
            ],
        )

    def _node_group(self, inputs: ClusterInputs) -> None:
        k8s = self._config.kubernetes
        # Nodes carry the cluster security group plus the network stack's app group, which
        # is what the ALB may reach (3000/3001) and what Aurora and the cache admit.
        launch_template = ec2.LaunchTemplate(
            self,
            "NodeLaunchTemplate",
            launch_template_name=f"{self._config.prefix}-nodes",
            require_imdsv2=True,
            # Hop limit 1: pods cannot borrow the node role through IMDS; they use Pod Identity.
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        30, volume_type=ec2.EbsDeviceVolumeType.GP3, encrypted=True
                    ),
                )
            ],
            security_group=inputs.app_security_group,
        )
        launch_template.add_security_group(
            ec2.SecurityGroup.from_security_group_id(
                self, "ClusterSecurityGroup", self.cluster.cluster_security_group_id
            )
        )
        self.nodegroup = self.cluster.add_nodegroup_capacity(
            "AppNodes",
            nodegroup_name=self._config.nodegroup_name,
            instance_types=[ec2.InstanceType(k8s.node_instance_type)],
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            min_size=k8s.node_min_size,
            max_size=k8s.node_max_size,
            desired_size=k8s.node_desired_size,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template_spec=eks.LaunchTemplateSpec(
                id=launch_template.launch_template_id or "",
                version=launch_template.latest_version_number,
            ),
            enable_node_auto_repair=True,
            max_unavailable=1,
        )
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKS_CNI_Policy",
        ):
            acknowledge(
                self.nodegroup.role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                "EKS managed node groups require the AWS-managed worker, ECR read-only and "
                "CNI policies on the node role.",
            )

    def _addons(self) -> None:
        # Versions are left to EKS's default for the cluster's Kubernetes version, fixed at
        # creation; a cluster upgrade is when add-ons move (see docs/decisions.md).
        # Node-level add-ons exist before the nodes join (network policy on from the start);
        # add-ons that run as Deployments wait for the nodes.
        before_nodes: list[Construct] = []
        after_nodes: list[Construct] = []
        vpc_cni = eks.Addon(
            self,
            "VpcCni",
            cluster=self._icluster,
            addon_name="vpc-cni",
            # NetworkPolicy enforcement by the VPC CNI's network-policy agent.
            configuration_values={"enableNetworkPolicy": "true"},
        )
        before_nodes.append(vpc_cni)
        for construct_id, name, group in (
            ("KubeProxy", "kube-proxy", before_nodes),
            ("PodIdentityAgent", "eks-pod-identity-agent", before_nodes),
            ("CoreDns", "coredns", after_nodes),
            ("MetricsServer", "metrics-server", after_nodes),
        ):
            group.append(eks.Addon(self, construct_id, cluster=self._icluster, addon_name=name))

        ebs_role = self._pod_role("EbsCsiRole", "EBS CSI controller")
        ebs_role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEBSCSIDriverPolicy")
        )
        acknowledge(
            ebs_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy]",
            "The EBS CSI driver needs AWS's own policy for it; AWS keeps it in step with the "
            "driver's API calls.",
        )
        ebs = eks.Addon(
            self, "EbsCsiDriver", cluster=self._icluster, addon_name="aws-ebs-csi-driver"
        )
        cfn_ebs = ebs.node.default_child
        assert isinstance(cfn_ebs, eks.CfnAddon)
        cfn_ebs.pod_identity_associations = [
            eks.CfnAddon.PodIdentityAssociationProperty(
                role_arn=ebs_role.role_arn, service_account="ebs-csi-controller-sa"
            )
        ]
        after_nodes.append(ebs)

        # Container Insights node/pod metrics for the CloudWatch dashboard; logs stay with
        # Fluent Bit (monitoring charts), so the add-on's own log shipping is off.
        insights_role = self._pod_role("CloudWatchAgentRole", "CloudWatch agent")
        insights_role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchAgentServerPolicy")
        )
        acknowledge(
            insights_role,
            f"{_IAM4}CloudWatchAgentServerPolicy]",
            "The CloudWatch agent's own AWS-managed policy (PutMetricData, its log groups).",
        )
        insights = eks.Addon(
            self,
            "CloudWatchObservability",
            cluster=self._icluster,
            addon_name="amazon-cloudwatch-observability",
            configuration_values={"containerLogs": {"enabled": False}},
        )
        cfn_insights = insights.node.default_child
        assert isinstance(cfn_insights, eks.CfnAddon)
        cfn_insights.pod_identity_associations = [
            eks.CfnAddon.PodIdentityAssociationProperty(
                role_arn=insights_role.role_arn, service_account="cloudwatch-agent"
            )
        ]
        after_nodes.append(insights)
        for addon in before_nodes:
            self.nodegroup.node.add_dependency(addon)
        for addon in after_nodes:
            addon.node.add_dependency(self.nodegroup)

    def _external_secrets(self, inputs: ClusterInputs) -> None:
        """External Secrets Operator syncs the Aurora and cache secrets into the namespace."""
        role = self._pod_role("ExternalSecretsRole", "External Secrets Operator")
        for secret in (inputs.aurora_secret, inputs.cache_secret):
            grant_secret_read(role, secret, inputs.data_key)
        for secret in (self.grafana_admin_secret, self.slack_webhooks_secret):
            secret.grant_read(role)
        association = self._pod_identity(
            EXTERNAL_SECRETS_SERVICE_ACCOUNT, EXTERNAL_SECRETS_NAMESPACE, role
        )
        self.external_secrets = self.cluster.add_helm_chart(
            "ExternalSecrets",
            chart="external-secrets",
            repository="https://charts.external-secrets.io",
            version=EXTERNAL_SECRETS_CHART_VERSION,
            release="external-secrets",
            namespace=EXTERNAL_SECRETS_NAMESPACE,
            create_namespace=True,
            wait=True,
            # A first deploy waits for nodes, images and webhooks; Helm's 5 min is tight.
            timeout=Duration.minutes(15),
            values={
                "installCRDs": True,
                "serviceAccount": {"name": EXTERNAL_SECRETS_SERVICE_ACCOUNT},
            },
        )
        # Its pods need the nodes to run on and their credentials from the first start.
        self.external_secrets.node.add_dependency(association)
        self.external_secrets.node.add_dependency(self.nodegroup)

    def _web_acl(self) -> wafv2.CfnWebACL:
        """WAF in front of the ALB: AWS common, SQLi and known-bad-inputs rule groups, and a
        per-IP rate limit."""
        prefix = self._config.prefix

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{prefix}-{name}",
                sampled_requests_enabled=True,
            )

        def managed(priority: int, name: str) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=visibility(name),
            )

        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{prefix}-alb",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("alb"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-limit-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=self._config.kubernetes.waf_rate_limit_per_5min,
                            evaluation_window_sec=300,
                        )
                    ),
                    visibility_config=visibility("rate-limit"),
                ),
                managed(1, "AWSManagedRulesCommonRuleSet"),
                managed(2, "AWSManagedRulesSQLiRuleSet"),
                # Log4Shell-style and other known-bad request patterns.
                managed(3, "AWSManagedRulesKnownBadInputsRuleSet"),
            ],
        )

    def _monitoring_secrets(self) -> None:
        """Grafana's admin login (generated) and Alertmanager's Slack webhooks (set by ops)."""
        secrets = self.monitoring_values.secrets
        removal = retain_or_destroy(self._config.storage.retain_on_delete)
        self.grafana_admin_secret = secretsmanager.Secret(
            self,
            "GrafanaAdminSecret",
            secret_name=secrets.grafana_admin_remote_name,
            description=f"{self._config.prefix}: Grafana admin login (synced by ESO)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"admin-user": "admin"}',
                generate_string_key="admin-password",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=removal,
        )
        # The webhook URLs come from Slack; operators put them in (docs/monitoring.md).
        # Until then every receiver points nowhere and Alertmanager waits for the secret.
        self.slack_webhooks_secret = secretsmanager.Secret(
            self,
            "SlackWebhooksSecret",
            secret_name=secrets.slack_remote_name,
            description=f"{self._config.prefix}: Alertmanager Slack webhook URL per receiver",
            removal_policy=removal,
        )
        for secret, reason in (
            (
                self.grafana_admin_secret,
                "Grafana reads its admin password at start; rotate by updating the secret "
                "and restarting Grafana (secret rotation runbook).",
            ),
            (
                self.slack_webhooks_secret,
                "Slack issues webhook URLs; they are replaced in Slack and here, by hand "
                "(secret rotation runbook).",
            ),
        ):
            acknowledge(secret, "AwsSolutions-SMG4", reason)

    def _fluent_bit_identity(self) -> eks.CfnPodIdentityAssociation:
        """Fluent Bit may write streams of the application log group, nothing else."""
        values = self.monitoring_values
        role = self._pod_role("FluentBitRole", "Fluent Bit")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.application_log_group.log_group_arn],
            )
        )
        return self._pod_identity(values.fluent_bit_service_account, values.agents_namespace, role)

    # --- pod IAM ----------------------------------------------------------------------------
    def _pod_role(self, construct_id: str, purpose: str) -> iam.Role:
        """An IAM role that EKS Pod Identity can hand to one service account."""
        return iam.Role(
            self,
            construct_id,
            description=f"{self._config.prefix}: pod role of the {purpose}",
            assumed_by=iam.ServicePrincipal("pods.eks.amazonaws.com").with_session_tags(),
        )

    def _pod_identity(
        self, service_account: str, namespace: str, role: iam.IRole
    ) -> eks.CfnPodIdentityAssociation:
        """EKS Pod Identity for one service account.

        EKS injects credentials only into pods created after the association exists, so
        whatever starts those pods (a Helm chart, a manifest) must depend on it. The
        association itself needs only the cluster (its name is a reference to it).
        """
        return eks.CfnPodIdentityAssociation(
            self,
            f"PodIdentity-{namespace}-{service_account}",
            cluster_name=self.cluster.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.role_arn,
        )

    def _backend_pod_role(self, uploads_bucket: s3.IBucket, bus: events.IEventBus) -> iam.Role:
        """The backend reads and writes user uploads and publishes order events; no more."""
        role = self._pod_role("BackendRole", "backend")
        # From the bucket's fixed name (config): readable in review, one fewer import.
        uploads_arn = f"arn:aws:s3:::{self._config.uploads_bucket_name}"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[f"{uploads_arn}/uploads/*"],
            )
        )
        # Thumbnails are the image-processor's output: the backend reads (and presigns) them.
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{uploads_arn}/thumbnails/*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[uploads_arn],
                conditions={"StringLike": {"s3:prefix": ["uploads/*"]}},
            )
        )
        if uploads_bucket.encryption_key is not None:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[uploads_bucket.encryption_key.key_arn],
                )
            )
        role.add_to_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus.event_bus_arn])
        )
        for prefix in ("uploads", "thumbnails"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{uploads_arn}/{prefix}/*]",
                f"Any number of images live under {prefix}/; the object wildcard is the "
                "narrowest grant for that, limited to the one bucket and prefix.",
            )
        return role

    def _acknowledge_cdk_owned_findings(self) -> None:
        """Findings on IAM that aws-eks-v2 builds for us, each with why it stays as it is."""
        basic = f"{_IAM4}service-role/AWSLambdaBasicExecutionRole]"
        vpc_access = f"{_IAM4}service-role/AWSLambdaVPCAccessExecutionRole]"
        provider = self.cluster.node.find_child("KubectlProvider")
        handler = provider.node.find_child("Handler")
        on_event = provider.node.find_child("Provider").node.find_child("framework-onEvent")
        handler_id = self.get_logical_id(handler.node.default_child)  # type: ignore[arg-type]
        ecr_public = self.get_logical_id(handler.node.find_child("HasEcrPublic"))  # type: ignore[arg-type]
        kubectl_reason = (
            "CDK's kubectl provider (deploy-time only) runs in the VPC and pulls its layer; "
            "its role and runtime are the construct's own."
        )
        owned: list[tuple[IConstruct, list[str], str]] = [
            (
                self.cluster.role,
                [f"{_IAM4}AmazonEKSClusterPolicy]"],
                "EKS requires the AWS-managed cluster policy on the cluster role.",
            ),
            (
                handler,
                [
                    "AwsSolutions-L1",
                    basic,
                    vpc_access,
                    f"{_IAM4}AmazonEC2ContainerRegistryReadOnly]",
                    # The policy the handler adds only where ECR Public exists (a condition).
                    f'{_IAM4_BARE}{{"Fn::If":["{ecr_public}",{{"Fn::Join":["",["arn:",'
                    '{"Ref":"AWS::Partition"},":iam::aws:policy/'
                    'AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]',
                ],
                kubectl_reason,
            ),
            (
                on_event,
                [basic, vpc_access, f"AwsSolutions-IAM5[Resource::<{handler_id}.Arn>:*]"],
                kubectl_reason,
            ),
        ]
        controller = self.cluster.alb_controller
        if controller is not None:
            owned.append(
                (
                    controller,
                    [f"AwsSolutions-IAM5[Resource::{r}]" for r in _ALB_CONTROLLER_RESOURCES],
                    "The AWS Load Balancer Controller's upstream IAM policy, as aws-eks-v2 "
                    "ships it: it creates and tags ALBs, target groups and security groups "
                    "whose names it picks at run time.",
                )
            )
        for scope, rule_ids, reason in owned:
            for rule_id in rule_ids:
                acknowledge(scope, rule_id, reason)

    # --- charts -----------------------------------------------------------------------------
    def _apply_charts(self, identities: dict[str, eks.CfnPodIdentityAssociation]) -> None:
        app = cdk8s.App()
        charts = add_app_charts(app, self.chart_values)
        # Monitoring comes after the apps: it binds roles and policies in the app namespace.
        charts |= add_monitoring_charts(app, self.monitoring_values)
        previous: Construct | None = self.external_secrets
        self.manifests: dict[str, eks.KubernetesManifest] = {}
        for name in (*CHART_KINDS, *MONITORING_CHART_KINDS):
            manifest = self.cluster.add_cdk8s_chart(
                f"Chart-{name}", charts[name], ingress_alb=False, prune=True
            )
            if previous is not None:
                manifest.node.add_dependency(previous)
            if name == "ingress" and self.cluster.alb_controller is not None:
                manifest.node.add_dependency(self.cluster.alb_controller)
            if name == "fluent-bit":
                manifest.node.add_dependency(self.application_log_group)
            if name in identities:
                manifest.node.add_dependency(identities[name])
            self.manifests[name] = manifest
            previous = manifest
