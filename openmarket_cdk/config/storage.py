"""The storage section: S3 lifecycle and ECR retention, and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config.errors import fail


@dataclass(frozen=True)
class StorageConfig:
    """S3 buckets and ECR repositories."""

    infrequent_access_after_days: int = 30
    glacier_after_days: int = 90
    noncurrent_versions_expire_after_days: int = 30
    # Access logs: the original design keeps them 90 days. Transitions at or after this day
    # are left out, since S3 needs every transition to happen before expiry.
    logs_expire_after_days: int = 90
    ecr_keep_last_images: int = 30


def validate_storage(storage: StorageConfig) -> None:
    if storage.infrequent_access_after_days < 30:
        fail("storage.infrequent_access_after_days", "S3 allows Standard-IA from day 30")
    if storage.glacier_after_days <= storage.infrequent_access_after_days:
        fail("storage.glacier_after_days", "must come after the Standard-IA transition")
    if storage.noncurrent_versions_expire_after_days < 1:
        fail("storage.noncurrent_versions_expire_after_days", "must be at least 1 day")
    if storage.logs_expire_after_days <= storage.infrequent_access_after_days:
        fail("storage.logs_expire_after_days", "must come after the Standard-IA transition")
    if not 1 <= storage.ecr_keep_last_images <= 1000:
        fail("storage.ecr_keep_last_images", "must be between 1 and 1000")
