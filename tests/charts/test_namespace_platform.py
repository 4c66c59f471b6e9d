"""Namespace (Pod Security restricted) and platform (gp3 default StorageClass, ESO) charts."""

from __future__ import annotations

import pytest

from tests.charts.conftest import REGION, RenderedStage, stage_params


@pytest.mark.parametrize("stage", stage_params())
def test_namespace_enforces_restricted_pod_security(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    (namespace,) = rendered[stage].manifests["namespace"]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == f"openmarket-{stage}"
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"
    # Rolling updates wait for the ALB to see new pods healthy.
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


@pytest.mark.parametrize("stage", stage_params())
def test_gp3_is_the_only_default_storage_class(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    classes = rendered[stage].of_kind("StorageClass")
    assert len(classes) == 1
    (gp3,) = classes
    assert gp3["metadata"]["name"] == "gp3"
    assert gp3["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["parameters"]["type"] == "gp3"
    assert gp3["parameters"]["encrypted"] == "true"
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer"
    assert gp3["allowVolumeExpansion"] is True
    assert gp3["reclaimPolicy"] == "Delete"


@pytest.mark.parametrize("stage", stage_params())
def test_secret_store_uses_the_operator_identity_and_no_credentials(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    (store,) = rendered[stage].of_kind("SecretStore")
    assert store["apiVersion"] == "external-secrets.io/v1"
    assert store["metadata"] == {
        "labels": {"app.kubernetes.io/part-of": "openmarket"},
        "name": "aws-secrets-manager",
        "namespace": f"openmarket-{stage}",
    }
    # Exactly this: no auth block, no secretRef, no role to assume.
    assert store["spec"] == {"provider": {"aws": {"service": "SecretsManager", "region": REGION}}}


@pytest.mark.parametrize("stage", stage_params())
def test_one_external_secret_per_synced_secret(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    values = rendered[stage].values.platform
    secrets = {s["metadata"]["name"]: s for s in rendered[stage].of_kind("ExternalSecret")}
    assert set(secrets) == {entry.name for entry in values.external_secrets}
    for entry in values.external_secrets:
        spec = secrets[entry.name]["spec"]
        assert secrets[entry.name]["apiVersion"] == "external-secrets.io/v1"
        assert spec["refreshInterval"] == values.refresh_interval
        assert spec["secretStoreRef"] == {"kind": "SecretStore", "name": values.secret_store_name}
        # The template sets the Secret's metadata, so ESO never copies the ExternalSecret's
        # labels (in the cluster, the chart's prune label) onto it.
        assert spec["target"] == {
            "name": entry.name,
            "creationPolicy": "Owner",
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/part-of": "openmarket"},
                    "annotations": {},
                }
            },
        }
        assert {d["secretKey"]: d["remoteRef"] for d in spec["data"]} == {
            key: {"key": entry.remote_secret_name, "property": prop}
            for key, prop in entry.keys.items()
        }


@pytest.mark.parametrize("stage", stage_params())
def test_every_secret_the_backend_reads_is_synced(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    values = rendered[stage].values
    synced = {(s.name, key) for s in values.platform.external_secrets for key in s.keys}
    for workload in (values.backend, values.frontend):
        for env in workload.secret_env:
            assert (env.secret_name, env.key) in synced, env
