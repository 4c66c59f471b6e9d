"""Every rendered object is valid Kubernetes, for the cluster's version and for 1.28.

kubernetes-validate in strict mode (unknown fields are errors) covers the core kinds. The
External Secrets kinds are CRDs with no schema in it: they get a structural check here of
the fields the charts use, against ESO's v1 API.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from typing import Any

import kubernetes_validate
import pytest

from openmarket_cdk.config import KUBERNETES_VERSION
from tests.charts.conftest import Manifest, RenderedStage, stage_params

# The cluster's version and the original design's.
VERSIONS = (KUBERNETES_VERSION, "1.28")
ESO_API_VERSION = "external-secrets.io/v1"
CRD_KINDS = {(ESO_API_VERSION, "SecretStore"), (ESO_API_VERSION, "ExternalSecret")}
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stage", stage_params())
def test_core_objects_validate_strictly(
    rendered: dict[str, RenderedStage], stage: str, version: str
) -> None:
    objects = rendered[stage].all_objects()
    core = [obj for obj in objects if (obj["apiVersion"], obj["kind"]) not in CRD_KINDS]
    assert len(objects) - len(core) == 3  # the SecretStore and two ExternalSecrets
    for obj in core:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} on {version}: {error.message}")


def _keys(
    where: str, mapping: Any, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> None:
    assert isinstance(mapping, dict), f"{where}: not an object"
    missing = required - set(mapping)
    unknown = set(mapping) - required - optional
    assert not missing, f"{where}: missing {sorted(missing)}"
    assert not unknown, f"{where}: unknown {sorted(unknown)}"


def check_metadata(obj: Manifest) -> None:
    where = f"{obj['kind']}.metadata"
    _keys(where, obj["metadata"], {"name", "namespace"}, {"labels", "annotations"})
    assert DNS_1123_SUBDOMAIN.fullmatch(obj["metadata"]["name"]), where


def check_secret_store(obj: Manifest) -> None:
    _keys("SecretStore", obj, {"apiVersion", "kind", "metadata", "spec"})
    check_metadata(obj)
    _keys("SecretStore.spec", obj["spec"], {"provider"}, {"controller", "retrySettings"})
    _keys("SecretStore.spec.provider", obj["spec"]["provider"], {"aws"})
    aws = obj["spec"]["provider"]["aws"]
    _keys("SecretStore.spec.provider.aws", aws, {"service", "region"}, {"auth", "role"})
    assert aws["service"] in {"SecretsManager", "ParameterStore"}
    assert isinstance(aws["region"], str) and aws["region"]


def check_external_secret(obj: Manifest) -> None:
    _keys("ExternalSecret", obj, {"apiVersion", "kind", "metadata", "spec"})
    check_metadata(obj)
    spec = obj["spec"]
    _keys("ExternalSecret.spec", spec, {"secretStoreRef", "target"}, {"refreshInterval", "data"})
    assert DURATION.fullmatch(spec.get("refreshInterval", "1h"))
    _keys("ExternalSecret.spec.secretStoreRef", spec["secretStoreRef"], {"name"}, {"kind"})
    assert spec["secretStoreRef"].get("kind", "SecretStore") in {
        "SecretStore",
        "ClusterSecretStore",
    }
    _keys("ExternalSecret.spec.target", spec["target"], {"name"}, {"creationPolicy", "template"})
    if "template" in spec["target"]:
        template = spec["target"]["template"]
        _keys(
            "ExternalSecret.spec.target.template",
            template,
            set(),
            {"metadata", "type", "engineVersion", "mergePolicy", "data", "templateFrom"},
        )
        _keys(
            "ExternalSecret.spec.target.template.metadata",
            template.get("metadata", {}),
            set(),
            {"labels", "annotations", "finalizers"},
        )
    assert spec["target"]["creationPolicy"] in {"Owner", "Orphan", "Merge", "None"}
    assert DNS_1123_SUBDOMAIN.fullmatch(spec["target"]["name"])
    assert spec["data"], "ExternalSecret.spec.data is empty"
    for index, item in enumerate(spec["data"]):
        where = f"ExternalSecret.spec.data[{index}]"
        _keys(where, item, {"secretKey", "remoteRef"})
        assert re.fullmatch(r"[-._a-zA-Z0-9]+", item["secretKey"]), where
        _keys(f"{where}.remoteRef", item["remoteRef"], {"key"}, {"property", "version"})


@pytest.mark.parametrize("stage", stage_params())
def test_external_secrets_objects_are_well_formed(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    stores = rendered[stage].of_kind("SecretStore")
    secrets = rendered[stage].of_kind("ExternalSecret")
    assert len(stores) == 1 and len(secrets) == 2
    for obj in stores + secrets:
        assert obj["apiVersion"] == ESO_API_VERSION
    for store in stores:
        check_secret_store(store)
    for secret in secrets:
        check_external_secret(secret)
        assert secret["spec"]["secretStoreRef"]["name"] == stores[0]["metadata"]["name"]
        assert secret["metadata"]["namespace"] == stores[0]["metadata"]["namespace"]


def test_the_structural_check_rejects_a_typo() -> None:
    secret: Manifest = {
        "apiVersion": ESO_API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {
            "secretStoreRef": {"name": "s", "kind": "SecretStore"},
            "target": {"name": "x", "creationPolicy": "Owner"},
            "data": [{"secretKey": "k", "remoteRef": {"key": "r", "proprety": "p"}}],
        },
    }
    with pytest.raises(AssertionError, match="unknown"):
        check_external_secret(secret)
