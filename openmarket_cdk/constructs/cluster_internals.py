"""Acknowledgements of the cdk-nag findings on IAM that aws-eks-v2 builds for a cluster."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from constructs import IConstruct

from openmarket_cdk.nag import acknowledge

_IAM4_BARE = "AwsSolutions-IAM4[Policy::"
_IAM4 = f"{_IAM4_BARE}arn:<AWS::Partition>:iam::aws:policy/"
# The AWS Load Balancer Controller's upstream policy: resources it names at run time.
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


def acknowledge_cluster_internals(cluster: eks.Cluster) -> None:
    """The cluster role, the kubectl provider and the ALB controller, each with its reason."""
    stack = Stack.of(cluster)
    basic = f"{_IAM4}service-role/AWSLambdaBasicExecutionRole]"
    vpc_access = f"{_IAM4}service-role/AWSLambdaVPCAccessExecutionRole]"
    provider = cluster.node.find_child("KubectlProvider")
    handler = provider.node.find_child("Handler")
    on_event = provider.node.find_child("Provider").node.find_child("framework-onEvent")
    handler_id = stack.get_logical_id(handler.node.default_child)  # type: ignore[arg-type]
    ecr_public = stack.get_logical_id(handler.node.find_child("HasEcrPublic"))  # type: ignore[arg-type]
    kubectl_reason = (
        "CDK's kubectl provider (deploy-time only) runs in the VPC and pulls its layer; "
        "its role and runtime are the construct's own."
    )
    owned: list[tuple[IConstruct, list[str], str]] = [
        (
            cluster.role,
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
    if cluster.alb_controller is not None:
        owned.append(
            (
                cluster.alb_controller,
                [f"AwsSolutions-IAM5[Resource::{r}]" for r in _ALB_CONTROLLER_RESOURCES],
                "The AWS Load Balancer Controller's upstream IAM policy, as aws-eks-v2 "
                "ships it: it creates and tags ALBs, target groups and security groups "
                "whose names it picks at run time.",
            )
        )
    for scope, rule_ids, reason in owned:
        for rule_id in rule_ids:
            acknowledge(scope, rule_id, reason)
