"""The cluster's own settings and log groups: endpoint access, control-plane log types,
support policy, and the log groups EKS and the CloudWatch Observability add-on write to.

The log groups are created with the stack as their scope (stateful: their logical IDs never
depend on where the code that makes them lives).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_logs as logs

from openmarket_cdk.common import log_retention
from openmarket_cdk.config import StageConfig

# The CloudWatch Observability add-on's log groups (kind -> logical id, which never changes).
CONTAINER_INSIGHTS_LOG_GROUPS = {
    "application": "ApplicationLogs",
    "dataplane": "DataplaneLogs",
    "host": "HostLogs",
    "performance": "PerformanceLogs",
}
NODE_LOG_GROUPS = ("dataplane", "host")


def control_plane_logs(stack: Stack, config: StageConfig, removal: RemovalPolicy) -> logs.LogGroup:
    """EKS would create this group without retention; made here, the cluster waits for it."""
    return logs.LogGroup(
        stack,
        "ControlPlaneLogs",
        log_group_name=f"/aws/eks/{config.names.cluster_name}/cluster",
        retention=log_retention(config.kubernetes.control_plane_log_retention_days),
        removal_policy=removal,
    )


def container_insights_logs(
    stack: Stack, config: StageConfig, removal: RemovalPolicy
) -> dict[str, logs.LogGroup]:
    """The CloudWatch Observability add-on writes the container logs (its Fluent Bit), the
    nodes' logs and the Container Insights metrics to these; it would create a missing one
    without retention, so they are made first, with the stage's."""
    return {
        kind: logs.LogGroup(
            stack,
            construct_id,
            log_group_name=config.names.container_insights_log_group_name(kind),
            retention=log_retention(config.kubernetes.application_log_retention_days),
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


def endpoint_access(config: StageConfig) -> eks.EndpointAccess:
    cidrs = list(config.kubernetes.public_endpoint_cidrs)
    if not cidrs:
        return eks.EndpointAccess.PRIVATE
    # dev: reachable from the configured office/VPN ranges only, never 0.0.0.0/0.
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*cidrs)


def control_plane_log_types(config: StageConfig) -> list[eks.ClusterLoggingTypes]:
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


def standard_support_only(cluster: eks.Cluster, config: StageConfig) -> None:
    """Standard support only: extended support costs 6x the control plane and would arrive
    silently when the version ages. Deletion protection as the stage's termination
    protection."""
    cfn_cluster = cluster.node.default_child
    assert isinstance(cfn_cluster, eks.CfnCluster)
    cfn_cluster.upgrade_policy = eks.CfnCluster.UpgradePolicyProperty(support_type="STANDARD")
    cfn_cluster.deletion_protection = config.termination_protection


def admin_access(stack: Stack, config: StageConfig, cluster: eks.ICluster) -> eks.AccessEntry:
    """The stage's admin role is cluster admin (``AdminAccess``, the stack's child)."""
    return eks.AccessEntry(
        stack,
        "AdminAccess",
        cluster=cluster,
        principal=config.names.admin_role_arn,
        access_policies=[
            eks.AccessPolicy.from_access_policy_name(
                "AmazonEKSClusterAdminPolicy", access_scope_type=eks.AccessScopeType.CLUSTER
            )
        ],
    )
