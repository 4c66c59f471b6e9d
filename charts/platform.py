"""Cluster plumbing the apps rely on: the default StorageClass and the secret sync."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cdk8s
from cdk8s_plus_28 import k8s
from constructs import Construct

from charts.labels import chart_labels
from charts.values import ExternalSecretValues, PlatformValues

STORAGE_CLASS_NAME = "gp3"
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

# External Secrets Operator: its kinds are CRDs that cdk8s-plus does not know, so they are
# built as plain ApiObjects. v1 is the served, stored version since ESO 0.17 / 1.0.
ESO_API_VERSION = "external-secrets.io/v1"


class PlatformChart(cdk8s.Chart):
    """Deploys what the workloads need from the cluster, for the platform team.

    - ``gp3``: the default StorageClass (EBS CSI driver, encrypted, bound when a pod is
      scheduled so the volume lands in the pod's AZ, expandable).
    - A SecretStore for AWS Secrets Manager in the app namespace. It carries no credentials:
      the External Secrets controller authenticates with its own pod identity, whose IAM
      role the cluster stack limits to the stage's secrets.
    - One ExternalSecret per synced secret: ESO creates and owns the Kubernetes Secret, so no
      secret value is ever part of a manifest.
    """

    def __init__(self, scope: Construct, id: str, values: PlatformValues) -> None:
        # Mixed scope (the StorageClass is cluster-scoped): each namespaced object names its
        # namespace itself rather than through the chart.
        super().__init__(scope, id, labels=chart_labels(), disable_resource_name_hashes=True)
        self.storage_class = self._storage_class()
        self.secret_store, self.external_secrets = secret_sync(
            self,
            namespace=values.namespace,
            region=values.region,
            store_name=values.secret_store_name,
            refresh_interval=values.refresh_interval,
            secrets=values.external_secrets,
            secret_labels=chart_labels(),
        )

    def _storage_class(self) -> k8s.KubeStorageClass:
        return k8s.KubeStorageClass(
            self,
            "gp3",
            metadata=k8s.ObjectMeta(
                name=STORAGE_CLASS_NAME,
                annotations={DEFAULT_CLASS_ANNOTATION: "true"},
            ),
            provisioner=EBS_CSI_PROVISIONER,
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
        )


def secret_sync(
    scope: Construct,
    *,
    namespace: str,
    region: str,
    store_name: str,
    refresh_interval: str,
    secrets: Sequence[ExternalSecretValues],
    secret_labels: Mapping[str, str],
) -> tuple[cdk8s.ApiObject, list[cdk8s.ApiObject]]:
    """The SecretStore of a namespace and one ExternalSecret per synced secret."""
    store = secret_store(scope, name=store_name, namespace=namespace, region=region)
    external_secrets = [
        external_secret(
            scope,
            secret,
            namespace=namespace,
            store_name=store_name,
            refresh_interval=refresh_interval,
            secret_labels=secret_labels,
        )
        for secret in secrets
    ]
    return store, external_secrets


def secret_store(scope: Construct, *, name: str, namespace: str, region: str) -> cdk8s.ApiObject:
    """A SecretStore for AWS Secrets Manager. No ``auth``: ESO uses the AWS SDK's default
    chain, i.e. the controller's pod identity. No static keys exist anywhere."""
    return _custom_object(
        scope,
        "secret-store",
        kind="SecretStore",
        name=name,
        namespace=namespace,
        spec={"provider": {"aws": {"service": "SecretsManager", "region": region}}},
    )


def external_secret(
    scope: Construct,
    secret: ExternalSecretValues,
    *,
    namespace: str,
    store_name: str,
    refresh_interval: str,
    secret_labels: Mapping[str, str],
) -> cdk8s.ApiObject:
    """One ExternalSecret; ESO creates and owns the Kubernetes Secret it names.

    The target template sets the Secret's labels and annotations explicitly. Without a
    template ESO copies the ExternalSecret's own labels onto the Secret, and those include
    the prune label the CDK kubectl handler adds to every object of a chart
    (``aws.cdk.eks/prune-<addr>``): the next ``kubectl apply --prune`` of the chart would then
    delete the synced Secret (ESO recreates it, but pods starting in the gap fail).
    """
    data: list[dict[str, Any]] = [
        {"secretKey": key, "remoteRef": {"key": secret.remote_secret_name, "property": prop}}
        for key, prop in sorted(secret.keys.items())
    ]
    return _custom_object(
        scope,
        f"external-secret-{secret.name}",
        kind="ExternalSecret",
        name=secret.name,
        namespace=namespace,
        spec={
            "refreshInterval": refresh_interval,
            "secretStoreRef": {"kind": "SecretStore", "name": store_name},
            "target": {
                "name": secret.name,
                "creationPolicy": "Owner",
                # No template data: the Secret's keys are the synced ones, as before.
                "template": {
                    "metadata": {"labels": dict(secret_labels), "annotations": {}},
                },
            },
            "data": data,
        },
    )


def _custom_object(
    scope: Construct, id: str, *, kind: str, name: str, namespace: str, spec: dict[str, Any]
) -> cdk8s.ApiObject:
    """An External Secrets object: an ApiObject whose spec is added as a JSON patch (the
    Python ApiObject takes no body beyond apiVersion, kind and metadata)."""
    obj = cdk8s.ApiObject(
        scope,
        id,
        api_version=ESO_API_VERSION,
        kind=kind,
        metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace),
    )
    obj.add_json_patch(cdk8s.JsonPatch.add("/spec", spec))
    return obj
