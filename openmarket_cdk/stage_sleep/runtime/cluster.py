"""stage-sleep-cluster: the two Kubernetes changes of a sleep or wake, and their status.

Runs inside the VPC (the API endpoint of staging and prod is private; dev's admits office
ranges only) and talks to nothing but the Kubernetes API, so it needs no NAT: its EKS token
is a presigned STS request signed here. It is an EKS access entry of its own, bound by RBAC
(stage-sleep's Kubernetes objects) to exactly two objects:

- ``deployments/<autoscaler>/scale`` in kube-system: the Cluster Autoscaler's replicas;
- ``ingresses/<ingress>`` in the app namespace: its ``ingressClassName``.

Event (the orchestrator's; see contract.py)::

    {"autoscalerReplicas": 0, "ingressClass": "openmarket-asleep"}   # either may be absent

Answer: ``{"autoscaler": {"replicas": n, "available": n}, "ingressClass": "..."}`` after the
changes (an empty event only reads). Standard library and the runtime's botocore only.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A token is valid 15 minutes; the function lives one.
TOKEN_EXPIRES_S = 60
HTTP_TIMEOUT_S = 20


@dataclass(frozen=True)
class Cluster:
    """Where the API is and which two objects this function may change."""

    name: str
    endpoint: str
    certificate_authority: str  # base64 PEM, as EKS gives it
    region: str
    autoscaler_namespace: str
    autoscaler_deployment: str
    ingress_namespace: str
    ingress_name: str

    @staticmethod
    def from_environment(env: Mapping[str, str]) -> Cluster:
        return Cluster(
            name=env["CLUSTER_NAME"],
            endpoint=env["CLUSTER_ENDPOINT"],
            certificate_authority=env["CLUSTER_CA"],
            region=env["AWS_REGION"],
            autoscaler_namespace=env["AUTOSCALER_NAMESPACE"],
            autoscaler_deployment=env["AUTOSCALER_DEPLOYMENT"],
            # Empty where the ALB does not sleep: the Ingress is left alone there.
            ingress_namespace=env.get("INGRESS_NAMESPACE", ""),
            ingress_name=env.get("INGRESS_NAME", ""),
        )


def eks_token(cluster_name: str, region: str) -> str:
    """``aws eks get-token``: a presigned STS GetCallerIdentity naming the cluster."""
    import botocore.session
    from botocore.signers import RequestSigner

    session = botocore.session.get_session()
    sts = session.create_client("sts", region_name=region)
    signer = RequestSigner(
        sts.meta.service_model.service_id,
        region,
        "sts",
        "v4",
        session.get_credentials(),
        session.get_component("event_emitter"),
    )
    query = "Action=GetCallerIdentity&Version=2011-06-15"
    url = signer.generate_presigned_url(
        {
            "method": "GET",
            "url": f"https://sts.{region}.amazonaws.com/?{query}",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster_name},
            "context": {},
        },
        region_name=region,
        expires_in=TOKEN_EXPIRES_S,
        operation_name="",
    )
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return f"k8s-aws-v1.{encoded}"


class KubernetesApi:
    """GET and merge-PATCH on the API server, verified against the cluster's CA."""

    def __init__(self, endpoint: str, certificate_authority_pem: bytes, token: str) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._token = token
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
            handle.write(certificate_authority_pem)
        self._context = ssl.create_default_context(cafile=handle.name)

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self._endpoint}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                "Content-Type": "application/merge-patch+json",
            },
        )
        with urllib.request.urlopen(
            request, timeout=HTTP_TIMEOUT_S, context=self._context
        ) as response:
            return dict(json.loads(response.read() or b"{}"))


def apply(event: Mapping[str, Any], cluster: Cluster, api: KubernetesApi) -> dict[str, Any]:
    """Make the requested changes, then read both objects back."""
    scale = (
        f"/apis/apps/v1/namespaces/{cluster.autoscaler_namespace}/deployments/"
        f"{cluster.autoscaler_deployment}"
    )
    ingress = (
        f"/apis/networking.k8s.io/v1/namespaces/{cluster.ingress_namespace}/ingresses/"
        f"{cluster.ingress_name}"
    )
    replicas = event.get("autoscalerReplicas")
    if replicas is not None:
        if not isinstance(replicas, int) or replicas < 0:
            raise ValueError(f"autoscalerReplicas {replicas!r} is not a count")
        api.request("PATCH", f"{scale}/scale", {"spec": {"replicas": replicas}})
    ingress_class = event.get("ingressClass")
    if ingress_class is not None:
        if not cluster.ingress_name:
            raise ValueError("this stage's Ingress does not sleep: no ingressClass change")
        if not isinstance(ingress_class, str) or not ingress_class:
            raise ValueError(f"ingressClass {ingress_class!r} is not a class name")
        api.request("PATCH", ingress, {"spec": {"ingressClassName": ingress_class}})
    deployment = api.request("GET", scale)
    current = api.request("GET", ingress) if cluster.ingress_name else {}
    return {
        "autoscaler": {
            "replicas": int(deployment.get("spec", {}).get("replicas", 0)),
            "available": int(deployment.get("status", {}).get("availableReplicas", 0) or 0),
        },
        "ingressClass": current.get("spec", {}).get("ingressClassName"),
    }


def handler(event: Mapping[str, Any], _context: Any) -> dict[str, Any]:
    cluster = Cluster.from_environment(os.environ)
    api = KubernetesApi(
        cluster.endpoint,
        base64.b64decode(cluster.certificate_authority),
        eks_token(cluster.name, cluster.region),
    )
    return apply(event or {}, cluster, api)
