"""PlatformMetrics: the CloudWatch metrics the observability stack's alarms and dashboard read,
and the deploy-time lookups (the ALB's id, the NAT instances' ids) some of them need."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr

from openmarket_cdk.config import StageConfig
from openmarket_cdk.nag import acknowledge

FIVE_MINUTES = Duration.minutes(5)
# The singleton function AwsCustomResource puts in the stack (a fixed id inside CDK).
_AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def load_balancer_dimension(stack: Stack, config: StageConfig, load_balancer_name: str) -> str:
    """``app/<name>/<id>``: the ALB belongs to the ingress controller, so look it up.

    The ALB is created by the AWS Load Balancer Controller from the Ingress; its id is only
    known once it exists. This stack depends on the cluster stack, which completes only
    once the controller has made the ALB (``LoadBalancerReady``, a bounded wait that names
    the Ingress when it fails) and publishes its DNS name in SSM; a deploy-time
    DescribeLoadBalancers finds it, and runs again whenever that name changed (a new ALB).
    The ARN's last three parts are the dimension.

    The lookup is the stack's own child (``LoadBalancerLookup``), as it always was.
    """
    # The cluster stack publishes the ALB's DNS name, read here at every deploy: a new
    # ALB (new name) is a new physical id, so the lookup runs again.
    hostname = ssm.StringParameter.value_for_string_parameter(
        stack, config.names.load_balancer_hostname_parameter
    )
    lookup = cr.AwsCustomResource(
        stack,
        "LoadBalancerLookup",
        on_update=cr.AwsSdkCall(
            service="ElasticLoadBalancingV2",
            action="describeLoadBalancers",
            parameters={"Names": [load_balancer_name]},
            physical_resource_id=cr.PhysicalResourceId.of(hostname),
            output_paths=["LoadBalancers.0.LoadBalancerArn"],
        ),
        policy=cr.AwsCustomResourcePolicy.from_statements(
            [
                iam.PolicyStatement(
                    actions=["elasticloadbalancing:DescribeLoadBalancers"],
                    # Describe* has no resource-level permissions.
                    resources=["*"],
                )
            ]
        ),
        install_latest_aws_sdk=False,
    )
    acknowledge(
        lookup,
        "AwsSolutions-IAM5[Resource::*]",
        "elasticloadbalancing:DescribeLoadBalancers has no resource-level permissions; "
        "the lookup only reads.",
    )
    provider = stack.node.try_find_child(_AWS_CUSTOM_RESOURCE_PROVIDER_ID)
    if provider is not None:
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's own AwsCustomResource provider (deploy-time only) uses the basic role.",
        )
    arn = lookup.get_response_field("LoadBalancers.0.LoadBalancerArn")
    # arn:aws:elasticloadbalancing:region:account:loadbalancer/app/<name>/<id>
    return Fn.select(1, Fn.split(":loadbalancer/", arn))


def nat_instance_ids(stack: Stack, config: StageConfig) -> list[str]:
    """The NAT instance ids, from the network stack's SSM parameter, resolved at each
    deploy of this stack (not an export: see NetworkStack)."""
    count = config.network.nat_instance_count
    if not count:
        return []
    ids = ssm.StringParameter.value_for_string_parameter(
        stack, config.names.nat_instance_ids_parameter
    )
    return [Fn.select(index, Fn.split(",", ids, count)) for index in range(count)]


class PlatformMetrics:
    """The stage's metrics by source, every one over five minutes unless it says otherwise:
    the ALB (by its id, or for a sleeping ALB by name), the EKS nodes, Aurora (the cluster,
    or one role of its instances), each cache node, and the NAT gateways and instances.

    ``load_balancer`` is the ALB's dimension (``load_balancer_dimension``), ``None`` for an
    ALB that sleeps: a new one each morning, with a new id.
    """

    def __init__(
        self,
        config: StageConfig,
        *,
        aurora_cluster_identifier: str,
        cache_replication_group_id: str,
        cache_node_count: int,
        load_balancer_name: str,
        load_balancer: str | None,
        nat_gateway_ids: Sequence[str],
        nat_instance_ids: Sequence[str],
    ) -> None:
        self._config = config
        self._aurora_cluster_identifier = aurora_cluster_identifier
        self._cache_replication_group_id = cache_replication_group_id
        self.cache_nodes = range(1, cache_node_count + 1)
        self.load_balancer_name = load_balancer_name
        self.load_balancer = load_balancer
        self._nat_gateway_ids = tuple(nat_gateway_ids)
        self._nat_instance_ids = tuple(nat_instance_ids)

    def alb(self, metric: str, statistic: str = "Sum") -> cloudwatch.IMetric:
        if self.load_balancer is None:
            # Whichever ALB of this name exists (a sleeping one is recreated every morning).
            return cloudwatch.MathExpression(
                expression=(
                    "SEARCH('{AWS/ApplicationELB,LoadBalancer} "
                    f'MetricName="{metric}" {self.load_balancer_name}\', '
                    f"'{statistic}', 300)"
                ),
                label=metric,
                period=FIVE_MINUTES,
            )
        return cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name=metric,
            dimensions_map={"LoadBalancer": self.load_balancer},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def alb_healthy_targets(self) -> cloudwatch.MathExpression:
        """Healthy targets of every target group of the ALB (found by name)."""
        return cloudwatch.MathExpression(
            expression=(
                "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} "
                'MetricName="HealthyHostCount" '
                f"{self.load_balancer_name}', 'Minimum', 300)"
            ),
            label="healthy",
            period=FIVE_MINUTES,
        )

    def aurora(self, metric: str, statistic: str = "Average") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=metric,
            dimensions_map={"DBClusterIdentifier": self._aurora_cluster_identifier},
            statistic=statistic,
            period=FIVE_MINUTES,
        )

    def aurora_role(self, metric: str, role: str, statistic: str = "Average") -> cloudwatch.Metric:
        """A metric of every instance in one role (WRITER or READER), by cluster: readers
        that Aurora Auto Scaling adds are covered without knowing their instance ids."""
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=metric,
            dimensions_map={
                "DBClusterIdentifier": self._aurora_cluster_identifier,
                "Role": role,
            },
            statistic=statistic,
            period=FIVE_MINUTES,
            label=role.lower(),
        )

    @property
    def has_readers(self) -> bool:
        return self._config.aurora.max_reader_count > 0

    def aurora_by_role(self, metric: str, statistic: str = "Average") -> list[cloudwatch.Metric]:
        """The writer and, where there are readers, the readers (however many) apart."""
        if not self.has_readers:
            return [self.aurora(metric, statistic)]
        return [self.aurora_role(metric, role, statistic) for role in ("WRITER", "READER")]

    def cache(self, metric: str, node: int = 1, statistic: str = "Average") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ElastiCache",
            metric_name=metric,
            dimensions_map={"CacheClusterId": f"{self._cache_replication_group_id}-{node:03d}"},
            statistic=statistic,
            period=FIVE_MINUTES,
            label=f"node {node:03d}",
        )

    def nodes(self, metric: str) -> cloudwatch.Metric:
        # Container Insights (amazon-cloudwatch-observability add-on) node metrics.
        return cloudwatch.Metric(
            namespace="ContainerInsights",
            metric_name=metric,
            dimensions_map={"ClusterName": self._config.names.cluster_name},
            statistic="Average",
            period=FIVE_MINUTES,
        )

    def nat_bytes_out(self) -> list[cloudwatch.Metric]:
        """Bytes out of each NAT gateway and each NAT instance."""
        return [
            cloudwatch.Metric(
                namespace="AWS/NATGateway",
                metric_name="BytesOutToDestination",
                dimensions_map={"NatGatewayId": gateway},
                statistic="Sum",
                period=FIVE_MINUTES,
            )
            for gateway in self._nat_gateway_ids
        ] + [
            cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name="NetworkOut",
                dimensions_map={"InstanceId": instance},
                statistic="Sum",
                period=FIVE_MINUTES,
                label="NAT instance bytes out",
            )
            for instance in self._nat_instance_ids
        ]
