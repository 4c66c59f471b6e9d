"""Stage model of OpenMarket: every size, count, version, CIDR, retention and schedule.

- a module per section (``network.py``, ``storage.py``, ``data.py``, ``kubernetes.py``,
  ``functions.py``, ``observability.py``, ``edge.py``, ``policy.py``): typed, frozen
  dataclasses with the original design's numbers, and the section's checks beside them;
- ``model.py``: ``StageConfig``, made of the sections;
- ``validation.py``: ``validate_stage`` runs every check and names the first bad field
  (``StageConfigError``);
- ``pins.py``, ``facts.py``, ``names.py``, ``quantities.py``: versions, platform facts,
  derived names, Kubernetes quantities;
- ``stages.py``: dev, staging and prod, and ``stage_config(name, account)``.

The account is a placeholder unless overridden (context ``-c account=...`` or the environment
variable ``OPENMARKET_ACCOUNT``); the region and the availability zones are fixed, so synth
never has to ask AWS anything.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from enum import StrEnum
from typing import Any

from openmarket_cdk.config.account import AccountConfig
from openmarket_cdk.config.data import AuroraCapacity, AuroraConfig, CacheConfig
from openmarket_cdk.config.edge import EdgeConfig
from openmarket_cdk.config.errors import StageConfigError
from openmarket_cdk.config.facts import (
    ACCOUNT_ENV_VAR,
    AVAILABILITY_ZONES,
    CLUSTER_ACCESS_TAG,
    ELB_LOG_DELIVERY_ACCOUNT,
    GITHUB_REPOSITORY,
    INSTANCE_SHAPES,
    KUBERNETES_VERSION,
    LBC_CLUSTER_TAG,
    LOG_RETENTION_PERIODS,
    METRICS_NAMESPACE,
    PLACEHOLDER_ACCOUNT,
    REGION,
    SLEEPS_TAG,
    SMOKE_ACCESS_TAG,
    STACK_KINDS,
    STAGE_NAMES,
    STAGE_TAG,
    VALID_LOG_RETENTION_DAYS,
    InstanceShape,
    SystemComponent,
)
from openmarket_cdk.config.functions import FunctionsConfig, FunctionSize
from openmarket_cdk.config.kubernetes import (
    AlertmanagerConfig,
    ControllerRelease,
    ControllersConfig,
    ExporterConfig,
    GrafanaConfig,
    KubernetesConfig,
    MonitoringConfig,
    MonitoringStackRelease,
    NodeAutoscalerConfig,
    NodeCapacity,
    PrometheusConfig,
    Resources,
    WorkloadConfig,
)
from openmarket_cdk.config.model import StageConfig
from openmarket_cdk.config.names import StageNames
from openmarket_cdk.config.network import NatMode, NetworkConfig
from openmarket_cdk.config.observability import ObservabilityConfig
from openmarket_cdk.config.policy import StagePolicy
from openmarket_cdk.config.stages import (
    EDGE_CONTEXT_KEYS,
    account_config,
    all_stage_configs,
    resolve_account,
    stage_config,
    with_edge_overrides,
)
from openmarket_cdk.config.storage import StorageConfig
from openmarket_cdk.config.validation import (
    account_deploy_blockers,
    deploy_blockers,
    validate_account_config,
    validate_stage,
)
from openmarket_cdk.stage_sleep.config import StageSleepConfig

__all__ = [
    "ACCOUNT_ENV_VAR",
    "AVAILABILITY_ZONES",
    "CLUSTER_ACCESS_TAG",
    "EDGE_CONTEXT_KEYS",
    "ELB_LOG_DELIVERY_ACCOUNT",
    "GITHUB_REPOSITORY",
    "INSTANCE_SHAPES",
    "KUBERNETES_VERSION",
    "LBC_CLUSTER_TAG",
    "LOG_RETENTION_PERIODS",
    "METRICS_NAMESPACE",
    "PLACEHOLDER_ACCOUNT",
    "REGION",
    "SLEEPS_TAG",
    "SMOKE_ACCESS_TAG",
    "STACK_KINDS",
    "STAGE_NAMES",
    "STAGE_TAG",
    "VALID_LOG_RETENTION_DAYS",
    "AccountConfig",
    "AlertmanagerConfig",
    "AuroraCapacity",
    "AuroraConfig",
    "CacheConfig",
    "ControllerRelease",
    "ControllersConfig",
    "EdgeConfig",
    "ExporterConfig",
    "FunctionSize",
    "FunctionsConfig",
    "GrafanaConfig",
    "InstanceShape",
    "KubernetesConfig",
    "MonitoringConfig",
    "MonitoringStackRelease",
    "NatMode",
    "NetworkConfig",
    "NodeAutoscalerConfig",
    "NodeCapacity",
    "ObservabilityConfig",
    "PrometheusConfig",
    "Resources",
    "StageConfig",
    "StageConfigError",
    "StageNames",
    "StagePolicy",
    "StageSleepConfig",
    "StorageConfig",
    "SystemComponent",
    "WorkloadConfig",
    "account_config",
    "account_deploy_blockers",
    "all_stage_configs",
    "as_dict",
    "deploy_blockers",
    "resolve_account",
    "stage_config",
    "validate_account_config",
    "validate_stage",
    "with_edge_overrides",
]


def as_dict(obj: Any) -> Any:
    """A plain, JSON-friendly view of a config (for docs, cost estimates and tests)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [as_dict(v) for v in obj]
    if isinstance(obj, StrEnum):
        return obj.value
    return obj
