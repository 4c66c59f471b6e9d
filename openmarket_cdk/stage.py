"""OpenMarketStage: builds the stacks of one stage and wires them together."""

from __future__ import annotations

from typing import Any

from aws_cdk import Environment, Stage, Tags
from constructs import Construct

from openmarket_cdk.config import STAGE_TAG, StageConfig
from openmarket_cdk.stacks.cluster import ClusterStack
from openmarket_cdk.stacks.cluster_inputs import ClusterInputs
from openmarket_cdk.stacks.data import DataStack
from openmarket_cdk.stacks.functions import FunctionsInputs, FunctionsStack
from openmarket_cdk.stacks.network import NetworkStack
from openmarket_cdk.stacks.observability import ObservabilityInputs, ObservabilityStack
from openmarket_cdk.stacks.storage import StorageStack


class OpenMarketStage(Stage):
    """All stacks of one stage (dev, staging or prod), in dependency order.

    network -> storage, data -> functions -> cluster -> observability.
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
            stack_name=config.names.stack_name("network"),
            description=f"OpenMarket {config.name}: VPC, subnets, NAT, flow logs, security groups",
            config=config,
            **common,
        )
        self.storage = StorageStack(
            self,
            "Storage",
            stack_name=config.names.stack_name("storage"),
            description=f"OpenMarket {config.name}: uploads and logs buckets, ECR repositories",
            config=config,
            **common,
        )
        self.data = DataStack(
            self,
            "Data",
            stack_name=config.names.stack_name("data"),
            description=f"OpenMarket {config.name}: Aurora MySQL and ElastiCache",
            config=config,
            vpc=self.network.vpc,
            database_security_group=self.network.database_security_group,
            cache_security_group=self.network.cache_security_group,
            **common,
        )
        self.functions = FunctionsStack(
            self,
            "Functions",
            stack_name=config.names.stack_name("functions"),
            description=f"OpenMarket {config.name}: image, order, report and sync functions",
            config=config,
            inputs=FunctionsInputs(
                vpc=self.network.vpc,
                functions_security_group=self.network.functions_security_group,
                uploads_bucket=self.storage.uploads_bucket,
                logs_bucket=self.storage.logs_bucket,
                aurora=self.data.aurora,
                aurora_secret=self.data.aurora_secret,
                cache_endpoint=self.data.cache.attr_primary_end_point_address,
                cache_secret=self.data.cache_auth_secret,
                data_key=self.data.key,
            ),
            **common,
        )
        self.cluster = ClusterStack(
            self,
            "Cluster",
            stack_name=config.names.stack_name("cluster"),
            description=f"OpenMarket {config.name}: EKS cluster, add-ons, WAF and app charts",
            config=config,
            inputs=ClusterInputs(
                vpc=self.network.vpc,
                app_security_group=self.network.app_security_group,
                alb_security_group=self.network.alb_security_group,
                uploads_bucket=self.storage.uploads_bucket,
                aurora_secret=self.data.aurora_secret,
                cache_secret=self.data.cache_auth_secret,
                cache_endpoint=self.data.cache.attr_primary_end_point_address,
                data_key=self.data.key,
                event_bus=self.functions.event_bus,
            ),
            **common,
        )
        self.observability = ObservabilityStack(
            self,
            "Observability",
            stack_name=config.names.stack_name("observability"),
            description=f"OpenMarket {config.name}: dashboard, alarms, budget, schedules",
            config=config,
            inputs=ObservabilityInputs(
                aurora_cluster_identifier=self.data.aurora.cluster_identifier,
                cache_replication_group_id=self.data.cache_replication_group_id,
                cache_node_count=config.cache.node_count,
                functions=dict(self.functions.functions),
                dead_letter_queues=dict(self.functions.dead_letter_queues),
                load_balancer_name=config.names.load_balancer_name,
                nat_gateway_ids=self.network.nat_gateway_ids,
            ),
            **common,
        )
        # The NAT instance ids and the ALB's name come through SSM parameters the network and
        # cluster stacks write (not exports, which would block replacing what they name): both
        # must be deployed first, at any --concurrency.
        self.observability.add_stack_dependency(self.network)
        self.observability.add_stack_dependency(self.cluster)

        for key, value in (
            ("Project", "openmarket"),
            (STAGE_TAG, config.name),
            ("ManagedBy", "aws-cdk"),
        ):
            Tags.of(self).add(key, value)
