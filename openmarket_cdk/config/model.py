"""The stage model: typed, frozen dataclasses with the original design's numbers as defaults
(docs/requirements.md).

A ``StageConfig`` is everything that differs between dev, staging and prod, made of one
section per module (``network.py``, ``storage.py``, ``data.py``, ``kubernetes.py``,
``functions.py``, ``observability.py``, ``edge.py``, stage sleep's own), each next to its
checks; ``validation.py`` runs them and holds the rules across sections; the three stage
definitions are in ``stages.py``. Names that more than one
stack or chart must agree on (secrets, log groups, the cluster, services, ports, namespaces)
are fields or derived properties here, and flow down: config -> stage -> stacks -> charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openmarket_cdk.config.data import AuroraConfig, CacheConfig
from openmarket_cdk.config.edge import EdgeConfig
from openmarket_cdk.config.errors import StageConfigError as StageConfigError
from openmarket_cdk.config.facts import (
    AVAILABILITY_ZONES,
    REGION,
)
from openmarket_cdk.config.functions import FunctionsConfig
from openmarket_cdk.config.kubernetes import KubernetesConfig
from openmarket_cdk.config.names import StageNames
from openmarket_cdk.config.network import NetworkConfig
from openmarket_cdk.config.observability import ObservabilityConfig
from openmarket_cdk.config.policy import StagePolicy
from openmarket_cdk.config.storage import StorageConfig
from openmarket_cdk.stage_sleep.config import StageSleepConfig


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
    account: str
    network: NetworkConfig = field(default_factory=NetworkConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    aurora: AuroraConfig = field(default_factory=AuroraConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    # None: HTTP only on the ALB's own name (dev may run so; staging and prod may not).
    edge: EdgeConfig | None = None
    # Outside working hours (dev, staging): openmarket_cdk/stage_sleep.
    sleep: StageSleepConfig = field(default_factory=StageSleepConfig)
    # What the stage's role demands (validation enforces it).
    policy: StagePolicy = field(default_factory=StagePolicy)
    # Stage-wide policies, read by every stack.
    # Multi-AZ data tier: an Aurora reader and a cache replica in the second AZ.
    multi_az: bool = True
    termination_protection: bool = True
    # Keep buckets, keys, secrets, log groups and data on stack deletion (dev: remove them).
    retain_on_delete: bool = True
    region: str = REGION
    availability_zones: tuple[str, str] = AVAILABILITY_ZONES

    @property
    def node_group_sizes(self) -> dict[str, tuple[int, int]]:
        """Zone -> (min, max) nodes of its node group: the stage's totals shared out, the
        first zones taking the remainders (3 over two zones: 2 in 2a, 1 in 2c). One node group
        per zone, so the Cluster Autoscaler can add a node in the zone a pod needs."""
        zones = self.availability_zones
        k8s = self.kubernetes

        def share(total: int) -> list[int]:
            base, extra = divmod(total, len(zones))
            return [base + (1 if index < extra else 0) for index in range(len(zones))]

        return dict(
            zip(
                zones,
                zip(share(k8s.node_min_size), share(k8s.node_max_size), strict=True),
                strict=True,
            )
        )

    @property
    def alb_is_restricted(self) -> bool:
        """Whether the ALB answers listed ranges only (no 0.0.0.0/0 rule): `make smoke` then
        opens the caller's address for the length of its run."""
        return all(not cidr.endswith("/0") for cidr in self.network.alb_ingress_cidrs)

    @property
    def names(self) -> StageNames:
        """Every name derived from the stage (resources, secrets, topics, log groups...)."""
        return StageNames(self.name, self.account, self.region, self.kubernetes.admin_role_name)
