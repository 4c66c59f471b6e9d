"""What a pricing rule may know about the whole stage, computed once before the walk.

Some costs of one resource depend on others. A log group belongs to a deploy-time function, an
EIP belongs to a NAT gateway, a flow log's group is vended. In a stage that sleeps, what runs
outside working hours depends on its stage-sleep schedules: tools/cost/sleep_schedules.py reads
them, tools/cost/sleep_inference.py infers what they stop, scale to 0 or delete and when
(node groups, Aurora, the NAT instance, the ALB), and tools/cost/invocations.py how often each
function runs. ``StageContext`` holds all of it for the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openmarket_cdk.config import StageConfig
from tools.assembly import Resource, StackTemplate, StageAssembly, flatten
from tools.cost.assumptions import assumption
from tools.cost.hours import working_hours_per_month
from tools.cost.invocations import database_wakes, invocation_plan
from tools.cost.model import STAGE_LEVEL, LineItem
from tools.cost.prices import PriceTable
from tools.cost.sleep_inference import (
    NODEGROUP_SCALING_TYPE,
    StageSleeps,
    nodegroup_name,
    nodegroup_zone,
)
from tools.cost.sleep_schedules import read_sleep_schedules

# The node-group names are sleep_inference.py's; the rules and estimate.py import them here.
__all__ = [
    "NODEGROUP_SCALING_TYPE",
    "Calc",
    "StageContext",
    "nodegroup_name",
    "nodegroup_zone",
]

CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)


class StageContext:
    """The stage being priced: config, prices, every resource and cross-resource facts."""

    def __init__(self, config: StageConfig, prices: PriceTable, stacks: Iterable[StackTemplate]):
        self.config = config
        self.stage = config.name
        self.prices = prices
        # Stacks in name order: the report does not depend on the assembly's order.
        self.assembly = StageAssembly(config.name, sorted(stacks, key=lambda s: s.name))
        self.stacks = list(self.assembly.stacks)
        self.resources: list[Resource] = list(self.assembly.resources)
        self.warnings: list[str] = []
        self.alb_groups: dict[str, str] = {}
        self.sleep = config.sleep
        self.working_hours_per_month = working_hours_per_month(self.sleep)
        self.deploy_time_functions = self._deploy_time_functions()
        # Their log groups, made by name (``/aws/lambda/<name>``) rather than by reference.
        self.deploy_time_log_groups = {
            f"/aws/lambda/{name}"
            for r in self.of_type("AWS::Lambda::Function")
            if r.address in self.deploy_time_functions and (name := flatten(r.prop("FunctionName")))
        }
        # What sleeps outside working hours, and when (sleep_inference.py).
        self.sleep_schedules = read_sleep_schedules(self.assembly, self.warnings)
        sleeps = StageSleeps(self.assembly, self.sleep_schedules, self.warnings)
        self.nodegroup_bounds = sleeps.nodegroup_bounds
        self.nodes_unfound = sleeps.nodes_unfound
        self.nodegroup_sleeps = sleeps.nodegroup_sleeps
        self.db_cluster_sleeps = sleeps.db_cluster_sleeps
        self.instance_sleeps = sleeps.instance_sleeps
        self.alb_sleeps = sleeps.alb_sleeps
        # How often functions run (invocations.py).
        self.invocations = invocation_plan(
            self.assembly,
            self.deploy_time_functions,
            self.sleep_schedules,
            self.assume("lambda_invocations"),
        )
        self.database_wakes_per_month = database_wakes(self.assembly, self.sleep)
        self.eks_log_types = self._eks_log_types()
        self.flow_log_groups = self._flow_log_groups()
        self.nat_eips = self._nat_eips()
        self.nat_gateway_count = sum(1 for r in self.resources if r.type == "AWS::EC2::NatGateway")

    # --- lookups ---------------------------------------------------------------------------
    def resolve(self, stack: str, value: Any) -> Resource | None:
        """The resource that ``value`` (a property in ``stack``) references, if any."""
        return next(iter(self.assembly.targets(stack, value)), None)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    def assume(self, key: str) -> float:
        return assumption(key).value(self.stage)

    def calc(self) -> Calc:
        return Calc(self)

    # --- precomputed facts -----------------------------------------------------------------
    def _deploy_time_functions(self) -> set[str]:
        """Lambda functions that only serve custom resources (run during deploys)."""
        functions = {r.address for r in self.resources if r.type == "AWS::Lambda::Function"}
        found: set[str] = set()
        for r in self.resources:
            if r.type.startswith("Custom::") or r.type in CUSTOM_RESOURCE_TYPES:
                target = self.resolve(r.stack, r.properties.get("ServiceToken"))
                if target is not None and target.address in functions:
                    found.add(target.address)
        # Provider frameworks call the user handler named in their environment.
        by_address = {r.address: r for r in self.resources}
        changed = True
        while changed:
            changed = False
            for address in sorted(found):
                function = by_address[address]
                env = function.prop("Environment", "Variables", default={})
                for target in self.assembly.targets(function.stack, env):
                    if target.address in functions and target.address not in found:
                        found.add(target.address)
                        changed = True
        return found

    def _eks_log_types(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for r in self.of_type("AWS::EKS::Cluster"):
            name = flatten(r.prop("Name")) or r.logical_id
            enabled = r.prop("Logging", "ClusterLogging", "EnabledTypes", default=[]) or []
            result[name] = [str(t.get("Type")) for t in enabled if isinstance(t, dict)]
        return result

    def _flow_log_groups(self) -> set[str]:
        groups: set[str] = set()
        for r in self.of_type("AWS::EC2::FlowLog"):
            if r.prop("LogDestinationType", default="cloud-watch-logs") != "cloud-watch-logs":
                continue
            for key in ("LogGroupName", "LogDestination"):
                target = self.resolve(r.stack, r.prop(key))
                if target is not None:
                    groups.add(target.address)
        return groups

    def _nat_eips(self) -> set[str]:
        eips: set[str] = set()
        for r in self.of_type("AWS::EC2::NatGateway"):
            target = self.resolve(r.stack, r.prop("AllocationId"))
            if target is not None:
                eips.add(target.address)
        return eips


class Calc:
    """Collects the prices and assumptions one line item used, and builds the item."""

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self.prices: list[str] = []
        self.assumptions: list[str] = []
        self.approximate = False

    def price(self, key: str, variant: str | None = None) -> float:
        found = self.ctx.prices.get(key, variant)
        if found.ref not in self.prices:
            self.prices.append(found.ref)
        self.approximate |= found.approximate
        return found.usd

    def assume(self, key: str) -> float:
        used = assumption(key)
        if key not in self.assumptions:
            self.assumptions.append(key)
        self.approximate |= used.approximate
        return used.value(self.ctx.stage)

    def item(
        self,
        resource: Resource | None,
        category: str,
        description: str,
        quantity: str,
        monthly_usd: float,
        notes: Iterable[str] = (),
        resource_type: str | None = None,
        minimum_usd: float | None = None,
        maximum_usd: float | None = None,
    ) -> LineItem:
        return LineItem(
            category=category,
            description=description,
            quantity=quantity,
            monthly_usd=monthly_usd,
            resource=resource.address if resource else STAGE_LEVEL,
            resource_type=resource_type or (resource.type if resource else "(usage)"),
            prices=tuple(self.prices),
            assumptions=tuple(self.assumptions),
            notes=tuple(notes),
            approximate=self.approximate,
            minimum_usd=minimum_usd,
            maximum_usd=maximum_usd,
        )
