"""Storage: S3 buckets and ECR repositories, sized by the usage assumptions.

A template says a bucket exists, not how much it holds: the gigabytes and requests come
from ``assumptions.py`` by the bucket's role (uploads, logs, other).
"""

from __future__ import annotations

from tools.assembly import Resource, flatten
from tools.cost.context import StageContext
from tools.cost.model import Outcome
from tools.cost.rules.base import Service


def s3_bucket(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("BucketName")) or r.logical_id
    lowered = name.lower()
    c = ctx.calc()
    if "upload" in lowered:
        gigabytes = c.assume("s3_uploads_gb")
        puts = c.assume("s3_uploads_put_thousand")
        gets = c.assume("s3_uploads_get_thousand")
    else:
        gigabytes = c.assume("s3_logs_gb" if "log" in lowered else "s3_other_bucket_gb")
        puts = gets = 0.0
    usd = gigabytes * c.price("s3.standard_gb_month")
    if puts or gets:
        usd += puts * c.price("s3.put_thousand") + gets * c.price("s3.get_thousand")
    quantity = f"{gigabytes:g} GB" + (f" + {puts:g}k PUT + {gets:g}k GET" if puts or gets else "")
    notes = ["all counted as S3 Standard: lifecycle tiering only lowers it"]
    return [c.item(r, "S3", f"S3 bucket {name}", quantity, usd, notes)]


def ecr_repository(r: Resource, ctx: StageContext) -> list[Outcome]:
    name = flatten(r.prop("RepositoryName")) or r.logical_id
    c = ctx.calc()
    gigabytes = c.assume("ecr_gb_per_repository")
    usd = gigabytes * c.price("ecr.storage_gb_month")
    notes = ["basic scan on push is free"]
    return [c.item(r, "ECR", f"ECR repository {name}", f"{gigabytes:g} GB", usd, notes)]


SERVICE = Service(
    name="storage",
    rules={
        "AWS::S3::Bucket": s3_bucket,
        "AWS::ECR::Repository": ecr_repository,
    },
    free={
        "AWS::S3::BucketPolicy": "no charge",
    },
)
