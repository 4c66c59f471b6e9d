"""S3 processing for the image-processor Lambda: one uploaded object at a time.

:class:`ThumbnailProcessor` checks that the event's version is the current one, checks the size,
streams the upload to a temporary file, renders it (:mod:`image_rendering`) and writes the
variants with conditional writes (:mod:`thumbnail_versions`), so retries and duplicate or late
events are harmless; or it tags the original as rejected and emits the ``ImageRejected`` metric.
Also here: the configuration (:class:`Settings`), S3 event parsing and the key layout.

AWS errors other than "the object is gone" propagate, so Lambda retries the event and finally sends
it to the dead-letter queue; so does :class:`SourceUnreadable` (the upload exists, its download
is denied).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol
from urllib.parse import unquote_plus

import image_limits
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError
from image_rendering import DEFAULT_DECODE_BUDGET, ImageRejected, Reason, render_variants
from thumbnail_versions import (
    META_SEQUENCER,
    META_VERSION,
    NO_SEQUENCER,
    VersionedThumbnails,
    parse_sequencer,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SOURCE_PREFIX: Final = "uploads/"
OUTPUT_PREFIX: Final = "thumbnails/"  # outside SOURCE_PREFIX: our writes never re-trigger us

DEFAULT_SIZES: Final = "medium=800,thumb=200"
DEFAULT_QUALITY: Final = 80
DEFAULT_MAX_PIXELS: Final = 50_000_000
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024

# Set by the CDK construct (openmarket_cdk/constructs/function.py) on every function; Powertools'
# Metrics reads it by itself, the single metrics here get it through Settings.
METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"
REJECTED_METRIC: Final = "ImageRejected"
REJECTED_DIMENSION: Final = "Reason"

COMMENT_PREFIX: Final = "openmarket-thumbnail-source:"
SKIPPED_METRIC: Final = "ImagesSkipped"
COPY_CHUNK: Final = 1024 * 1024

TAG_STATUS: Final = "image-status"
TAG_REASON: Final = "image-reject-reason"
S3_MAX_TAGS: Final = 10

_SIZE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_MISSING_CODES: Final = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
# Without s3:ListBucket, S3 answers 403 instead of 404 for a key that does not exist.
_DENIED_CODES: Final = frozenset({"AccessDenied", "403"})
# S3 passes on KMS failures to decrypt (SSE-KMS) under these: KMS.AccessDeniedException,
# KMS.DisabledException, KMSAccessDenied, ...
_KMS_CODE_PREFIX: Final = "KMS"


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Function configuration, read once per cold start from environment variables."""

    metrics_namespace: str  # CloudWatch namespace of the metrics; no default: the stack sets it
    sizes: tuple[tuple[str, int], ...] = (("medium", 800), ("thumb", 200))
    quality: int = DEFAULT_QUALITY
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    # Bytes a decode may add to the function's baseline (image_limits.decode_budget).
    decode_budget: int = DEFAULT_DECODE_BUDGET

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        # Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE: the limits follow the configured memory.
        memory_mb = _int_env(
            env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", image_limits.DEFAULT_MEMORY_MB, 128, 10240
        )
        peak_percent = _int_env(
            env, "MEMORY_PEAK_PERCENT", image_limits.DEFAULT_PEAK_PERCENT, 10, 90
        )
        budget = image_limits.decode_budget(memory_mb, peak_percent)
        if budget < 64 * image_limits.MiB:
            raise ValueError(
                f"MEMORY_PEAK_PERCENT: {peak_percent} % of {memory_mb} MB leaves "
                f"{budget // image_limits.MiB} MiB for decoding (at least 64 MiB needed)"
            )
        return cls(
            metrics_namespace=_required_env(env, METRICS_NAMESPACE_ENV),
            sizes=parse_sizes(env.get("THUMBNAIL_SIZES", DEFAULT_SIZES)),
            quality=_int_env(env, "JPEG_QUALITY", DEFAULT_QUALITY, 1, 95),
            max_pixels=_int_env(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS, 1, 1_000_000_000),
            max_bytes=_int_env(env, "MAX_OBJECT_BYTES", DEFAULT_MAX_BYTES, 1, 5 * 1024**3),
            decode_budget=budget,
        )


def parse_sizes(spec: str) -> tuple[tuple[str, int], ...]:
    """Parse ``'medium=800,thumb=200'`` into ``(('medium', 800), ('thumb', 200))``.

    The result is sorted largest first, because each variant is derived from the previous one.
    """
    sizes: dict[str, int] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _SIZE_NAME.match(name) or not value.strip().isdigit():
            raise ValueError(f"THUMBNAIL_SIZES: bad entry {item!r}, expected name=pixels")
        box = int(value)
        if not 16 <= box <= 4096:
            raise ValueError(f"THUMBNAIL_SIZES: {name}={box} is outside 16..4096")
        if name in sizes:
            raise ValueError(f"THUMBNAIL_SIZES: {name!r} given twice")
        sizes[name] = box
    if not sizes:
        raise ValueError("THUMBNAIL_SIZES: no sizes configured")
    return tuple(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))


def _required_env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ValueError(f"{name}: not set (the stack sets it on every function)")
    return value  # as is: Powertools reads the same variable unchanged


def _int_env(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}..{high}")
    return value


# --------------------------------------------------------------------------------------------
# Keys, and which upload version a thumbnail shows
# --------------------------------------------------------------------------------------------


def variant_keys(key: str, sizes: Iterable[tuple[str, int]]) -> dict[str, str] | None:
    """``uploads/a/b/photo.png`` -> ``{'medium': 'thumbnails/medium/a/b/photo.jpg', ...}``.

    None for keys this function must ignore (outside ``uploads/``, folder markers).
    """
    if not key.startswith(SOURCE_PREFIX) or key.endswith("/"):
        return None
    rest = key[len(SOURCE_PREFIX) :]
    folder, _, filename = rest.rpartition("/")
    stem = filename.rsplit(".", 1)[0] if "." in filename[1:] else filename
    path = f"{folder}/{stem}" if folder else stem
    return {name: f"{OUTPUT_PREFIX}{name}/{path}.jpg" for name, _ in sizes}


def source_comment(version_id: str | None, sequencer: str | None) -> bytes:
    """The one comment a thumbnail carries: which upload version it was made from.

    Not personal data (an S3 version id and an event sequencer); it makes the bytes, hence the
    S3 ETag, of thumbnails of different source versions differ even when the images are alike,
    which the conditional writes in thumbnail_versions rely on. Passed to
    :func:`image_rendering.render_variants` as the JPEG comment.
    """
    if not version_id and not sequencer:
        return b""
    return f"{COMMENT_PREFIX}version={version_id or 'null'};sequencer={sequencer or ''}".encode(
        "ascii", "replace"
    )


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


class S3Client(Protocol):
    """The subset of the boto3 S3 client used here."""

    def head_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def get_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def put_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def delete_object(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def get_object_tagging(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def put_object_tagging(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str  # URL-decoded
    version_id: str | None
    size: int | None  # from the event; None if the event did not carry it
    sequencer: str | None = None  # s3.object.sequencer: orders events on the same key
    etag: str | None = None  # from the event (identifies the version in unversioned buckets)

    def version_args(self) -> dict[str, str]:
        return {"VersionId": self.version_id} if self.version_id else {}

    @property
    def order(self) -> int:
        return parse_sequencer(self.sequencer)


def objects_from_event(event: Mapping[str, Any]) -> list[UploadedObject]:
    """S3 ObjectCreated notification records -> objects. Other records are skipped.

    The S3 test event (sent when the notification is configured) has no records.
    """
    objects = []
    for record in event.get("Records") or ():
        if record.get("eventSource") != "aws:s3":
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        size = obj.get("size")
        objects.append(
            UploadedObject(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version_id=obj.get("versionId") or None,
                size=int(size) if size is not None else None,
                sequencer=obj.get("sequencer") or None,
                etag=obj.get("eTag") or None,
            )
        )
    return objects


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _MISSING_CODES or status == 404


class SourceGone(Exception):
    """The upload (or the event's version of it) no longer exists: nothing to do."""

    def __init__(self, status: int | None, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class SourceUnreadable(RuntimeError):
    """The upload exists (its HEAD succeeded) but its GET was denied: a lost s3:GetObject(Version)
    or kms:Decrypt, a bucket-policy change. Raised, so the event is retried and then dead-lettered
    and can be redriven once access is fixed."""

    def __init__(
        self, obj: UploadedObject, status: int | None, code: str, message: str = ""
    ) -> None:
        version = f" (version {obj.version_id})" if obj.version_id else ""
        detail = f": {message}" if message else ""
        super().__init__(
            f"s3://{obj.bucket}/{obj.key}{version} exists but cannot be read: GetObject answered "
            f"{status} {code}{detail}. Fix the function's read/kms:Decrypt access, then redrive "
            "the event from the dead-letter queue"
        )
        self.bucket = obj.bucket
        self.key = obj.key
        self.version_id = obj.version_id
        self.status = status
        self.code = code


def _source_call(call: Any, **kwargs: Any) -> Mapping[str, Any]:
    """HEAD of the upload; 404 *and* 403 mean it is gone (see README: s3:ListBucket)."""
    try:
        response: Mapping[str, Any] = call(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if _is_missing(exc) or code in _DENIED_CODES or status == 403:
            raise SourceGone(status if isinstance(status, int) else None, code) from None
        raise
    return response


def _strip_quotes(etag: object) -> str:
    return str(etag).strip('"')


@dataclass(frozen=True)
class Outcome:
    # processed | rejected | ignored | missing | superseded | unchanged
    status: str
    key: str
    reason: str | None = None
    outputs: tuple[str, ...] = ()


OUTCOMES: Final = ("processed", "rejected", "ignored", "missing", "superseded", "unchanged")


class ThumbnailProcessor:
    """Processes one uploaded object at a time. Stateless apart from its collaborators."""

    def __init__(self, s3: S3Client, settings: Settings, logger: Logger) -> None:
        self.s3 = s3
        self.settings = settings
        self.logger = logger

    def process(self, obj: UploadedObject) -> Outcome:
        keys = variant_keys(obj.key, self.settings.sizes)
        if keys is None:
            self.logger.info("ignored key outside uploads/", extra={"key": obj.key})
            return Outcome("ignored", obj.key)
        log = {
            "bucket": obj.bucket,
            "key": obj.key,
            "version_id": obj.version_id,
            "sequencer": obj.sequencer,
        }
        try:
            return self._process(obj, keys, log)
        except SourceGone as gone:
            # Deleted since the event: nothing to do, retrying cannot help. S3 answers 403
            # rather than 404 when the role has no s3:ListBucket; both are a no-op here.
            reason = "missing-or-denied" if gone.status == 403 else "missing"
            self.logger.warning(
                "object no longer exists",
                extra={**log, "status": gone.status, "error_code": gone.code},
            )
            emit_count(SKIPPED_METRIC, reason, self.settings.metrics_namespace, self.logger.service)
            return Outcome("missing", obj.key, reason=reason)

    def _is_current(self, obj: UploadedObject, head: Mapping[str, Any]) -> bool:
        """Is the event's version still the object's current version?"""
        if obj.version_id:
            return head.get("VersionId") == obj.version_id
        if obj.etag and head.get("ETag"):  # unversioned bucket: the content identifies it
            return _strip_quotes(head["ETag"]) == _strip_quotes(obj.etag)
        return True

    def _skip(self, obj: UploadedObject, status: str, message: str, log: dict[str, Any]) -> Outcome:
        self.logger.info(message, extra=log)
        emit_count(SKIPPED_METRIC, status, self.settings.metrics_namespace, self.logger.service)
        return Outcome(status, obj.key)

    def _process(self, obj: UploadedObject, keys: dict[str, str], log: dict[str, Any]) -> Outcome:
        started = time.perf_counter()
        # 1. Only the current version gets thumbnails. An older version's event (late, retried,
        #    duplicated) is a no-op: the newer version has, or will get, its own.
        head = _source_call(self.s3.head_object, Bucket=obj.bucket, Key=obj.key)
        store = VersionedThumbnails(self.s3, obj.bucket)
        states = {name: store.state(key) for name, key in keys.items()}
        if not self._is_current(obj, head):
            # Thumbnails from this very event (an earlier attempt whose final check failed) show
            # a version that is no longer current: withdraw them, never anyone else's.
            withdrawn = [
                keys[name]
                for name, st in states.items()
                if st is not None
                and obj.order != NO_SEQUENCER
                and st.sequencer == obj.order
                and store.delete_if_unchanged(keys[name], st.etag)
            ]
            return self._skip(
                obj,
                "superseded",
                "a newer version of the object is current; event skipped",
                {**log, "current_version_id": head.get("VersionId"), "withdrawn": withdrawn},
            )
        # 2. Thumbnails already made from this event (a retry) or a later one: nothing to do.
        if all(st is not None and st.sequencer >= obj.order for st in states.values()):
            return self._skip(obj, "unchanged", "thumbnails are up to date; event skipped", log)
        # 3. Size, then the bytes (by version: the content the event is about).
        size = int(head["ContentLength"])
        if size > self.settings.max_bytes:  # decided before downloading anything
            return self.reject(
                obj, Reason.TOO_LARGE, f"{size} bytes > {self.settings.max_bytes}", keys
            )
        response = self._download(obj)
        # The upload goes to a temporary file (Lambda's /tmp), not into memory: the decoders
        # read it in blocks, so only their working set counts against the function's memory.
        with tempfile.TemporaryFile(prefix="upload-") as spool:
            length = _copy_limited(response["Body"], spool, self.settings.max_bytes)
            if length > self.settings.max_bytes:
                return self.reject(
                    obj, Reason.TOO_LARGE, f"more than {self.settings.max_bytes} bytes", keys
                )
            spool.seek(0)
            try:
                variants = render_variants(
                    spool,
                    self.settings.sizes,
                    self.settings.quality,
                    self.settings.max_pixels,
                    self.settings.decode_budget,
                    comment=source_comment(obj.version_id, obj.sequencer),
                )
            except ImageRejected as rejected:
                return self.reject(obj, rejected.reason, rejected.detail, keys)
        # 4. Conditional writes: a thumbnail is only ever replaced by one from a later event.
        metadata = {META_SEQUENCER: obj.sequencer or ""}
        if obj.version_id:
            metadata[META_VERSION] = obj.version_id
        written: dict[str, str] = {}
        for name, (jpeg, _) in variants.items():
            etag = store.put_if_newer(
                keys[name], jpeg, sequencer=obj.order, metadata=metadata, known=states[name]
            )
            if etag is not None:
                written[keys[name]] = etag
        # 5. Still current? A version uploaded (or a delete) while we worked may have been
        #    handled before our writes landed: then remove exactly what we wrote.
        try:
            still_current = self._is_current(
                obj, _source_call(self.s3.head_object, Bucket=obj.bucket, Key=obj.key)
            )
        except SourceGone:
            still_current = False
        if not still_current:
            removed = [key for key, etag in written.items() if store.delete_if_unchanged(key, etag)]
            return self._skip(
                obj,
                "superseded",
                "superseded while processing; own thumbnails withdrawn",
                {**log, "withdrawn": removed},
            )
        self.logger.info(
            "thumbnails written",
            extra={
                **log,
                "source_bytes": size,
                "outputs": {
                    keys[name]: {"width": dims[0], "height": dims[1], "bytes": len(jpeg)}
                    for name, (jpeg, dims) in variants.items()
                    if keys[name] in written
                },
                "kept_newer": sorted(keys[name] for name in variants if keys[name] not in written),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return Outcome("processed", obj.key, outputs=tuple(written))

    def _download(self, obj: UploadedObject) -> Mapping[str, Any]:
        """GET of the event's version, which the HEAD just found. 404: deleted since, gone.
        403 or a KMS error: it exists but may not be read: raise (retry, then the DLQ)."""
        try:
            return self.s3.get_object(Bucket=obj.bucket, Key=obj.key, **obj.version_args())
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            status = status if isinstance(status, int) else None
            if _is_missing(exc):
                raise SourceGone(status, code) from None
            if status == 403 or code in _DENIED_CODES or code.startswith(_KMS_CODE_PREFIX):
                self.logger.error(
                    "object exists but cannot be read",
                    extra={
                        "bucket": obj.bucket,
                        "key": obj.key,
                        "version_id": obj.version_id,
                        "status": status,
                        "error_code": code,
                    },
                )
                raise SourceUnreadable(obj, status, code, str(error.get("Message", ""))) from exc
            raise

    def reject(
        self,
        obj: UploadedObject,
        reason: str,
        detail: str,
        current_keys: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Log, count and tag a rejected upload. Never raises for the image itself.

        `current_keys`: the rejected version is the object's current one, so thumbnails made
        from an earlier version no longer show it; they are removed (conditionally: never one
        made from a later version).
        """
        self.logger.warning(
            "image rejected",
            extra={
                "bucket": obj.bucket,
                "key": obj.key,
                "version_id": obj.version_id,
                "reason": reason,
                "detail": detail[:500],
            },
        )
        emit_rejected_metric(reason, self.settings.metrics_namespace, self.logger.service)
        self.tag_rejected(obj, reason)
        if current_keys:
            store = VersionedThumbnails(self.s3, obj.bucket)
            removed = [k for k in current_keys.values() if store.delete_if_older(k, obj.order)]
            if removed:
                self.logger.info(
                    "thumbnails of an earlier version removed",
                    extra={"key": obj.key, "removed": removed},
                )
        return Outcome("rejected", obj.key, reason=reason)

    def tag_rejected(self, obj: UploadedObject, reason: str) -> None:
        """Add the rejection tags to the original, keeping the tags it already has."""
        version = obj.version_args()
        try:
            current = self.s3.get_object_tagging(Bucket=obj.bucket, Key=obj.key, **version)
        except ClientError as exc:
            if _is_missing(exc):  # deleted meanwhile: nothing left to tag
                return
            raise
        tags = {t["Key"]: t["Value"] for t in current.get("TagSet", [])}
        wanted = {TAG_STATUS: "rejected", TAG_REASON: reason}
        if all(tags.get(k) == v for k, v in wanted.items()):
            return  # already tagged (a retry of the same event)
        merged = {**tags, **wanted}
        if len(merged) > S3_MAX_TAGS:
            self.logger.error(
                "cannot tag rejected image: object already has too many tags",
                extra={"key": obj.key, "tags": sorted(tags), "reason": reason},
            )
            return
        self.s3.put_object_tagging(
            Bucket=obj.bucket,
            Key=obj.key,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]},
            **version,
        )


def _copy_limited(body: Any, out: BinaryIO, limit: int) -> int:
    """Stream an S3 body into `out`, at most limit + 1 bytes. Returns the bytes copied."""
    copied = 0
    try:
        while copied <= limit:
            chunk = body.read(min(COPY_CHUNK, limit + 1 - copied))
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
    finally:
        body.close()
    return copied


def emit_count(metric: str, reason: str, namespace: str, service: str | None = None) -> None:
    """One count of `metric` in `namespace` with a `Reason` dimension, flushed at once (EMF on
    stdout)."""
    dimensions = {"service": service} if service else None
    with single_metric(
        name=metric,
        unit=MetricUnit.Count,
        value=1,
        namespace=namespace,
        default_dimensions=dimensions,
    ) as single:
        single.add_dimension(name=REJECTED_DIMENSION, value=reason)


def emit_rejected_metric(reason: str, namespace: str, service: str | None = None) -> None:
    """One `ImageRejected` count with a `Reason` dimension, flushed at once (EMF on stdout)."""
    emit_count(REJECTED_METRIC, reason, namespace, service)
