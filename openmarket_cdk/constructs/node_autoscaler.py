"""NodeAutoscaler: the Cluster Autoscaler on the app node group, with Pod Identity."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from openmarket_cdk.common import helm_resources
from openmarket_cdk.config import StageConfig
from openmarket_cdk.constructs.helm_timeouts import HELM_RELEASE_TIMEOUT
from openmarket_cdk.constructs.pod_identity import PodIdentity
from openmarket_cdk.nag import acknowledge

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# fullnameOverride: the Deployment the night schedule scales is called exactly this.
DEPLOYMENT = "cluster-autoscaler"
SCHEDULE_SERVICE_ACCOUNT = "cluster-autoscaler-schedule"
_WEEKDAY_NAMES = {"MON-FRI": "1-5", "MON-SAT": "1-6", "SUN-SAT": "0-6"}


class NodeAutoscaler(Construct):
    """Cluster Autoscaler (kubernetes/autoscaler Helm chart) scaling the managed node group
    between its min and max by what Pending pods need, and removing idle nodes.

    It finds the group by the tags EKS puts on a managed node group's Auto Scaling group
    (``k8s.io/cluster-autoscaler/enabled``, ``k8s.io/cluster-autoscaler/<cluster>``), and may
    change the desired size of, or terminate instances in, that group only (IAM conditioned on
    the group's tags and name). With dev's working hours, two CronJobs scale the autoscaler to
    0 a few minutes before the node group is scaled to 0, so it cannot scale the group back up
    while the nodes drain, and back up once the morning schedule has brought the nodes back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: eks.Cluster,
        nodegroup: eks.Nodegroup,
    ) -> None:
        super().__init__(scope, construct_id)
        autoscaler = config.kubernetes.node_autoscaler
        identity = PodIdentity(
            self,
            "PodIdentity",
            # aws-eks-v2's Python stubs miss a member of ICluster on Cluster; it is one.
            cluster=cast(eks.ICluster, cluster),
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description=f"{config.prefix}: pod role of the Cluster Autoscaler",
        )
        self.role = identity.role
        _grant_autoscaling(self.role, config, nodegroup)

        values: dict[str, Any] = {
            "cloudProvider": "aws",
            # Pods cannot reach IMDS (hop limit 1), so the region is given, not discovered.
            "awsRegion": config.region,
            "autoDiscovery": {"clusterName": config.cluster_name},
            "fullnameOverride": DEPLOYMENT,
            "image": {"tag": autoscaler.image_tag},
            "replicaCount": autoscaler.replicas,
            "resources": helm_resources(autoscaler.resources),
            "rbac": {"serviceAccount": {"name": SERVICE_ACCOUNT}},
            "extraArgs": {
                "balance-similar-node-groups": True,
                "expander": autoscaler.expander,
                # Every node runs some kube-system Deployment pod (CoreDNS, controllers) and
                # emptyDir volumes; with the defaults no node would ever be removed.
                "skip-nodes-with-system-pods": False,
                "skip-nodes-with-local-storage": False,
                "scale-down-unneeded-time": f"{autoscaler.scale_down_unneeded_minutes}m",
                "scale-down-delay-after-add": f"{autoscaler.scale_down_delay_after_add_minutes}m",
                "scale-down-utilization-threshold": autoscaler.scale_down_utilization_threshold,
            },
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        hours = config.observability.working_hours
        if hours.enabled:
            values["extraObjects"] = night_schedule_objects(config)
        # The release is the cluster's child (Cluster/chart-ClusterAutoscaler).
        self.chart = cluster.add_helm_chart(
            "ClusterAutoscaler",
            chart="cluster-autoscaler",
            repository="https://kubernetes.github.io/autoscaler",
            version=autoscaler.chart_version,
            release="cluster-autoscaler",
            namespace=NAMESPACE,
            create_namespace=False,  # kube-system exists
            wait=True,
            timeout=HELM_RELEASE_TIMEOUT,
            values=values,
        )
        # Credentials before the first pod; nodes before the release waits for its pod.
        self.chart.node.add_dependency(identity.association)
        self.chart.node.add_dependency(nodegroup)


def _grant_autoscaling(role: iam.IRole, config: StageConfig, nodegroup: eks.Nodegroup) -> None:
    """The upstream policy (cluster-autoscaler/cloudprovider/aws/README.md, "Full Cluster
    Autoscaler Features Policy"), with the two mutating actions limited to this node group's
    Auto Scaling group by its tags and its name (EKS names it ``eks-<nodegroup>-<uuid>``)."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            resources=["*"],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[nodegroup.nodegroup_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ],
            resources=[
                stack.format_arn(
                    service="autoscaling",
                    resource="autoScalingGroup",
                    resource_name=f"*:autoScalingGroupName/eks-{config.nodegroup_name}-*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            conditions={
                "StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{config.cluster_name}": "owned",
                    "aws:ResourceTag/eks:nodegroup-name": config.nodegroup_name,
                }
            },
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "Describe calls of Auto Scaling and EC2 support no resource-level permissions; the "
        "mutating calls are limited to this node group's Auto Scaling group.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::arn:{stack.partition}:autoscaling:"
        f"{config.region}:{config.account}:autoScalingGroup:*:autoScalingGroupName/"
        f"eks-{config.nodegroup_name}-*]",
        "EKS names the managed node group's Auto Scaling group with a random suffix; the "
        "statement also requires the group's cluster-autoscaler and node group tags.",
    )


def _cron_weekdays(weekdays: str) -> str:
    return _WEEKDAY_NAMES.get(weekdays.upper(), weekdays)


def night_schedule_objects(config: StageConfig) -> list[dict[str, Any]]:
    """RBAC and two CronJobs (in the autoscaler's release) that scale the autoscaler's own
    Deployment: to 0 before the working-hours schedule empties the node group, back to its
    replica count when the nodes return. The scaler may scale this one Deployment, nothing
    else."""
    hours = config.observability.working_hours
    autoscaler = config.kubernetes.node_autoscaler
    stop_minute = 60 - autoscaler.sleep_minutes_before_stop
    weekdays = _cron_weekdays(hours.weekdays)
    labels = {"app.kubernetes.io/name": "cluster-autoscaler-schedule"}
    rbac: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SCHEDULE_SERVICE_ACCOUNT, "namespace": NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": SCHEDULE_SERVICE_ACCOUNT, "namespace": NAMESPACE},
            "rules": [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "deployments/scale"],
                    "resourceNames": [DEPLOYMENT],
                    "verbs": ["get", "patch", "update"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": SCHEDULE_SERVICE_ACCOUNT, "namespace": NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": SCHEDULE_SERVICE_ACCOUNT,
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": SCHEDULE_SERVICE_ACCOUNT,
                    "namespace": NAMESPACE,
                }
            ],
        },
    ]
    return [
        *rbac,
        _scale_cronjob(
            "cluster-autoscaler-sleep",
            f"{stop_minute} {hours.stop_hour - 1} * * {weekdays}",
            0,
            config,
            labels,
        ),
        # At start_hour the node group is scaled back; this Job's pod waits (Pending) for the
        # first node, then brings the autoscaler back.
        _scale_cronjob(
            "cluster-autoscaler-wake",
            f"0 {hours.start_hour} * * {weekdays}",
            autoscaler.replicas,
            config,
            labels,
        ),
    ]


def _scale_cronjob(
    name: str, schedule: str, replicas: int, config: StageConfig, labels: dict[str, str]
) -> dict[str, Any]:
    hours = config.observability.working_hours
    image = config.kubernetes.node_autoscaler.kubectl_image
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "schedule": schedule,
            "timeZone": hours.time_zone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 3,
                    # The morning Job waits for the first node (a few minutes).
                    "activeDeadlineSeconds": 3600,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": SCHEDULE_SERVICE_ACCOUNT,
                            "restartPolicy": "OnFailure",
                            "priorityClassName": "system-cluster-critical",
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 65534,
                                "runAsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": "kubectl",
                                    "image": image,
                                    "args": [
                                        "scale",
                                        f"deployment/{DEPLOYMENT}",
                                        f"--replicas={replicas}",
                                        f"--namespace={NAMESPACE}",
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"cpu": "100m", "memory": "64Mi"},
                                    },
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]},
                                    },
                                }
                            ],
                        },
                    },
                }
            },
        },
    }
