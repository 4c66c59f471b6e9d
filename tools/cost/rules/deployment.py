"""Deployment machinery: CDK metadata, CloudFormation bookkeeping and the custom resources
that run only while CloudFormation deploys.

They create nothing that bills by the hour; the functions behind them are free for the
same reason (``serverless.py``), their log groups get a small figure of their own.
"""

from __future__ import annotations

from tools.cost.rules.base import Service

DEPLOY_TIME = "runs only while CloudFormation deploys: a few invocations per deploy"


SERVICE = Service(
    name="deployment",
    free={
        "AWS::CDK::Metadata": "CDK version metadata; creates nothing in AWS",
        "AWS::CloudFormation::WaitConditionHandle": "CloudFormation bookkeeping; no charge",
        "Custom::AWS": f"AwsCustomResource: one SDK call that {DEPLOY_TIME}",
        "Custom::AWSCDKCfnJson": f"CDK JSON helper that {DEPLOY_TIME}",
        "Custom::AWSCDK-EKS-KubernetesObjectValue": (
            f"reads one field of a Kubernetes object (kubectl get); {DEPLOY_TIME}"
        ),
        "Custom::S3AutoDeleteObjects": f"empties a bucket on stack deletion; {DEPLOY_TIME}",
        "Custom::S3BucketNotifications": f"configures bucket notifications; {DEPLOY_TIME}",
        "Custom::VpcRestrictDefaultSG": f"strips the default security group; {DEPLOY_TIME}",
    },
)
