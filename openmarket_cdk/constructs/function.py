"""OpenMarketFunction: one Lambda function with its role, log group and dead-letter queue."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_python_alpha import BundlingOptions, PythonFunction
from constructs import Construct

from openmarket_cdk.common import log_retention, pascal_case, retain_or_destroy
from openmarket_cdk.config import METRICS_NAMESPACE, StageConfig, pins
from openmarket_cdk.nag import acknowledge

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# The pinned Python runtime (config/pins.py), as the Runtime aws-cdk-lib defines for it.
RUNTIME: lambda_.Runtime = getattr(
    lambda_.Runtime, "PYTHON_" + pins.LAMBDA_PYTHON_VERSION.replace(".", "_")
)
# Every dependency ships arm64 wheels (tests/functions/test_function_wheels.py); Graviton
# is ~20% cheaper per GB-second.
ARCHITECTURE = lambda_.Architecture.ARM_64


class OpenMarketFunction(Construct):
    """The Python function ``functions/<name>/`` (PythonFunction, arm64, JSON logs), with:

    - a role that may write its own log group and nothing else until grants are added;
    - an explicit log group ``/aws/lambda/openmarket-<stage>-<name>`` with the stage's
      retention;
    - a dead-letter queue ``openmarket-<stage>-<name>-dlq`` for failed async invocations
      (after ``async_retry_attempts``), whose depth alarm the observability stack owns;
    - in the VPC (private subnets, the functions security group) when ``vpc`` is given.

    The construct id is the function name in PascalCase. The function is the "Default"
    child and the log group and queue are anchored at the stack's top level, so all three
    keep the logical IDs they had before this part existed (tests/test_pinned_ids.py).
    ``function`` and ``dead_letter_queue`` are what alarms are built on.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        name: str,
        config: StageConfig,
        environment: dict[str, str],
        vpc: ec2.IVpc | None = None,
        security_group: ec2.ISecurityGroup | None = None,
    ) -> None:
        construct_id = pascal_case(name)
        super().__init__(scope, construct_id)
        self.name = name
        self._config = config
        fn_cfg = config.functions
        size = fn_cfg.sizes[name]
        function_name = f"{config.names.prefix}-{name}"
        removal = retain_or_destroy(config.retain_on_delete)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            stack,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention(fn_cfg.log_retention_days),
            removal_policy=removal,
        )
        self.dead_letter_queue = sqs.Queue(
            stack,
            f"{construct_id}DeadLetterQueue",
            queue_name=f"{function_name}-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(fn_cfg.dead_letter_retention_days),
            removal_policy=removal,
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the function and its trigger.",
        )
        self.role = iam.Role(
            self,
            "Role",
            description=f"{function_name}: its own log group and the grants below, no more",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        if vpc is not None:
            self._allow_vpc_networking()
        self.function = PythonFunction(
            self,
            "Default",
            function_name=function_name,
            entry=str(FUNCTIONS_DIR / name),
            index="index.py",
            handler="handler",
            # Bytecode a local run (tests, mypy) left behind is neither shipped nor part of
            # the asset's hash: the same sources give the same asset on every machine.
            bundling=BundlingOptions(asset_excludes=["__pycache__", "*.pyc"]),
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=size.memory_mb,
            timeout=Duration.seconds(size.timeout_s),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=fn_cfg.async_retry_attempts,
            max_event_age=Duration.minutes(fn_cfg.max_event_age_minutes),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            if vpc is not None
            else None,
            security_groups=[security_group] if security_group is not None else None,
            # The async retries above are the retry story; no recursion is expected.
            recursive_loop=lambda_.RecursiveLoop.TERMINATE,
        )

    def _allow_vpc_networking(self) -> None:
        # What Lambda needs to attach its ENIs; EC2 does not scope these by resource.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
            )
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Lambda's VPC networking actions (ENI create/describe/delete) do not support "
            "resource-level permissions.",
        )

    def add_schedule(
        self, expression: scheduler.ScheduleExpression, description: str
    ) -> scheduler.Schedule:
        """An EventBridge Scheduler schedule that invokes the function; failed deliveries go
        to the function's dead-letter queue."""
        fn_cfg = self._config.functions
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "SchedulerRole",
            description=f"EventBridge Scheduler: invoke {self.name}, send failures to its DLQ",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
        )
        schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=f"{self._config.names.prefix}-{self.name}",
            description=description,
            schedule=expression,
            target=scheduler_targets.LambdaInvoke(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=fn_cfg.async_retry_attempts,
                max_event_age=Duration.minutes(fn_cfg.max_event_age_minutes),
                role=role,
            ),
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.function)}.Arn>:*]",
            "The scheduler's role may invoke this one function; ':*' only covers its "
            "version and alias qualifiers.",
        )
        return schedule


def logical_id(construct: Construct) -> str:
    """The logical ID of a construct's CloudFormation resource (as cdk-nag names it)."""
    cfn = construct.node.default_child
    assert cfn is not None
    return Stack.of(construct).get_logical_id(cfn)  # type: ignore[arg-type]
