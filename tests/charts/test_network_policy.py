"""NetworkPolicies: default deny, and exactly the allowed paths, nothing more.

The policies are flattened into (direction, selected pods, peer, protocol, port) tuples; the
union over all policies must equal the list the issue allows.
"""

from __future__ import annotations

import pytest

from tests.charts.conftest import (
    BACKEND_PORT,
    DATABASE_SUBNETS,
    FRONTEND_PORT,
    MYSQL_PORT,
    PUBLIC_SUBNETS,
    REDIS_PORT,
    VPC_CIDR,
    Manifest,
    RenderedStage,
    stage_params,
)

Path = tuple[str, str, str, str, int | str]


def labels(selector: Manifest) -> str:
    assert "matchExpressions" not in selector, "the path enumeration knows matchLabels only"
    match: dict[str, str] = selector.get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(match.items())) or "*"


def peer_name(peer: Manifest) -> str:
    if "ipBlock" in peer:
        cidr: str = peer["ipBlock"]["cidr"]
        excepted: list[str] = peer["ipBlock"].get("except", [])
        return cidr + (f" except {','.join(excepted)}" if excepted else "")
    pods = f"pods:{labels(peer.get('podSelector', {}))}"
    if "namespaceSelector" in peer:
        return f"ns:{labels(peer['namespaceSelector'])}/{pods}"
    return pods  # same namespace


def allowed_paths(policies: list[Manifest]) -> set[Path]:
    paths: set[Path] = set()
    for policy in policies:
        spec = policy["spec"]
        selected = f"pods:{labels(spec['podSelector'])}"
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            if direction.capitalize() not in spec.get("policyTypes", []):
                assert not spec.get(direction), f"{policy['metadata']['name']}: rules ignored"
                continue
            for rule in spec.get(direction, []):
                peers = [peer_name(p) for p in rule.get(peers_key, [])] or ["anywhere"]
                ports = [
                    (p.get("protocol", "TCP"), p.get("port", "any")) for p in rule.get("ports", [])
                ] or [("any", "any")]
                for peer in peers:
                    for protocol, port in ports:
                        assert "endPort" not in rule, "ranges are not expected"
                        paths.add((direction, selected, peer, protocol, port))
    return paths


BACKEND = "pods:app.kubernetes.io/name=backend"
FRONTEND = "pods:app.kubernetes.io/name=frontend"
KUBE_DNS = "ns:kubernetes.io/metadata.name=kube-system/pods:k8s-app=kube-dns"


def expected_paths() -> set[Path]:
    paths: set[Path] = set()
    for cidr in PUBLIC_SUBNETS:  # ALB -> backend and frontend (traffic and health checks)
        paths.add(("ingress", BACKEND, cidr, "TCP", BACKEND_PORT))
        paths.add(("ingress", FRONTEND, cidr, "TCP", FRONTEND_PORT))
    # frontend -> backend, seen from both ends
    paths.add(("egress", FRONTEND, BACKEND, "TCP", BACKEND_PORT))
    paths.add(("ingress", BACKEND, FRONTEND, "TCP", BACKEND_PORT))
    for cidr in DATABASE_SUBNETS:  # backend -> Aurora and Redis
        paths.add(("egress", BACKEND, cidr, "TCP", MYSQL_PORT))
        paths.add(("egress", BACKEND, cidr, "TCP", REDIS_PORT))
    # backend -> AWS APIs (S3, EventBridge, ...) outside the VPC, and its credentials
    paths.add(("egress", BACKEND, f"0.0.0.0/0 except {VPC_CIDR}", "TCP", 443))
    paths.add(("egress", BACKEND, "169.254.170.23/32", "TCP", 80))
    # every pod -> cluster DNS
    paths.add(("egress", "pods:*", KUBE_DNS, "UDP", 53))
    paths.add(("egress", "pods:*", KUBE_DNS, "TCP", 53))
    return paths


@pytest.mark.parametrize("stage", stage_params())
def test_allowed_paths_are_exactly_the_listed_ones(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    policies = rendered[stage].manifests["network-policy"]
    assert {p["kind"] for p in policies} == {"NetworkPolicy"}
    assert allowed_paths(policies) == expected_paths()


@pytest.mark.parametrize("stage", stage_params())
def test_default_deny_covers_every_pod_in_both_directions(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    deny = rendered[stage].one("NetworkPolicy", "default-deny")
    assert deny["metadata"]["namespace"] == f"openmarket-{stage}"
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Egress", "Ingress"]}


@pytest.mark.parametrize("stage", stage_params())
def test_the_frontend_has_no_internet_egress(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    paths = allowed_paths(rendered[stage].manifests["network-policy"])
    frontend_egress = {p[2] for p in paths if p[0] == "egress" and p[1] in (FRONTEND, "pods:*")}
    assert frontend_egress == {BACKEND, KUBE_DNS}


@pytest.mark.parametrize("stage", stage_params())
def test_policies_select_pods_that_exist(rendered: dict[str, RenderedStage], stage: str) -> None:
    """A typo in a selector would silently leave a workload under default deny only."""
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in rendered[stage].of_kind("Deployment")
    ]
    for policy in rendered[stage].manifests["network-policy"]:
        match = policy["spec"]["podSelector"].get("matchLabels", {})
        assert any(match.items() <= labels.items() for labels in pod_labels), policy["metadata"]
