"""image-processor Lambda: thumbnails for images uploaded under ``uploads/``.

Thin handler: parse the S3 event, build clients from the environment, call
``thumbnail_processor`` (which renders with ``image_rendering``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from thumbnail_processor import (
    OUTCOMES,
    S3Client,
    Settings,
    ThumbnailProcessor,
    objects_from_event,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "image-processor")

logger = Logger(service=SERVICE)
# No namespace here: Powertools reads POWERTOOLS_METRICS_NAMESPACE, which Settings requires.
metrics = Metrics(service=SERVICE)
settings = Settings.from_env(os.environ)  # a bad configuration fails the cold start, loudly


@functools.cache
def s3_client() -> S3Client:
    # Standard retry mode already retries throttling and 5xx a few times inside one invocation;
    # whatever still fails is raised to Lambda, which retries the event and then uses the DLQ.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5)
    client: S3Client = boto3.client("s3", config=config)
    return client


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    processor = ThumbnailProcessor(s3_client(), settings, logger)
    counts = dict.fromkeys(OUTCOMES, 0)
    try:
        for obj in objects_from_event(event):
            outcome = processor.process(obj)  # transient AWS errors propagate: Lambda retries
            counts[outcome.status] += 1
    finally:
        metrics.add_metric(name="ImagesProcessed", unit=MetricUnit.Count, value=counts["processed"])
    return counts
