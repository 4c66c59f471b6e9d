"""Serverless: Lambda functions and what drives or configures them (SQS, EventBridge,
Scheduler, SSM parameters).

A function that only serves custom resources runs during deploys and is free; a
scheduled one is invoked as often as its schedule fires; the event-driven ones share the
rest of the stage's invocations (``StageContext.invocations``).
"""

from __future__ import annotations

from tools.assembly import Resource, as_number, flatten
from tools.cost.context import StageContext
from tools.cost.hours import HOURS_PER_MONTH, schedule_fires_per_month
from tools.cost.model import Free, Outcome
from tools.cost.rules.base import Service
from tools.cost.rules.deployment import DEPLOY_TIME


def lambda_function(r: Resource, ctx: StageContext) -> list[Outcome]:
    if r.address in ctx.deploy_time_functions:
        return [Free(r.address, r.type, f"serves a custom resource: {DEPLOY_TIME}")]
    plan = ctx.invocations[r.address]
    memory_gb = as_number(r.prop("MemorySize"), 128) / 1024
    architectures = r.prop("Architectures") or ["x86_64"]
    architecture = str(architectures[0])
    c = ctx.calc()
    duration = c.assume("lambda_average_duration_s")
    c.assume("lambda_invocations")
    gb_seconds = plan.per_month * duration * memory_gb
    usd = gb_seconds * c.price("lambda.gb_second", architecture)
    usd += plan.per_month / 1e6 * c.price("lambda.request_million")
    name = flatten(r.prop("FunctionName")) or r.logical_id
    return [
        c.item(
            r,
            "Lambda",
            f"function {name} ({memory_gb * 1024:.0f} MB, {architecture})",
            f"{plan.per_month:,.0f} invocations x {duration:g} s = {gb_seconds:,.0f} GB-s",
            usd,
            [plan.how],
        )
    ]


def sqs_queue(r: Resource, ctx: StageContext) -> list[Outcome]:
    fifo = bool(r.prop("FifoQueue"))
    c = ctx.calc()
    requests = c.assume("sqs_requests_million")
    usd = requests * c.price("sqs.request_million", "fifo" if fifo else "standard")
    name = flatten(r.prop("QueueName")) or r.logical_id
    return [c.item(r, "other", f"SQS queue {name}", f"{requests:g} M requests", usd)]


def event_bus(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    events = c.assume("eventbridge_custom_events_million")
    usd = events * c.price("events.custom_event_million")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "other", f"EventBridge bus {name}", f"{events:g} M custom events", usd)]


def scheduler_schedule(r: Resource, ctx: StageContext) -> list[Outcome]:
    expression = flatten(r.prop("ScheduleExpression")) or ""
    fires = schedule_fires_per_month(expression)
    notes = []
    if fires is None:
        fires = HOURS_PER_MONTH
        notes.append(f"{expression!r} not modelled: counted hourly")
    c = ctx.calc()
    usd = fires / 1e6 * c.price("scheduler.invocation_million")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "other", f"schedule {name} ({expression})", f"{fires:,.0f} runs", usd, notes)]


def ssm_parameter(r: Resource, ctx: StageContext) -> list[Outcome]:
    if r.prop("Tier") != "Advanced":
        return [Free(r.address, r.type, "standard parameters have no charge")]
    c = ctx.calc()
    usd = c.price("ssm.advanced_parameter_month")
    return [c.item(r, "other", "advanced SSM parameter", "1", usd)]


SERVICE = Service(
    name="serverless",
    rules={
        "AWS::Lambda::Function": lambda_function,
        "AWS::SQS::Queue": sqs_queue,
        "AWS::Events::EventBus": event_bus,
        "AWS::Scheduler::Schedule": scheduler_schedule,
        "AWS::SSM::Parameter": ssm_parameter,
    },
    free={
        "AWS::Lambda::Permission": "no charge",
        "AWS::Lambda::EventInvokeConfig": "no charge (retries are invocations of the function)",
        "AWS::Lambda::EventSourceMapping": "no charge for the mapping (the function is priced)",
        "AWS::Lambda::LayerVersion": "layers count toward the free 75 GB of function storage",
        "AWS::SQS::QueuePolicy": "no charge",
        "AWS::Events::Rule": "rules have no charge (custom events are priced on the event bus)",
        "AWS::Scheduler::ScheduleGroup": "no charge",
    },
)
