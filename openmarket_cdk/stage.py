"""OpenMarketStage: builds the stacks of one stage and wires them together."""

from __future__ import annotations

from typing import Any

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from openmarket_cdk.config import StageConfig
from openmarket_cdk.stacks.data import DataStack
from openmarket_cdk.stacks.network import NetworkStack
from openmarket_cdk.stacks.storage import StorageStack


class OpenMarketStage(Stage):
    """All stacks of one stage (dev, staging or prod), in dependency order.

    network -> storage, data (-> cluster, functions -> observability, from later issues).
    Each stack gets the constructs it uses as typed constructor arguments; stack names carry
    the stage name (``openmarket-dev-network``) so several stages can share one account.
    """

    def __init__(self, scope: Construct, config: StageConfig, **kwargs: Any) -> None:
        env = Environment(account=config.account, region=config.region)
        super().__init__(scope, config.name, env=env, **kwargs)
        self.config = config
        # Pre-answer the AZ lookup so synth never asks AWS (the stacks also pin the AZs).
        self.node.set_context(
            f"availability-zones:account={config.account}:region={config.region}",
            list(config.availability_zones),
        )
        common: dict[str, Any] = {
            "env": env,
            "termination_protection": config.termination_protection,
        }

        self.network = NetworkStack(
            self,
            "Network",
            stack_name=f"{config.prefix}-network",
            description=f"OpenMarket {config.name}: VPC, subnets, NAT, flow logs, security groups",
            config=config,
            **common,
        )
        self.storage = StorageStack(
            self,
            "Storage",
            stack_name=f"{config.prefix}-storage",
            description=f"OpenMarket {config.name}: uploads and logs buckets, ECR repositories",
            config=config,
            **common,
        )
        self.data = DataStack(
            self,
            "Data",
            stack_name=f"{config.prefix}-data",
            description=f"OpenMarket {config.name}: Aurora MySQL and ElastiCache",
            config=config,
            vpc=self.network.vpc,
            database_security_group=self.network.database_security_group,
            database_rotation_security_group=self.network.database_rotation_security_group,
            cache_security_group=self.network.cache_security_group,
            **common,
        )

        for key, value in (
            ("Project", "openmarket"),
            ("Stage", config.name),
            ("ManagedBy", "aws-cdk"),
        ):
            Tags.of(self).add(key, value)
