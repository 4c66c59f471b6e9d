"""Every Helm release of a cluster ends well inside the kubectl handler's life."""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, Duration, IAspect
from constructs import IConstruct

# The kubectl handler Lambda that runs `helm upgrade --install --wait` stops at 15 minutes.
# A release still waiting then is left `pending-install`, the stack hangs for about an hour
# and every retry fails until someone runs `helm rollback` (aws-cdk#22257). Eight minutes
# leaves the handler time to fetch the chart before and to report after.
HELM_RELEASE_TIMEOUT = Duration.minutes(8)
HELM_CHART_RESOURCE_TYPE = "Custom::AWSCDK-EKS-HelmChart"


@jsii.implements(IAspect)
class BoundHelmReleaseTimeouts:
    """Sets ``HELM_RELEASE_TIMEOUT`` on every Helm release in scope, the ones CDK makes
    itself included (the AWS Load Balancer Controller's is fixed at 15 minutes, with no
    option to change it)."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource) and node.cfn_resource_type == HELM_CHART_RESOURCE_TYPE:
            node.add_property_override("Timeout", f"{HELM_RELEASE_TIMEOUT.to_seconds()}s")
