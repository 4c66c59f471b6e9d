"""Stage sleep's cluster function: the two Kubernetes changes it may make, as merge patches on
exactly two objects, and the EKS token it signs itself (no network)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from openmarket_cdk.stage_sleep.runtime.cluster import Cluster, apply, eks_token

CLUSTER = Cluster(
    name="openmarket-dev",
    endpoint="https://ABC.gr7.ap-northeast-2.eks.amazonaws.com",
    certificate_authority="",
    region="ap-northeast-2",
    autoscaler_namespace="kube-system",
    autoscaler_deployment="cluster-autoscaler",
    ingress_namespace="openmarket-dev",
    ingress_name="openmarket",
)


class Api:
    """The API server: records requests, answers GETs from its objects."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.replicas, self.available, self.ingress_class = 1, 1, "alb"

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        self.requests.append((method, path, body))
        if method == "PATCH" and path.endswith("/scale"):
            self.replicas = body["spec"]["replicas"]
        if method == "PATCH" and "/ingresses/" in path:
            self.ingress_class = body["spec"]["ingressClassName"]
        if path.endswith("/deployments/cluster-autoscaler"):
            return {
                "spec": {"replicas": self.replicas},
                "status": {"availableReplicas": self.available},
            }
        return {"spec": {"ingressClassName": self.ingress_class}}


def test_sleep_scales_the_autoscaler_and_moves_the_ingress() -> None:
    api = Api()
    answer = apply({"autoscalerReplicas": 0, "ingressClass": "openmarket-asleep"}, CLUSTER, api)
    patches = [(path, body) for method, path, body in api.requests if method == "PATCH"]
    assert patches == [
        (
            "/apis/apps/v1/namespaces/kube-system/deployments/cluster-autoscaler/scale",
            {"spec": {"replicas": 0}},
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/openmarket-dev/ingresses/openmarket",
            {"spec": {"ingressClassName": "openmarket-asleep"}},
        ),
    ]
    assert answer == {
        "autoscaler": {"replicas": 0, "available": 1},
        "ingressClass": "openmarket-asleep",
    }


def test_an_empty_event_only_reads() -> None:
    api = Api()
    apply({}, CLUSTER, api)
    assert {method for method, _, _ in api.requests} == {"GET"}


@pytest.mark.parametrize(
    "event",
    [{"autoscalerReplicas": -1}, {"autoscalerReplicas": "1"}, {"ingressClass": ""}],
)
def test_a_bad_event_changes_nothing(event: dict[str, Any]) -> None:
    api = Api()
    with pytest.raises(ValueError):
        apply(event, CLUSTER, api)
    assert api.requests == []


def test_where_the_alb_does_not_sleep_the_ingress_is_left_alone() -> None:
    staging = Cluster(**{**CLUSTER.__dict__, "ingress_namespace": "", "ingress_name": ""})
    api = Api()
    with pytest.raises(ValueError, match="does not sleep"):
        apply({"ingressClass": "openmarket-asleep"}, staging, api)
    apply({"autoscalerReplicas": 1}, staging, api)
    assert all("/ingresses/" not in path for _, path, _ in api.requests)


def test_the_token_is_a_presigned_sts_call_naming_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    token = eks_token("openmarket-dev", "ap-northeast-2")
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.netloc == "sts.ap-northeast-2.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0]
    assert query["X-Amz-Expires"] == ["60"]
