"""Backend and frontend: sizes, probes, autoscaling, disruption budget, spread, identity.

Plus two checks over every pod spec any chart renders: the restricted securityContext with
limits and probes, and no secret value anywhere (Secrets only by reference).
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from charts.values import WorkloadValues
from charts.workload import cpu, memory
from openmarket_cdk.config import stage_config
from tests.charts.conftest import (
    STAGES,
    Manifest,
    RenderedStage,
    app_values,
    pod_specs,
    render,
    stage_params,
)

WORKLOADS = ("backend", "frontend")
ALB = "alb.ingress.kubernetes.io"


def workload_params() -> list[Any]:
    return [pytest.param(s, w, id=f"{s}-{w}") for s in STAGES for w in WORKLOADS]


def quantity(value: str) -> Fraction:
    """A Kubernetes quantity (the forms the charts use) as an exact number."""
    units = {
        "m": Fraction(1, 1000),
        "Ki": Fraction(2**10),
        "Mi": Fraction(2**20),
        "Gi": Fraction(2**30),
        "": Fraction(1),
    }
    match = re.fullmatch(r"(\d+)(m|Ki|Mi|Gi|)", value)
    assert match, f"unexpected quantity {value!r}"
    return int(match.group(1)) * units[match.group(2)]


def values_of(stage: RenderedStage, workload: str) -> WorkloadValues:
    result: WorkloadValues = getattr(stage.values, workload)
    return result


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    result: Manifest = only
    return result


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_deployment_runs_the_configured_image_size_and_port(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    values = values_of(rendered[stage], workload)
    deployment = rendered[stage].one("Deployment", workload)
    main = container(deployment)
    assert main["name"] == workload
    assert main["image"] == values.image
    assert main["ports"] == [{"containerPort": values.port, "name": "http"}]
    resources = main["resources"]
    assert quantity(resources["requests"]["cpu"]) == quantity(values.resources.cpu_request)
    assert quantity(resources["limits"]["cpu"]) == quantity(values.resources.cpu_limit)
    assert quantity(resources["requests"]["memory"]) == quantity(values.resources.memory_request)
    assert quantity(resources["limits"]["memory"]) == quantity(values.resources.memory_limit)
    # The original design: 250m / 1000m CPU, 512Mi / 2Gi memory, for both workloads.
    assert quantity(resources["limits"]["memory"]) == 2 * 2**30
    assert quantity(resources["requests"]["cpu"]) == Fraction(1, 4)


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_the_hpa_owns_the_replica_count(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    """No spec.replicas (an apply would reset the HPA's count); the HPA keeps >= 2."""
    values = values_of(rendered[stage], workload)
    deployment = rendered[stage].one("Deployment", workload)
    assert "replicas" not in deployment["spec"]
    hpa = rendered[stage].one("HorizontalPodAutoscaler", workload)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": workload,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert hpa["spec"]["minReplicas"] == values.hpa_min_replicas <= values.replicas == 2


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_probes_check_the_health_path(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    values = values_of(rendered[stage], workload)
    main = container(rendered[stage].one("Deployment", workload))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {
            "path": values.health_path,
            "port": values.port,
            "scheme": "HTTP",
        }
        assert main[probe]["timeoutSeconds"] >= 1
    # Startup gets the longest budget; liveness is the most patient of the steady probes.
    budget = {
        p: main[p]["periodSeconds"] * main[p]["failureThreshold"]
        for p in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert budget["startupProbe"] >= 120
    assert budget["livenessProbe"] > budget["readinessProbe"]


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_one_stable_selector_everywhere(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    """Deployment, Service, PDB, spread constraints and NetworkPolicy select the same pods."""
    selector = {"app.kubernetes.io/name": workload}
    r = rendered[stage]
    deployment = r.one("Deployment", workload)
    assert deployment["spec"]["selector"] == {"matchLabels": selector}
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    assert r.one("Service", workload)["spec"]["selector"] == selector
    assert r.one("PodDisruptionBudget", workload)["spec"]["selector"] == {"matchLabels": selector}
    policy = r.one("NetworkPolicy", workload)
    # The VPC CNI controller resolves the ClusterIP only on an exact selector match.
    assert policy["spec"]["podSelector"] == {"matchLabels": selector}


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_service_is_a_cluster_ip_on_the_container_port_with_alb_health_check(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    values = values_of(rendered[stage], workload)
    service = rendered[stage].one("Service", workload)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": values.port, "protocol": "TCP", "targetPort": values.port}
    ]
    annotations = service["metadata"]["annotations"]
    assert annotations[f"{ALB}/healthcheck-path"] == values.health_path
    assert annotations[f"{ALB}/healthcheck-port"] == "traffic-port"
    assert annotations[f"{ALB}/success-codes"] == "200"


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_disruption_budget_and_spread_keep_it_available(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    r = rendered[stage]
    pdb = r.one("PodDisruptionBudget", workload)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    deployment = r.one("Deployment", workload)
    spread = {
        c["topologyKey"]: c
        for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    }
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": workload}}
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_service_account_mounts_no_api_token(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    values = values_of(rendered[stage], workload)
    account = rendered[stage].one("ServiceAccount", values.service_account_name)
    assert account["automountServiceAccountToken"] is False
    pod = rendered[stage].one("Deployment", workload)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == values.service_account_name
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize(("stage", "workload"), workload_params())
def test_settings_come_from_the_config_map_and_secrets_by_reference(
    rendered: dict[str, RenderedStage], stage: str, workload: str
) -> None:
    values = values_of(rendered[stage], workload)
    config_map = rendered[stage].one("ConfigMap", f"{workload}-config")
    assert config_map.get("data", {}) == dict(values.config)
    main = container(rendered[stage].one("Deployment", workload))
    assert main["envFrom"] == [{"configMapRef": {"name": f"{workload}-config"}}]
    assert main.get("env", []) == [
        {
            "name": env.env_name,
            "valueFrom": {
                "secretKeyRef": {"key": env.key, "name": env.secret_name, "optional": False}
            },
        }
        for env in values.secret_env
    ]


# --- every pod spec of every chart -----------------------------------------------------------

ALLOWED_VOLUME_TYPES = {"emptyDir", "configMap", "secret", "projected", "downwardAPI"}


def assert_restricted(where: str, pod: Manifest) -> None:
    pod_context = pod.get("securityContext", {})
    assert pod.get("automountServiceAccountToken") is False, where
    for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host_namespace, False), f"{where}: {host_namespace}"
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= ALLOWED_VOLUME_TYPES, f"{where}: volume {volume}"
    containers = [(c, True) for c in pod["containers"]]
    containers += [(c, False) for c in pod.get("initContainers", [])]
    assert containers, where
    for spec, long_running in containers:
        at = f"{where}/{spec['name']}"
        context = spec.get("securityContext", {})

        def setting(key: str, context: Manifest = context) -> Any:
            return context.get(key, pod_context.get(key))

        assert setting("runAsNonRoot") is True, at
        assert isinstance(setting("runAsUser"), int) and setting("runAsUser") >= 10000, at
        assert context.get("readOnlyRootFilesystem") is True, at
        assert context.get("allowPrivilegeEscalation") is False, at
        assert context.get("privileged", False) is False, at
        assert "ALL" in context.get("capabilities", {}).get("drop", []), at
        assert not context.get("capabilities", {}).get("add"), at
        assert setting("seccompProfile") == {"type": "RuntimeDefault"}, at
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(spec.get("resources", {}).get(kind, {})), at
        if long_running:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in spec, f"{at}: no {probe}"
        image = spec["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), at


@pytest.mark.parametrize("stage", stage_params())
def test_every_container_is_restricted_limited_and_probed(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    specs = pod_specs(rendered[stage].all_objects())
    assert {where for where, _ in specs} == {"Deployment/backend", "Deployment/frontend"}
    for where, pod in specs:
        assert_restricted(where, pod)


SECRET_LIKE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY", re.I)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@pytest.mark.parametrize("stage", stage_params())
def test_no_secret_value_in_any_manifest(rendered: dict[str, RenderedStage], stage: str) -> None:
    objects = rendered[stage].all_objects()
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets come from ESO only"
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        for key, value in config_map.get("data", {}).items():
            assert not SECRET_LIKE.search(key), f"{config_map['metadata']['name']}: {key}"
            assert not CREDENTIALS_IN_URL.search(value), f"{key} carries credentials"
    secret_refs = 0
    for where, pod in pod_specs(objects):
        for spec in pod["containers"] + pod.get("initContainers", []):
            for env in spec.get("env", []):
                if "valueFrom" in env and "secretKeyRef" in env["valueFrom"]:
                    secret_refs += 1
                    assert "value" not in env
                else:
                    assert not SECRET_LIKE.search(env["name"]), f"{where}: {env['name']}"
                    assert not CREDENTIALS_IN_URL.search(env.get("value", "")), where
    assert secret_refs == 6  # DB host/port/name/user/password, cache password


# --- the values the construct refuses or converts ----------------------------------------


@pytest.mark.parametrize(
    ("cpu_limit", "memory_limit"), [("1", "4Gi"), ("1500m", "768Mi"), ("2", "1024Mi")]
)
def test_resource_quantities_render_to_the_same_amount(cpu_limit: str, memory_limit: str) -> None:
    values = app_values("dev")
    resources = replace(
        stage_config("dev").kubernetes.backend.resources,
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
    )
    stage = render(replace(values, backend=replace(values.backend, resources=resources)))
    limits = container(stage.one("Deployment", "backend"))["resources"]["limits"]
    assert quantity(limits["cpu"]) == quantity(cpu_limit)
    assert quantity(limits["memory"]) == quantity(memory_limit)


@pytest.mark.parametrize("bad", ["0.5", "250M", "1Ti", "two"])
def test_unsupported_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        cpu(bad)
    with pytest.raises(ValueError, match="quantity"):
        memory(bad)
