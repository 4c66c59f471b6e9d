"""Thumbnails that follow the current version of their upload, whatever order events come in.

S3 does not order event notifications, Lambda retries failed events, and several invocations
can work on the same key at once (an upload overwritten twice in a second). A plain PutObject
of the thumbnails lets whichever invocation finishes last win, older version or not. Instead:

1. Every thumbnail carries, as user metadata, the ``sequencer`` of the S3 event it was made
   from (``source-sequencer``) and the source version (``source-version-id``). For events on
   the same key, a greater sequencer (hex, compared as a number, i.e. after left-padding) is a
   later event: AWS documents this for exactly this purpose.
2. A thumbnail is only replaced by one with a greater sequencer, as a compare-and-swap: read
   the current thumbnail (HEAD), decide, then ``PutObject`` with ``If-Match: <ETag read>`` (or
   ``If-None-Match: *`` when there is none). S3 answers 412 (or 409 for a concurrent
   conditional write) if anything wrote in between: read again, decide again. No lock, no
   table, correct for any interleaving of invocations.
3. The bytes of a thumbnail name its source version (a JPEG comment, see
   ``thumbnail_processor.source_comment``), so two source versions never produce the same ETag
   and a stale ETag can never match a newer write that happens to look the same (the ABA
   problem of ETag compare-and-swap).
4. Deleting is conditional too (``DeleteObject`` with ``If-Match``): thumbnails of an older
   version are removed when the current version is rejected, and an invocation that finds
   its version superseded after writing removes exactly what it wrote, never a newer write.

A HEAD that answers 403 is treated as "no thumbnail": without ``s3:ListBucket`` S3 answers 403
for a missing key. If the key does exist after all, the conditional write fails with 412 and
the loop reads again; after :data:`MAX_ATTEMPTS` rounds :class:`ThumbnailContention` is raised
and Lambda retries the event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

NO_SEQUENCER: Final = -1  # an event without a sequencer, or a thumbnail written before this
MAX_ATTEMPTS: Final = 6
META_SEQUENCER: Final = "source-sequencer"
META_VERSION: Final = "source-version-id"

_HEX: Final = re.compile(r"[0-9A-Fa-f]{1,64}")
_RETRY_CODES: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})
_RETRY_STATUS: Final = frozenset({404, 409, 412})
_ABSENT_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404", "AccessDenied", "403"})


class S3Writes(Protocol):
    """The S3 calls this module makes."""

    def head_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def put_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def delete_object(self, **kwargs: Any) -> Mapping[str, Any]: ...


class ThumbnailContention(RuntimeError):
    """A thumbnail kept changing between read and conditional write; the event is retried."""


def parse_sequencer(raw: object) -> int:
    """The event's ``s3.object.sequencer`` as a number; NO_SEQUENCER when absent or malformed.

    Comparing the numbers is comparing the hex strings after left-padding them to one length.
    """
    if isinstance(raw, str) and _HEX.fullmatch(raw):
        return int(raw, 16)
    return NO_SEQUENCER


@dataclass(frozen=True)
class ThumbnailState:
    """What a thumbnail says about the upload it was made from."""

    etag: str
    sequencer: int
    source_version_id: str | None


def _code(exc: ClientError) -> tuple[str, int | None]:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def _is_retry(exc: ClientError) -> bool:
    code, status = _code(exc)
    return code in _RETRY_CODES or status in _RETRY_STATUS


class VersionedThumbnails:
    """Conditional reads, writes and deletes of the thumbnails in one bucket."""

    def __init__(self, s3: S3Writes, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def state(self, key: str) -> ThumbnailState | None:
        """The thumbnail's ETag and source, or None if there is none (404, or 403 without
        s3:ListBucket)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code, status = _code(exc)
            if code in _ABSENT_CODES or status in (403, 404):
                return None
            raise
        metadata = head.get("Metadata") or {}
        return ThumbnailState(
            etag=str(head["ETag"]),
            sequencer=parse_sequencer(metadata.get(META_SEQUENCER)),
            source_version_id=metadata.get(META_VERSION),
        )

    def put_if_newer(
        self,
        key: str,
        body: bytes,
        *,
        sequencer: int,
        metadata: Mapping[str, str],
        known: ThumbnailState | None,
        content_type: str = "image/jpeg",
    ) -> str | None:
        """Write `body` unless the thumbnail already comes from this event or a later one.

        `known`: the state read earlier (saves a HEAD when nothing changed since). Returns the
        new ETag, or None when a thumbnail at least as new was found (nothing written).
        """
        state = known
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                state = self.state(key)
            if state is not None and state.sequencer >= sequencer:
                return None
            condition = {"IfMatch": state.etag} if state else {"IfNoneMatch": "*"}
            try:
                response = self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    Metadata=dict(metadata),
                    **condition,
                )
            except ClientError as exc:
                if _is_retry(exc):
                    continue  # written or deleted in between: read again, decide again
                raise
            return str(response["ETag"])
        raise ThumbnailContention(f"{key} changed on every one of {MAX_ATTEMPTS} attempts")

    def delete_if_older(self, key: str, sequencer: int) -> bool:
        """Remove the thumbnail if it comes from an event before `sequencer`. True if removed."""
        for _ in range(MAX_ATTEMPTS):
            state = self.state(key)
            if state is None or state.sequencer >= sequencer:
                return False
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=state.etag)
            except ClientError as exc:
                if _is_retry(exc):
                    continue
                raise
            return True
        raise ThumbnailContention(f"{key} changed on every one of {MAX_ATTEMPTS} attempts")

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        """Remove the thumbnail only if it is still exactly the write with `etag`."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            if _is_retry(exc):
                return False  # replaced (by a newer version) or already gone: keep it
            raise
        return True
