"""Each priced resource type, on small synthetic templates, against the price table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.tools.cost.helpers import H, estimate, items, p, res, stack, usd
from tools.assembly import Resource
from tools.cost.context import StageContext
from tools.cost.model import Outcome
from tools.cost.rules import FREE_TYPES, RULES, SERVICES, Service, registry

INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "web",
        "namespace": "openmarket-prod",
        "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
    },
    "spec": {"ingressClassName": "alb"},
}


def manifest(*objects: dict[str, Any], token: bool = False) -> Any:
    """A manifest as the CDK writes it: a JSON string, or a Fn::Join around a token."""
    text = json.dumps(list(objects))
    if not token:
        return text
    head, tail = text.split("WAF_ARN")
    return {"Fn::Join": ["", [head, {"Fn::GetAtt": ["WebAcl", "Arn"]}, tail]]}


# One minimal resource per priced type: every rule must price its sample without error.
SAMPLES: dict[str, dict[str, Any]] = {
    "AWS::EKS::Cluster": res("AWS::EKS::Cluster", Name="c", Version="1.35"),
    "AWS::EKS::Nodegroup": res(
        "AWS::EKS::Nodegroup", InstanceTypes=["t3.medium"], ScalingConfig={"DesiredSize": 2}
    ),
    "AWS::EC2::Instance": res("AWS::EC2::Instance", InstanceType="t3.micro"),
    "AWS::EC2::NatGateway": res("AWS::EC2::NatGateway"),
    "AWS::EC2::EIP": res("AWS::EC2::EIP"),
    "AWS::EC2::VPCEndpoint": res("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface"),
    "AWS::EC2::FlowLog": res("AWS::EC2::FlowLog", LogDestinationType="s3"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": res("AWS::ElasticLoadBalancingV2::LoadBalancer"),
    "Custom::AWSCDK-EKS-KubernetesResource": res(
        "Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(INGRESS)
    ),
    "Custom::AWSCDK-EKS-HelmChart": res("Custom::AWSCDK-EKS-HelmChart", Chart="metrics-server"),
    "AWS::RDS::DBCluster": res("AWS::RDS::DBCluster", Engine="aurora-mysql"),
    "AWS::RDS::DBInstance": res(
        "AWS::RDS::DBInstance",
        Engine="aurora-mysql",
        DBInstanceClass="db.t4g.medium",
        DBClusterIdentifier={"Ref": "Cluster"},
    ),
    "AWS::ElastiCache::ReplicationGroup": res(
        "AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro"
    ),
    "AWS::ElastiCache::CacheCluster": res(
        "AWS::ElastiCache::CacheCluster", CacheNodeType="cache.t3.micro", NumCacheNodes=1
    ),
    "AWS::DynamoDB::Table": res("AWS::DynamoDB::Table", BillingMode="PAY_PER_REQUEST"),
    "AWS::DynamoDB::GlobalTable": res("AWS::DynamoDB::GlobalTable", BillingMode="PAY_PER_REQUEST"),
    "AWS::S3::Bucket": res("AWS::S3::Bucket"),
    "AWS::ECR::Repository": res("AWS::ECR::Repository"),
    "AWS::Logs::LogGroup": res("AWS::Logs::LogGroup", RetentionInDays=30),
    "AWS::CloudWatch::Alarm": res("AWS::CloudWatch::Alarm", Period=300),
    "AWS::CloudWatch::CompositeAlarm": res("AWS::CloudWatch::CompositeAlarm"),
    "AWS::CloudWatch::Dashboard": res("AWS::CloudWatch::Dashboard"),
    "AWS::Budgets::Budget": res("AWS::Budgets::Budget"),
    "AWS::Lambda::Function": res("AWS::Lambda::Function", MemorySize=512),
    "AWS::SQS::Queue": res("AWS::SQS::Queue"),
    "AWS::Events::EventBus": res("AWS::Events::EventBus", Name="bus"),
    "AWS::Scheduler::Schedule": res("AWS::Scheduler::Schedule", ScheduleExpression="rate(1 hour)"),
    "AWS::SSM::Parameter": res("AWS::SSM::Parameter", Tier="Advanced"),
    "AWS::KMS::Key": res("AWS::KMS::Key"),
    "AWS::SecretsManager::Secret": res("AWS::SecretsManager::Secret"),
    "AWS::WAFv2::WebACL": res("AWS::WAFv2::WebACL", Rules=[{"Name": "a"}]),
    "AWS::ApplicationAutoScaling::ScalableTarget": res(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        ScalableDimension="rds:cluster:ReadReplicaCount",
        ServiceNamespace="rds",
        ResourceId="cluster:openmarket-prod-aurora",
        MinCapacity=1,
        MaxCapacity=3,
    ),
}
# Priced at its ceiling only: nothing above the minimum is expected.
CEILING_ONLY = {"AWS::ApplicationAutoScaling::ScalableTarget"}


def test_every_rule_has_a_sample() -> None:
    assert set(SAMPLES) == set(RULES)


def test_no_type_is_both_free_and_priced() -> None:
    assert not set(FREE_TYPES) & set(RULES)
    assert all(len(reason) > 5 for reason in FREE_TYPES.values())


@pytest.mark.parametrize("resource_type", sorted(SAMPLES))
def test_each_priced_type_yields_a_line_item(resource_type: str) -> None:
    resources = {"Sample": SAMPLES[resource_type]}
    if resource_type in ("AWS::RDS::DBInstance", "AWS::ApplicationAutoScaling::ScalableTarget"):
        resources["Cluster"] = res(
            "AWS::RDS::DBCluster",
            Engine="aurora-mysql",
            DBClusterIdentifier="openmarket-prod-aurora",
        )
    if resource_type == "AWS::ApplicationAutoScaling::ScalableTarget":
        resources["Writer"] = SAMPLES["AWS::RDS::DBInstance"]
    result = estimate(resources)
    assert not result.unpriced, result.unpriced
    found = items(result, "Sample")
    if resource_type == "Custom::AWSCDK-EKS-HelmChart":  # known charts are free, with reason
        assert [f.resource for f in result.free] == ["prod/Test/Sample"]
        return
    if resource_type in CEILING_ONLY:
        assert found and all(i.monthly_usd == 0 < i.ceiling_usd for i in found)
    else:
        assert found and all(i.monthly_usd > 0 for i in found)
    assert all(i.prices for i in found), "every line item cites its prices"


# --- compute and network ---------------------------------------------------------------------


def test_eks_control_plane_is_0_10_per_hour() -> None:
    result = estimate({"Cluster": SAMPLES["AWS::EKS::Cluster"]})
    assert usd(result, "Cluster") == pytest.approx(0.10 * 730)
    assert items(result, "Cluster")[0].category == "EKS control plane"


def test_node_group_is_instance_type_times_desired_size_plus_launch_template_volumes() -> None:
    result = estimate(
        {
            "Template": res(
                "AWS::EC2::LaunchTemplate",
                LaunchTemplateData={
                    "BlockDeviceMappings": [{"Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}]
                },
            ),
            "Nodes": res(
                "AWS::EKS::Nodegroup",
                NodegroupName="apps",
                InstanceTypes=["t3.medium"],
                ScalingConfig={"MinSize": 2, "DesiredSize": 3, "MaxSize": 4},
                LaunchTemplate={"Id": {"Ref": "Template"}},
            ),
        }
    )
    compute, volumes = items(result, "Nodes")
    assert compute.monthly_usd == pytest.approx(3 * 0.052 * H)
    assert volumes.monthly_usd == pytest.approx(3 * 30 * p("ebs.gb_month", "gp3"))
    assert {compute.category, volumes.category} == {"nodes"}


def test_node_group_instance_type_can_come_from_the_launch_template() -> None:
    result = estimate(
        {
            "Template": res(
                "AWS::EC2::LaunchTemplate", LaunchTemplateData={"InstanceType": "t3.large"}
            ),
            "Nodes": res(
                "AWS::EKS::Nodegroup",
                ScalingConfig={"DesiredSize": 1},
                LaunchTemplate={"Id": {"Ref": "Template"}},
            ),
        }
    )
    compute, volumes = items(result, "Nodes")
    assert compute.monthly_usd == pytest.approx(0.104 * H)
    assert volumes.monthly_usd == pytest.approx(20 * p("ebs.gb_month", "gp3"))  # EKS default


def test_unknown_instance_type_is_unpriced_not_zero() -> None:
    result = estimate({"Box": res("AWS::EC2::Instance", InstanceType="x9.mega")})
    assert not items(result, "Box")
    assert [u.resource for u in result.unpriced] == ["prod/Test/Box"]
    assert "x9.mega" in result.unpriced[0].reason


def test_nat_instance_counts_as_nat_with_its_volume_and_public_ip() -> None:
    result = estimate(
        {"Nat": res("AWS::EC2::Instance", InstanceType="t4g.nano", SourceDestCheck=False)}
    )
    found = items(result, "Nat")
    assert {i.category for i in found} == {"NAT"}
    assert usd(result, "Nat") == pytest.approx(
        p("ec2.instance_hour", "t4g.nano") * H + 8 * p("ebs.gb_month", "gp3") + 0.005 * H
    )


@pytest.mark.parametrize("associate", [True, "true", False, "false", None])
def test_an_instance_has_a_public_ipv4_when_its_interface_asks_and_a_nat_instance_always(
    associate: object,
) -> None:
    interface: dict[str, object] = {"DeviceIndex": "0", "SubnetId": {"Ref": "PublicSubnet"}}
    if associate is not None:
        interface["AssociatePublicIpAddress"] = associate
    result = estimate(
        {
            "Box": res(
                "AWS::EC2::Instance", InstanceType="t3.micro", NetworkInterfaces=[interface]
            ),
            # A NAT instance needs one to work: in a public subnet that maps one on launch
            # (SubnetId) or through its interface (NetworkInterfaces), priced either way.
            "Nat": res(
                "AWS::EC2::Instance",
                InstanceType="t4g.nano",
                SourceDestCheck=False,
                NetworkInterfaces=[interface],
            ),
        }
    )
    box_addresses = [i for i in items(result, "Box") if "public IPv4" in i.description]
    assert len(box_addresses) == (1 if associate in (True, "true") else 0)
    (nat_address,) = [i for i in items(result, "Nat") if "public IPv4" in i.description]
    assert nat_address.monthly_usd == pytest.approx(0.005 * H)


def test_nat_gateways_share_the_processed_gigabytes_and_own_their_eips() -> None:
    resources = {
        "Eip1": res("AWS::EC2::EIP"),
        "Eip2": res("AWS::EC2::EIP"),
        "Nat1": res("AWS::EC2::NatGateway", AllocationId={"Fn::GetAtt": ["Eip1", "AllocationId"]}),
        "Nat2": res("AWS::EC2::NatGateway", AllocationId={"Fn::GetAtt": ["Eip2", "AllocationId"]}),
        "Loose": res("AWS::EC2::EIP"),
    }
    result = estimate(resources)
    per_gateway_gb = 100 / 2  # prod nat_processed_gb over two gateways
    assert usd(result, "Nat1") == pytest.approx(0.059 * H + per_gateway_gb * 0.059)
    assert items(result, "Eip1")[0].category == "NAT"
    assert items(result, "Loose")[0].category == "other"
    assert usd(result, "Eip1") == pytest.approx(0.005 * H)


def test_gateway_endpoints_are_free_and_interface_endpoints_are_per_az_hour() -> None:
    result = estimate(
        {
            "S3": res("AWS::EC2::VPCEndpoint", VpcEndpointType="Gateway"),
            "Ecr": res("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", SubnetIds=["a", "b"]),
        }
    )
    assert not items(result, "S3")
    assert any(f.resource == "prod/Test/S3" for f in result.free)
    assert usd(result, "Ecr") == pytest.approx(
        2 * p("vpc.interface_endpoint_hour") * H + 50 * p("vpc.interface_endpoint_gb")
    )


def test_flow_logs_to_cloudwatch_are_priced_on_their_log_group_as_vended_logs() -> None:
    result = estimate(
        {
            "Group": res("AWS::Logs::LogGroup", LogGroupName="vpc-traffic", RetentionInDays=30),
            "Flow": res(
                "AWS::EC2::FlowLog",
                LogDestinationType="cloud-watch-logs",
                LogGroupName={"Ref": "Group"},
            ),
        }
    )
    assert any(f.resource == "prod/Test/Flow" for f in result.free)
    group = items(result, "Group")[0]
    assert "logs.vended_ingestion_gb" in group.prices
    assert "logs_vpc_flow_gb" in group.assumptions


# --- load balancers from Kubernetes manifests --------------------------------------------------


def test_ingress_inside_a_kubernetes_resource_prices_one_alb_with_lcu_and_public_ips() -> None:
    ingress = json.loads(json.dumps(INGRESS))
    ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/wafv2-acl-arn"] = "WAF_ARN"
    result = estimate(
        {
            "Ingress": res(
                "Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(ingress, token=True)
            )
        }
    )
    (alb,) = items(result, "Ingress")
    assert alb.category == "ALB"
    lcu = 3  # prod alb_average_lcu
    assert alb.monthly_usd == pytest.approx(
        (p("elb.alb_hour") + lcu * p("elb.alb_lcu_hour")) * H + 2 * 0.005 * H
    )


def test_ingresses_of_one_group_share_one_alb() -> None:
    def grouped(name: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(json.dumps(INGRESS))
        obj["metadata"]["name"] = name
        obj["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"] = "shared"
        return obj

    result = estimate(
        {
            "A": res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(grouped("a"))),
            "B": res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(grouped("b"))),
        }
    )
    albs = [i for i in result.items if i.category == "ALB"]
    assert len(albs) == 1


def test_manifest_kinds_free_priced_and_unknown() -> None:
    objects = [
        {"kind": "Deployment", "metadata": {"name": "api"}},
        {"kind": "Service", "metadata": {"name": "api"}, "spec": {"type": "ClusterIP"}},
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"resources": {"requests": {"storage": "100Gi"}}},
        },
        {"kind": "Service", "metadata": {"name": "edge"}, "spec": {"type": "LoadBalancer"}},
        {"kind": "Certificate", "metadata": {"name": "tls"}},
    ]
    result = estimate(
        {"Objects": res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(*objects))}
    )
    descriptions = [i.description for i in items(result, "Objects")]
    assert any("EBS volume" in d for d in descriptions)
    assert any(d.startswith("NLB") for d in descriptions)
    volume = next(i for i in items(result, "Objects") if "EBS" in i.description)
    assert volume.monthly_usd == pytest.approx(100 * p("ebs.gb_month", "gp3"))
    assert ["Certificate" in u.reason for u in result.unpriced] == [True]
    assert any("Deployment" in f.reason for f in result.free)


def test_statefulset_volume_claim_templates_are_ebs_per_replica() -> None:
    prometheus = {
        "kind": "StatefulSet",
        "metadata": {"name": "prometheus", "namespace": "monitoring"},
        "spec": {
            "replicas": 2,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"resources": {"requests": {"storage": "100Gi"}}},
                }
            ],
        },
    }
    result = estimate(
        {"Mon": res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(prometheus))}
    )
    (volume,) = items(result, "Mon")
    assert volume.monthly_usd == pytest.approx(2 * 100 * p("ebs.gb_month", "gp3"))
    assert any("StatefulSet" in f.reason for f in result.free)


def test_ingress_of_another_class_is_unpriced() -> None:
    nginx = json.loads(json.dumps(INGRESS))
    nginx["spec"]["ingressClassName"] = "nginx"
    result = estimate({"I": res("Custom::AWSCDK-EKS-KubernetesResource", Manifest=manifest(nginx))})
    assert len(result.unpriced) == 1 and "nginx" in result.unpriced[0].reason


def test_unknown_helm_chart_is_unpriced_and_known_one_free() -> None:
    result = estimate(
        {
            "Known": res("Custom::AWSCDK-EKS-HelmChart", Chart="aws-load-balancer-controller"),
            "Loki": res("Custom::AWSCDK-EKS-HelmChart", Chart="loki"),
        }
    )
    assert [u.resource for u in result.unpriced] == ["prod/Test/Loki"]
    assert any(f.resource == "prod/Test/Known" for f in result.free)


def _claim(size: str) -> dict[str, Any]:
    return {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": size}}}}}


def test_kube_prometheus_stack_volumes_are_priced_from_its_values() -> None:
    values = {
        "prometheus": {"prometheusSpec": {"storageSpec": _claim("100Gi")}},
        "alertmanager": {"alertmanagerSpec": {"storage": _claim("1Gi")}},
    }
    result = estimate(
        {
            "Stack": res(
                "Custom::AWSCDK-EKS-HelmChart",
                Chart="kube-prometheus-stack",
                Values=json.dumps(values),
            )
        }
    )
    assert not result.unpriced
    assert usd(result, "Stack") == pytest.approx(101 * p("ebs.gb_month", "gp3"))
    unreadable = estimate(
        {"Stack": res("Custom::AWSCDK-EKS-HelmChart", Chart="kube-prometheus-stack", Values="{}")}
    )
    assert len(unreadable.unpriced) == 2


def test_elbv2_load_balancer_resource() -> None:
    result = estimate(
        {
            "Alb": res("AWS::ElasticLoadBalancingV2::LoadBalancer", Scheme="internal"),
            "Nlb": res("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="network"),
        }
    )
    assert usd(result, "Alb") == pytest.approx((p("elb.alb_hour") + 3 * p("elb.alb_lcu_hour")) * H)
    assert usd(result, "Nlb") == pytest.approx(
        (p("elb.nlb_hour") + 1 * p("elb.nlb_lcu_hour")) * H + 2 * 0.005 * H
    )


# --- data ------------------------------------------------------------------------------------


def test_aurora_provisioned_instances_by_class_and_cluster_storage_and_backtrack() -> None:
    result = estimate(
        {
            "Cluster": res("AWS::RDS::DBCluster", Engine="aurora-mysql", BacktrackWindow=86400),
            "Writer": SAMPLES["AWS::RDS::DBInstance"],
            "Reader": SAMPLES["AWS::RDS::DBInstance"],
        }
    )
    instance = p("rds.aurora_mysql_instance_hour", "db.t4g.medium") * H
    assert usd(result, "Writer") == pytest.approx(instance)
    assert usd(result, "Reader") == pytest.approx(instance)
    storage, backtrack = items(result, "Cluster")
    assert storage.monthly_usd == pytest.approx(
        100 * p("rds.aurora_storage_gb_month") + 100 * p("rds.aurora_io_million")
    )
    kept_million = 50_000 * 24 / 1e6
    assert backtrack.monthly_usd == pytest.approx(
        kept_million * H * p("rds.aurora_backtrack_million_change_record_hours")
    )


def test_aurora_serverless_v2_with_auto_pause_uses_the_stated_active_hours() -> None:
    wakes = res(
        "AWS::Scheduler::Schedule",
        ScheduleExpression="rate(1 hour)",
        Target={"Arn": {"Fn::GetAtt": ["Sync", "Arn"]}},
    )
    sync = res("AWS::Lambda::Function", Environment={"Variables": {"DB_HOST": "x"}})
    result = estimate(
        {
            "Sync": sync,
            "Hourly": wakes,
            "Cluster": res(
                "AWS::RDS::DBCluster",
                Engine="aurora-mysql",
                ServerlessV2ScalingConfiguration={
                    "MinCapacity": 0,
                    "MaxCapacity": 2,
                    "SecondsUntilAutoPause": 600,
                },
            ),
            "Writer": res(
                "AWS::RDS::DBInstance",
                Engine="aurora-mysql",
                DBInstanceClass="db.serverless",
                DBClusterIdentifier={"Ref": "Cluster"},
            ),
        },
        stage="dev",
    )
    (writer,) = items(result, "Writer", "dev")
    # Working hours at 1 ACU, plus each off-hours run (hourly, around the clock) keeping it
    # up 12 minutes at 0.5 ACU.
    off_hours_runs = 730 * (1 - 45 / 168)
    acu_hours = 196 * 1.0 + off_hours_runs * 12 / 60 * 0.5
    assert writer.monthly_usd == pytest.approx(acu_hours * p("rds.aurora_serverless_v2_acu_hour"))
    assert "aurora_serverless_active_hours" in writer.assumptions


def test_aurora_serverless_v2_without_pause_runs_at_least_its_minimum() -> None:
    result = estimate(
        {
            "Cluster": res(
                "AWS::RDS::DBCluster",
                Engine="aurora-mysql",
                ServerlessV2ScalingConfiguration={"MinCapacity": 4, "MaxCapacity": 8},
            ),
            "Writer": res(
                "AWS::RDS::DBInstance",
                Engine="aurora-mysql",
                DBInstanceClass="db.serverless",
                DBClusterIdentifier={"Ref": "Cluster"},
            ),
        }
    )
    assert usd(result, "Writer") == pytest.approx(4 * H * p("rds.aurora_serverless_v2_acu_hour"))


def test_plain_rds_instance_is_unpriced() -> None:
    result = estimate({"Db": res("AWS::RDS::DBInstance", Engine="postgres")})
    assert [u.resource for u in result.unpriced] == ["prod/Test/Db"]


def test_elasticache_is_node_type_times_num_cache_clusters_with_valkey_discount() -> None:
    result = estimate(
        {
            "Valkey": res(
                "AWS::ElastiCache::ReplicationGroup",
                Engine="valkey",
                CacheNodeType="cache.t4g.micro",
                NumCacheClusters=2,
            ),
            "Redis": res(
                "AWS::ElastiCache::ReplicationGroup",
                Engine="redis",
                CacheNodeType="cache.t4g.micro",
                NumNodeGroups=2,
                ReplicasPerNodeGroup=1,
            ),
        }
    )
    node = p("elasticache.node_hour", "cache.t4g.micro")
    assert usd(result, "Valkey") == pytest.approx(2 * node * 0.8 * H)
    assert usd(result, "Redis") == pytest.approx(4 * node * H)


def test_dynamodb_on_demand_with_pitr_and_provisioned_unpriced() -> None:
    result = estimate(
        {
            "Table": res(
                "AWS::DynamoDB::GlobalTable",
                BillingMode="PAY_PER_REQUEST",
                Replicas=[
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                ],
            ),
            "Fixed": res("AWS::DynamoDB::Table", BillingMode="PROVISIONED"),
        }
    )
    expected = (
        1 * p("dynamodb.write_request_million")
        + 1 * p("dynamodb.read_request_million")
        + 1 * p("dynamodb.storage_gb_month")
        + 1 * p("dynamodb.pitr_gb_month")
    )
    assert usd(result, "Table") == pytest.approx(expected)
    assert [u.resource for u in result.unpriced] == ["prod/Test/Fixed"]


# --- storage ---------------------------------------------------------------------------------


def test_s3_buckets_take_the_original_storage_assumption_by_role() -> None:
    result = estimate(
        {
            "Uploads": res("AWS::S3::Bucket", BucketName="openmarket-dev-uploads-1"),
            "Logs": res("AWS::S3::Bucket", BucketName="openmarket-dev-logs-1"),
        },
        stage="dev",
    )
    assert usd(result, "Uploads", "dev") == pytest.approx(
        100 * p("s3.standard_gb_month") + 100 * p("s3.put_thousand") + 1000 * p("s3.get_thousand")
    )
    assert usd(result, "Logs", "dev") == pytest.approx(10 * p("s3.standard_gb_month"))


def test_ecr_repositories_share_the_original_10_gb_in_dev() -> None:
    result = estimate(
        {"A": res("AWS::ECR::Repository"), "B": res("AWS::ECR::Repository")}, stage="dev"
    )
    assert usd(result, "A", "dev") + usd(result, "B", "dev") == pytest.approx(10 * 0.10)


# --- observability ---------------------------------------------------------------------------


def test_eks_control_plane_log_group_follows_the_enabled_log_types() -> None:
    result = estimate(
        {
            "Cluster": res(
                "AWS::EKS::Cluster",
                Name="om",
                Logging={"ClusterLogging": {"EnabledTypes": [{"Type": "api"}, {"Type": "audit"}]}},
            ),
            "Logs": res(
                "AWS::Logs::LogGroup", LogGroupName="/aws/eks/om/cluster", RetentionInDays=7
            ),
        },
        stage="dev",
    )
    ingest = 1 + 3  # dev eks_log_api_gb + eks_log_audit_gb
    stored = ingest * 7 / (730 / 24)
    assert usd(result, "Logs", "dev") == pytest.approx(
        ingest * p("logs.ingestion_gb") + stored * p("logs.storage_gb_month")
    )


def test_log_group_class_and_unbounded_retention() -> None:
    result = estimate(
        {
            "Ia": res(
                "AWS::Logs::LogGroup",
                LogGroupName="/custom/thing",
                LogGroupClass="INFREQUENT_ACCESS",
                RetentionInDays=30,
            ),
            "Forever": res("AWS::Logs::LogGroup", LogGroupName="/custom/forever"),
        }
    )
    ia = items(result, "Ia")[0]
    assert "logs.ingestion_gb_infrequent_access" in ia.prices
    assert "logs_default_gb" in ia.assumptions
    forever = items(result, "Forever")[0]
    stored = 1.0 * 365 / (730 / 24)  # prod logs_default_gb, first year
    assert forever.monthly_usd == pytest.approx(
        1.0 * p("logs.ingestion_gb") + stored * p("logs.storage_gb_month")
    )


def test_alarms_count_metrics_and_resolution() -> None:
    math = [
        {"Id": "e", "Expression": "a / b"},
        {"Id": "a", "MetricStat": {"Period": 300}},
        {"Id": "b", "MetricStat": {"Period": 300}},
    ]
    result = estimate(
        {
            "Simple": res("AWS::CloudWatch::Alarm", Period=300),
            "Math": res("AWS::CloudWatch::Alarm", Metrics=math),
            "Fast": res("AWS::CloudWatch::Alarm", Period=10),
            "Composite": res("AWS::CloudWatch::CompositeAlarm"),
            "Board": res("AWS::CloudWatch::Dashboard"),
        }
    )
    assert usd(result, "Simple") == pytest.approx(0.10)
    assert usd(result, "Math") == pytest.approx(0.20)
    assert usd(result, "Fast") == pytest.approx(0.30)
    assert usd(result, "Composite") == pytest.approx(0.50)
    assert usd(result, "Board") == pytest.approx(3.00)


def test_budget_is_priced_per_day() -> None:
    result = estimate({"Budget": res("AWS::Budgets::Budget")})
    assert usd(result, "Budget") == pytest.approx(0.02 * 730 / 24)


# --- serverless and messaging ----------------------------------------------------------------


def test_lambda_scheduled_functions_get_their_schedule_and_the_rest_share_the_original_1m() -> None:
    resources = {
        "Hourly": res("AWS::Lambda::Function", MemorySize=512, Architectures=["arm64"]),
        "Schedule": res(
            "AWS::Scheduler::Schedule",
            ScheduleExpression="rate(1 hour)",
            Target={"Arn": {"Fn::GetAtt": ["Hourly", "Arn"]}},
        ),
        "OnEvent": res("AWS::Lambda::Function", MemorySize=1024),
        "Provider": res("AWS::Lambda::Function", MemorySize=128),
        "Custom": res("Custom::Thing", ServiceToken={"Fn::GetAtt": ["Provider", "Arn"]}),
    }
    result = estimate(resources, stage="dev", extra=[])
    hourly_gb_s = 730 * 0.5 * 0.5
    assert usd(result, "Hourly", "dev") == pytest.approx(
        hourly_gb_s * p("lambda.gb_second", "arm64") + 730 / 1e6 * 0.20
    )
    event_invocations = 1_000_000 - 730
    assert usd(result, "OnEvent", "dev") == pytest.approx(
        event_invocations * 0.5 * 1.0 * p("lambda.gb_second", "x86_64")
        + event_invocations / 1e6 * 0.20
    )
    # The custom resource's function is free (deploy time); the custom type itself is unknown.
    assert not items(result, "Provider", "dev")
    assert any(f.resource == "dev/Test/Provider" for f in result.free)
    assert [u.resource_type for u in result.unpriced] == ["Custom::Thing"]


def test_provider_framework_handlers_are_deploy_time_too() -> None:
    resources = {
        "Handler": res("AWS::Lambda::Function"),
        "OnEvent": res(
            "AWS::Lambda::Function",
            Environment={
                "Variables": {"USER_ON_EVENT_FUNCTION_ARN": {"Fn::GetAtt": ["Handler", "Arn"]}}
            },
        ),
        "Manifest": res(
            "Custom::AWSCDK-EKS-KubernetesResource",
            ServiceToken={"Fn::GetAtt": ["OnEvent", "Arn"]},
            Manifest="[]",
        ),
        "HandlerLogs": res(
            "AWS::Logs::LogGroup",
            LogGroupName={"Fn::Join": ["", ["/aws/lambda/", {"Ref": "Handler"}]]},
            RetentionInDays=731,
        ),
    }
    result = estimate(resources)
    assert not [i for i in result.items if i.category == "Lambda"]
    assert "logs_deploy_time_lambda_gb" in items(result, "HandlerLogs")[0].assumptions


def test_sqs_eventbridge_scheduler_ssm() -> None:
    result = estimate(
        {
            "Queue": res("AWS::SQS::Queue"),
            "Fifo": res("AWS::SQS::Queue", FifoQueue=True),
            "Bus": res("AWS::Events::EventBus", Name="orders"),
            "Cron": res("AWS::Scheduler::Schedule", ScheduleExpression="cron(0 9 ? * MON-FRI *)"),
            "Plain": res("AWS::SSM::Parameter", Type="String", Value="x"),
            "Advanced": res("AWS::SSM::Parameter", Tier="Advanced"),
        }
    )
    assert usd(result, "Queue") == pytest.approx(0.05 * 0.40)
    assert usd(result, "Fifo") == pytest.approx(0.05 * 0.50)
    assert usd(result, "Bus") == pytest.approx(0.3 * 1.00)
    assert usd(result, "Cron") == pytest.approx((730 / 24) * 5 / 7 / 1e6)
    assert not items(result, "Plain")
    assert usd(result, "Advanced") == pytest.approx(0.05)


# --- security --------------------------------------------------------------------------------


def test_kms_keys_and_secrets() -> None:
    result = estimate({"Key": res("AWS::KMS::Key"), "Secret": res("AWS::SecretsManager::Secret")})
    assert usd(result, "Key") == pytest.approx(1.00 + 100 / 10 * 0.03)
    assert usd(result, "Secret") == pytest.approx(0.40 + 20 / 10 * 0.05)
    assert {i.category for i in result.items if i.resource != "(stage)"} == {"KMS/Secrets"}


def test_waf_web_acl_rules_and_requests() -> None:
    rules = [
        {"Name": "rate", "Statement": {"RateBasedStatement": {"Limit": 2000}}},
        {
            "Name": "common",
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesCommonRuleSet",
                }
            },
        },
        {
            "Name": "bots",
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesBotControlRuleSet",
                }
            },
        },
    ]
    result = estimate({"Acl": res("AWS::WAFv2::WebACL", Rules=rules)}, stage="dev")
    assert usd(result, "Acl", "dev") == pytest.approx(5 + 3 * 1 + 1 * 0.60)
    assert ["BotControl" in u.reason for u in result.unpriced] == [True]


def test_stage_level_data_transfer_uses_the_original_50_gb_in_dev() -> None:
    result = estimate({}, stage="dev")
    (transfer,) = [i for i in result.items if i.category == "data transfer"]
    assert transfer.monthly_usd == pytest.approx(50 * p("data_transfer.internet_out_gb"))


def test_a_stack_fixture_is_reusable() -> None:
    assert stack({"A": res("AWS::SQS::Queue")}).name == "prod/Test"


def test_a_type_claimed_by_two_services_is_refused() -> None:
    def rule(r: Resource, ctx: StageContext) -> list[Outcome]:
        return []

    priced = Service("compute", rules={"AWS::EC2::Instance": rule})
    free = Service("network", free={"AWS::EC2::Instance": "no charge"})
    with pytest.raises(ValueError, match="claimed by both compute and network"):
        registry([priced, free])
    rules, free_types = registry([priced, Service("security", free={"AWS::IAM::Role": "free"})])
    assert (list(rules), dict(free_types)) == (["AWS::EC2::Instance"], {"AWS::IAM::Role": "free"})


def test_every_service_module_claims_types_under_its_own_name() -> None:
    assert len({service.name for service in SERVICES}) == len(SERVICES)
    assert all(service.rules or service.free for service in SERVICES)
