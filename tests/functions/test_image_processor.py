"""Tests for functions/image-processor: thumbnail_processor.py (configuration, keys, the S3 side)
and the handler (index.py) against moto S3. The image transform itself (image_rendering.py) is
tested in test_image_processor_rendering.py."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import image_limits
import image_rendering
import pytest
import thumbnail_processor
import thumbnail_versions
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from function_env import CONSTRUCT_ENV, METRICS_NAMESPACE, METRICS_NAMESPACE_ENV, construct_env
from image_samples import (
    BUDGET_512,
    MAX_PIXELS,
    assert_no_metadata,
    close_to,
    flat_webp,
    forbid_decoding,
    jpeg_bytes,
    mean_colour,
    phone_jpeg,
    png_bomb,
    png_bytes,
    render,
    two_tone,
)
from moto import mock_aws
from PIL import Image

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "image-processor"
BUCKET = "openmarket-uploads-test"
NOTHING = {
    "processed": 0,
    "rejected": 0,
    "ignored": 0,
    "missing": 0,
    "superseded": 0,
    "unchanged": 0,
}
REGION = "ap-northeast-2"


def _load_index() -> ModuleType:
    """index.py by file path, under a name of its own: every function has an ``index.py``, so it
    is the one module the shared ``pythonpath`` (pyproject.toml) cannot import by name."""
    spec = importlib.util.spec_from_file_location(
        "image_processor_index", FUNCTION_DIR / "index.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with construct_env():
        spec.loader.exec_module(module)
    return module


index = _load_index()


# --------------------------------------------------------------------------------------------
# Configuration and keys
# --------------------------------------------------------------------------------------------


def test_parse_sizes_default_and_order() -> None:
    assert thumbnail_processor.parse_sizes("medium=800,thumb=200") == (
        ("medium", 800),
        ("thumb", 200),
    )
    assert thumbnail_processor.parse_sizes(" thumb=200 , medium=800,") == (
        ("medium", 800),
        ("thumb", 200),
    )
    assert thumbnail_processor.Settings.from_env(CONSTRUCT_ENV).sizes == (
        ("medium", 800),
        ("thumb", 200),
    )


@pytest.mark.parametrize(
    "spec", ["", "medium", "medium=big", "medium=800,medium=400", "Big=800", "tiny=4", "x=99999"]
)
def test_parse_sizes_rejects_bad_config(spec: str) -> None:
    with pytest.raises(ValueError, match="THUMBNAIL_SIZES"):
        thumbnail_processor.parse_sizes(spec)


def test_settings_from_env() -> None:
    settings = thumbnail_processor.Settings.from_env(
        {
            METRICS_NAMESPACE_ENV: "Elsewhere",
            "THUMBNAIL_SIZES": "large=1600,small=100",
            "JPEG_QUALITY": "85",
            "MAX_IMAGE_PIXELS": "1000",
            "MAX_OBJECT_BYTES": "2000",
        }
    )
    assert settings == thumbnail_processor.Settings(
        metrics_namespace="Elsewhere",
        sizes=(("large", 1600), ("small", 100)),
        quality=85,
        max_pixels=1000,
        max_bytes=2000,
    )
    with pytest.raises(ValueError, match="JPEG_QUALITY"):
        thumbnail_processor.Settings.from_env({**CONSTRUCT_ENV, "JPEG_QUALITY": "high"})


@pytest.mark.parametrize("value", [None, "", "  "])
def test_settings_require_the_metrics_namespace(value: str | None) -> None:
    """Set by the stack on every function: without it the cold start fails, naming it."""
    env = {} if value is None else {METRICS_NAMESPACE_ENV: value}
    with pytest.raises(ValueError, match=f"^{METRICS_NAMESPACE_ENV}: not set"):
        thumbnail_processor.Settings.from_env(env)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/products/42/photo.PNG", "products/42/photo"),
        ("uploads/photo.jpeg", "photo"),
        ("uploads/a/archive.tar.gz", "a/archive.tar"),
        ("uploads/a/noext", "a/noext"),
        ("uploads/a/.hidden", "a/.hidden"),
        ("uploads/내 사진/사진 1+2.jpg", "내 사진/사진 1+2"),
    ],
)
def test_variant_keys(key: str, expected: str) -> None:
    assert thumbnail_processor.variant_keys(key, (("medium", 800), ("thumb", 200))) == {
        "medium": f"thumbnails/medium/{expected}.jpg",
        "thumb": f"thumbnails/thumb/{expected}.jpg",
    }


@pytest.mark.parametrize(
    "key",
    ["thumbnails/medium/x.jpg", "upload/x.jpg", "x/uploads/y.jpg", "uploads/", "uploads/dir/"],
)
def test_variant_keys_ignores_everything_else(key: str) -> None:
    assert thumbnail_processor.variant_keys(key, (("medium", 800),)) is None


def test_limits_follow_the_function_memory() -> None:
    big = thumbnail_processor.Settings.from_env(
        {**CONSTRUCT_ENV, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}
    )
    assert big.decode_budget == 1024 * 2**20 * 60 // 100 - image_limits.BASELINE_BYTES
    assert thumbnail_processor.Settings.from_env(CONSTRUCT_ENV).decode_budget == BUDGET_512
    with pytest.raises(ValueError, match="MEMORY_PEAK_PERCENT: 15 % of 512 MB"):
        thumbnail_processor.Settings.from_env({**CONSTRUCT_ENV, "MEMORY_PEAK_PERCENT": "15"})
    with pytest.raises(ValueError, match=r"MEMORY_PEAK_PERCENT: 95 is outside 10\.\.90"):
        thumbnail_processor.Settings.from_env({**CONSTRUCT_ENV, "MEMORY_PEAK_PERCENT": "95"})
    # What fits in 1024 MB does not fit in 512 MB.
    with pytest.raises(image_rendering.ImageRejected):
        render(flat_webp(5000, 4000))
    image_rendering.render_variants(
        flat_webp(5000, 4000), (("thumb", 200),), 80, MAX_PIXELS, big.decode_budget
    )


# --------------------------------------------------------------------------------------------
# Handler against moto S3
# --------------------------------------------------------------------------------------------


@dataclass
class FakeContext:
    function_name: str = "image-processor"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:image-processor"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, metrics_namespace: str) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    cached = index.s3_client  # tests may swap in a wrapper (use_client); clear the real one
    with mock_aws():
        cached.cache_clear()
        client = index.s3_client()
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
    cached.cache_clear()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Capture the function's structured log lines (the real Logger, pointed at a buffer)."""
    stream = io.StringIO()
    handler = index.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            out.append(json.loads(line))
    return out


_SEQUENCERS = itertools.count(0x0062F3A1B2C3D4E5F0)


def next_sequencer() -> str:
    """Increasing S3-style sequencers (hex), as S3 assigns them to successive events."""
    return f"{next(_SEQUENCERS):018X}"


def upload(s3: Any, key: str, body: bytes, tagging: str | None = None) -> str:
    extra = {"Tagging": tagging} if tagging else {}
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return str(response["VersionId"])


def s3_event(
    key: str, version: str | None, size: int | None, sequencer: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": quote_plus(key),
        "eTag": "0123456789abcdef",
        "sequencer": sequencer or next_sequencer(),
    }
    if size is not None:
        obj["size"] = size
    if version is not None:
        obj["versionId"] = version
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "thumbnails",
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": obj,
                },
            }
        ]
    }


def invoke(s3: Any, key: str, body: bytes, *, with_size: bool = True) -> tuple[dict[str, Any], str]:
    version = upload(s3, key, body)
    event = s3_event(key, version, len(body) if with_size else None)
    return index.handler(event, FakeContext()), version


def keys_under(s3: Any, prefix: str) -> list[str]:
    response = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


def tags_of(s3: Any, key: str, version: str) -> dict[str, str]:
    response = s3.get_object_tagging(Bucket=BUCKET, Key=key, VersionId=version)
    return {t["Key"]: t["Value"] for t in response["TagSet"]}


def test_handler_writes_both_variants_and_leaves_the_original_alone(
    s3: Any, logs: io.StringIO
) -> None:
    key = "uploads/products/42/내 사진+1.jpg"
    body = phone_jpeg()
    result, version = invoke(s3, key, body)
    assert result == {**NOTHING, "processed": 1}
    assert keys_under(s3, "thumbnails/") == [
        "thumbnails/medium/products/42/내 사진+1.jpg",
        "thumbnails/thumb/products/42/내 사진+1.jpg",
    ]
    for prefix, box in (("medium", 800), ("thumb", 200)):
        got = s3.get_object(Bucket=BUCKET, Key=f"thumbnails/{prefix}/products/42/내 사진+1.jpg")
        assert got["ContentType"] == "image/jpeg"
        assert got["Metadata"] == {
            "source-version-id": version,
            "source-sequencer": got["Metadata"]["source-sequencer"],
        }
        data = got["Body"].read()
        assert_no_metadata(data)
        assert version.encode() in Image.open(io.BytesIO(data)).info["comment"]
        assert Image.open(io.BytesIO(data)).size == image_rendering.fit_inside(800, 1200, box)
    original = s3.get_object(Bucket=BUCKET, Key=key)
    assert original["Body"].read() == body
    assert original["VersionId"] == version
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1
    assert tags_of(s3, key, version) == {}
    (line,) = [entry for entry in log_lines(logs) if entry["message"] == "thumbnails written"]
    assert line["key"] == key and line["level"] == "INFO"
    assert line["function_request_id"] == FakeContext.aws_request_id


def test_handler_is_idempotent(s3: Any) -> None:
    key = "uploads/a/photo.png"
    body = png_bytes(two_tone(900, 600))
    version = upload(s3, key, body)
    event = s3_event(key, version, len(body))
    index.handler(event, FakeContext())
    first = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys_under(s3, "")}
    index.handler(event, FakeContext())
    second = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys_under(s3, "")}
    assert first == second
    assert sorted(first) == [
        "thumbnails/medium/a/photo.jpg",
        "thumbnails/thumb/a/photo.jpg",
        "uploads/a/photo.png",
    ]


def test_handler_reads_size_with_head_when_event_has_none(s3: Any) -> None:
    result, _ = invoke(s3, "uploads/x.jpg", jpeg_bytes(two_tone(300, 200)), with_size=False)
    assert result["processed"] == 1
    assert keys_under(s3, "thumbnails/thumb/") == ["thumbnails/thumb/x.jpg"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"hello, I am a text file", "not-an-image"),
        (jpeg_bytes(two_tone())[:3000], "corrupt"),
        (png_bomb(8000, 7000), "too-many-pixels"),
    ],
    ids=["text", "truncated", "bomb"],
)
def test_rejected_upload_is_tagged_logged_and_counted(
    s3: Any, logs: io.StringIO, capsys: pytest.CaptureFixture[str], body: bytes, reason: str
) -> None:
    key = "uploads/bad/file.jpg"
    version = upload(s3, key, body, tagging="owner=seller-7&source=web")
    result = index.handler(s3_event(key, version, len(body)), FakeContext())
    assert result["rejected"] == 1
    assert keys_under(s3, "thumbnails/") == []
    assert tags_of(s3, key, version) == {
        "owner": "seller-7",
        "source": "web",
        "image-status": "rejected",
        "image-reject-reason": reason,
    }
    original = s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert original["Body"].read() == body
    (line,) = [entry for entry in log_lines(logs) if entry["message"] == "image rejected"]
    assert line["level"] == "WARNING" and line["reason"] == reason and line["key"] == key
    emf = [m for m in emf_metrics(capsys.readouterr().out) if "ImageRejected" in m]
    assert len(emf) == 1
    (directive,) = emf[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert "Reason" in directive["Dimensions"][0]
    assert emf[0]["Reason"] == reason and emf[0]["ImageRejected"] == [1.0]


def test_too_large_is_rejected_before_download(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "settings", replace(index.settings, max_bytes=1000))
    calls: list[str] = []
    real_get = s3.get_object

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs["Key"])
        return real_get(**kwargs)

    monkeypatch.setattr(s3, "get_object", spy)
    body = jpeg_bytes(two_tone(300, 200))
    assert len(body) > 1000
    result, version = invoke(s3, "uploads/big.jpg", body)
    assert result["rejected"] == 1
    assert calls == []
    assert tags_of(s3, "uploads/big.jpg", version)["image-reject-reason"] == "too-large"


def test_unsupported_format_upload(s3: Any) -> None:
    out = io.BytesIO()
    two_tone(300, 200).save(out, "BMP")
    result, version = invoke(s3, "uploads/old.bmp", out.getvalue())
    assert result["rejected"] == 1
    assert tags_of(s3, "uploads/old.bmp", version)["image-reject-reason"] == "unsupported-format"


def test_rejection_with_ten_tags_already_does_not_raise(s3: Any, logs: io.StringIO) -> None:
    tagging = "&".join(f"t{i}=v{i}" for i in range(10))
    version = upload(s3, "uploads/tagged.jpg", b"not an image", tagging=tagging)
    result = index.handler(s3_event("uploads/tagged.jpg", version, 12), FakeContext())
    assert result["rejected"] == 1
    assert len(tags_of(s3, "uploads/tagged.jpg", version)) == 10
    assert any(e["level"] == "ERROR" for e in log_lines(logs))


def test_keys_outside_uploads_and_other_events_are_ignored(s3: Any) -> None:
    body = jpeg_bytes(two_tone(300, 200))
    version = upload(s3, "thumbnails/medium/x.jpg", body)
    assert (
        index.handler(s3_event("thumbnails/medium/x.jpg", version, len(body)), FakeContext())[
            "ignored"
        ]
        == 1
    )
    assert keys_under(s3, "thumbnails/") == ["thumbnails/medium/x.jpg"]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    assert index.handler(test_event, FakeContext())["processed"] == 0
    removed = s3_event("uploads/x.jpg", None, None)
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert index.handler(removed, FakeContext()) == NOTHING


def test_deleted_object_is_skipped(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """HEAD 404: a logged no-op, counted as ImagesSkipped{Reason=missing}."""
    body = jpeg_bytes(two_tone(300, 200))
    version = upload(s3, "uploads/gone.jpg", body)
    s3.delete_object(Bucket=BUCKET, Key="uploads/gone.jpg", VersionId=version)
    for size in (len(body), None):
        result = index.handler(s3_event("uploads/gone.jpg", version, size), FakeContext())
        assert result == {**NOTHING, "missing": 1}
    assert keys_under(s3, "thumbnails/") == []
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [m["Reason"] for m in skipped] == ["missing", "missing"]


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.mark.parametrize(
    ("method", "code", "status"),
    [
        ("get_object", "SlowDown", 503),
        ("get_object", "InternalError", 500),
        ("put_object", "ServiceUnavailable", 503),
        ("head_object", "InternalError", 500),
        ("put_object", "AccessDenied", 403),  # a real permission problem on thumbnails/
    ],
)
def test_aws_errors_raise_so_lambda_retries(
    s3: Any, monkeypatch: pytest.MonkeyPatch, method: str, code: str, status: int
) -> None:
    body = jpeg_bytes(two_tone(300, 200))
    version = upload(s3, "uploads/retry.jpg", body)
    operation = "".join(part.title() for part in method.split("_"))

    def fail(**kwargs: Any) -> Any:
        raise client_error(code, status, operation)

    monkeypatch.setattr(s3, method, fail)
    with pytest.raises(ClientError) as info:
        index.handler(s3_event("uploads/retry.jpg", version, len(body)), FakeContext())
    assert info.value.response["Error"]["Code"] == code
    assert keys_under(s3, "thumbnails/") == []
    assert tags_of(s3, "uploads/retry.jpg", version) == {}


def test_tagging_throttled_raises(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    version = upload(s3, "uploads/t.jpg", b"text")

    def throttled(**kwargs: Any) -> Any:
        raise client_error("SlowDown", 503, "PutObjectTagging")

    monkeypatch.setattr(s3, "put_object_tagging", throttled)
    with pytest.raises(ClientError):
        index.handler(s3_event("uploads/t.jpg", version, 4), FakeContext())


def test_processor_used_directly_with_custom_sizes(s3: Any) -> None:
    settings = thumbnail_processor.Settings.from_env(
        {**CONSTRUCT_ENV, "THUMBNAIL_SIZES": "large=600,tiny=32"}
    )
    processor = thumbnail_processor.ThumbnailProcessor(
        s3, settings, Logger(service="t", stream=io.StringIO())
    )
    body = jpeg_bytes(two_tone(1200, 800))
    version = upload(s3, "uploads/p.jpg", body)
    outcome = processor.process(
        thumbnail_processor.UploadedObject(BUCKET, "uploads/p.jpg", version, None)
    )
    assert outcome.status == "processed"
    assert outcome.outputs == ("thumbnails/large/p.jpg", "thumbnails/tiny/p.jpg")
    tiny = s3.get_object(Bucket=BUCKET, Key="thumbnails/tiny/p.jpg")["Body"].read()
    assert Image.open(io.BytesIO(tiny)).size == (32, 21)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel data is decoded (or libwebp's canvases are allocated)."""
    forbid_decoding(monkeypatch)


def test_handler_rejects_a_webp_over_its_limit(s3: Any, no_decoding: None) -> None:
    body = flat_webp(5000, 4000)
    result, version = invoke(s3, "uploads/big.webp", body)
    assert result == {**NOTHING, "rejected": 1}
    assert tags_of(s3, "uploads/big.webp", version)["image-reject-reason"] == "too-many-pixels"


# --------------------------------------------------------------------------------------------
# Overwrites: thumbnails follow the current version, whatever order events arrive in
# --------------------------------------------------------------------------------------------

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 60)


def solid_jpeg(colour: tuple[int, int, int]) -> bytes:
    return jpeg_bytes(Image.new("RGB", (1200, 900), colour))


class Interleaved:
    """An S3 client that runs `action` once, just before the first call of `method` that
    `when` accepts: another invocation's work, slotted into this one's."""

    def __init__(
        self,
        client: Any,
        method: str,
        action: Any,
        when: Any = lambda kwargs: True,
    ) -> None:
        self._client, self._method, self._action, self._when = client, method, action, when
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != self._method:
            return real

        def call(**kwargs: Any) -> Any:
            if not self.fired and self._when(kwargs):
                self.fired = True
                self._action()
            return real(**kwargs)

        return call


class WithoutListBucket:
    """S3 as a role without s3:ListBucket sees it: 403, not 404, for a key that is not there."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name not in ("head_object", "get_object"):
            return real

        def call(**kwargs: Any) -> Any:
            try:
                return real(**kwargs)
            except ClientError as exc:
                if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
                    raise
                code = "403" if name == "head_object" else "AccessDenied"
                raise client_error(code, 403, exc.operation_name) from None

        return call


def use_client(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    monkeypatch.setattr(index, "s3_client", lambda: client)


def thumbnail(s3: Any, name: str, key: str = "uploads/p/item.jpg") -> tuple[Any, dict[str, str]]:
    path = key.replace("uploads/", f"thumbnails/{name}/", 1)
    got = s3.get_object(Bucket=BUCKET, Key=path)
    return Image.open(io.BytesIO(got["Body"].read())), got["Metadata"]


def assert_thumbnails_show(s3: Any, version: str, colour: tuple[int, int, int]) -> None:
    for name in ("medium", "thumb"):
        im, metadata = thumbnail(s3, name)
        assert metadata["source-version-id"] == version
        assert close_to(mean_colour(im, (0, 0, *im.size)), colour), name


KEY = "uploads/p/item.jpg"


def test_older_version_event_arriving_last_changes_nothing(
    s3: Any, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = upload(s3, KEY, solid_jpeg(RED))
    seq1 = next_sequencer()
    v2 = upload(s3, KEY, solid_jpeg(BLUE))
    assert index.handler(s3_event(KEY, v2, None), FakeContext()) == {**NOTHING, "processed": 1}
    # v1's event, delayed (S3 does not order events; Lambda retries): a logged no-op.
    late = index.handler(s3_event(KEY, v1, None, seq1), FakeContext())
    assert late == {**NOTHING, "superseded": 1}
    assert_thumbnails_show(s3, v2, BLUE)
    (line,) = [e for e in log_lines(logs) if e["message"].startswith("a newer version")]
    assert line["version_id"] == v1 and line["current_version_id"] == v2
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [m["Reason"] for m in skipped] == ["superseded"]


def test_older_version_in_flight_never_overwrites_newer_thumbnails(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent invocations: v1's passes the 'current?' check, then v2 is uploaded and fully
    processed by another invocation before v1's writes; v1 must not overwrite them."""
    v1 = upload(s3, KEY, solid_jpeg(RED))
    event1 = s3_event(KEY, v1, None)
    versions: list[str] = []

    def newer_upload_processed_meanwhile() -> None:
        versions.append(upload(s3, KEY, solid_jpeg(BLUE)))
        assert index.handler(s3_event(KEY, versions[0], None), FakeContext())["processed"] == 1

    use_client(monkeypatch, Interleaved(s3, "get_object", newer_upload_processed_meanwhile))
    assert index.handler(event1, FakeContext()) == {**NOTHING, "superseded": 1}
    assert_thumbnails_show(s3, versions[0], BLUE)


def test_older_version_written_first_is_withdrawn_when_newer_is_rejected(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v2 (not an image) arrives while v1 is being written: v2's rejection finds nothing to
    remove yet, so v1, seeing it is no longer current, removes its own thumbnails."""
    v1 = upload(s3, KEY, solid_jpeg(RED))
    versions: list[str] = []

    def corrupt_upload_processed_meanwhile() -> None:
        versions.append(upload(s3, KEY, b"this is not an image"))
        assert index.handler(s3_event(KEY, versions[0], None), FakeContext())["rejected"] == 1

    use_client(
        monkeypatch,
        Interleaved(s3, "put_object", corrupt_upload_processed_meanwhile),
    )
    assert index.handler(s3_event(KEY, v1, None), FakeContext()) == {**NOTHING, "superseded": 1}
    assert keys_under(s3, "thumbnails/") == []
    assert tags_of(s3, KEY, versions[0])["image-reject-reason"] == "not-an-image"


def test_retry_after_a_failed_final_check_withdraws_its_own_thumbnails(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but the final 'still current?' HEAD fails (S3 500): Lambda retries the event,
    which is now superseded, and its retry must still take back what the first attempt wrote."""
    v1 = upload(s3, KEY, solid_jpeg(RED))
    event1 = s3_event(KEY, v1, None)

    fail_next_head: list[bool] = []

    def corrupt_upload_processed_meanwhile() -> None:
        v2 = upload(s3, KEY, b"this is not an image")
        assert index.handler(s3_event(KEY, v2, None), FakeContext())["rejected"] == 1
        fail_next_head.append(True)

    real_head = s3.head_object

    def head(**kwargs: Any) -> Any:
        if kwargs["Key"] == KEY and fail_next_head:  # the first attempt's final check
            fail_next_head.clear()
            raise client_error("InternalError", 500, "HeadObject")
        return real_head(**kwargs)

    interleaved = Interleaved(s3, "put_object", corrupt_upload_processed_meanwhile)
    monkeypatch.setattr(s3, "head_object", head)
    use_client(monkeypatch, interleaved)
    with pytest.raises(ClientError):
        index.handler(event1, FakeContext())
    assert len(keys_under(s3, "thumbnails/")) == 2  # v1's, stale: v2 is current
    assert index.handler(event1, FakeContext()) == {**NOTHING, "superseded": 1}
    assert keys_under(s3, "thumbnails/") == []


def test_rejected_current_version_removes_the_older_thumbnails(s3: Any) -> None:
    v1 = upload(s3, KEY, solid_jpeg(RED))
    seq1 = next_sequencer()
    index.handler(s3_event(KEY, v1, None, seq1), FakeContext())
    assert len(keys_under(s3, "thumbnails/")) == 2
    v2 = upload(s3, KEY, b"%PDF-1.7 not a photo")
    assert index.handler(s3_event(KEY, v2, None), FakeContext())["rejected"] == 1
    assert keys_under(s3, "thumbnails/") == []  # they showed a version that is not current
    # And v1's event, retried late, does not bring them back.
    assert index.handler(s3_event(KEY, v1, None, seq1), FakeContext())["superseded"] == 1
    assert keys_under(s3, "thumbnails/") == []


def test_identical_looking_versions_cannot_fool_the_conditional_write(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ABA: A (v0), then B (v1) and A again (v2). v1 reads the thumbnails (A from v0); v2 then
    writes A again. v1's If-Match must not match v2's write although the pictures are equal."""
    v0 = upload(s3, KEY, solid_jpeg(GREEN))
    index.handler(s3_event(KEY, v0, None), FakeContext())
    v1 = upload(s3, KEY, solid_jpeg(RED))
    event1 = s3_event(KEY, v1, None)
    versions: list[str] = []

    def same_picture_again() -> None:
        versions.append(upload(s3, KEY, solid_jpeg(GREEN)))
        assert index.handler(s3_event(KEY, versions[0], None), FakeContext())["processed"] == 1

    use_client(monkeypatch, Interleaved(s3, "get_object", same_picture_again))
    assert index.handler(event1, FakeContext()) == {**NOTHING, "superseded": 1}
    assert_thumbnails_show(s3, versions[0], GREEN)


def test_every_write_is_conditional(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real_put = s3.put_object

    def spy(**kwargs: Any) -> Any:
        calls.append({k: v for k, v in kwargs.items() if k != "Body"})
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", spy)
    v1 = upload(s3, KEY, solid_jpeg(RED))
    index.handler(s3_event(KEY, v1, None), FakeContext())
    v2 = upload(s3, KEY, solid_jpeg(BLUE))
    index.handler(s3_event(KEY, v2, None), FakeContext())
    thumb_puts = [c for c in calls if c["Key"].startswith("thumbnails/")]
    assert [("IfNoneMatch" in c, "IfMatch" in c) for c in thumb_puts] == [
        (True, False),
        (True, False),
        (False, True),
        (False, True),
    ]
    assert_thumbnails_show(s3, v2, BLUE)


def test_retried_event_is_a_no_op_without_download(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = upload(s3, KEY, solid_jpeg(RED))
    event = s3_event(KEY, v1, None)
    index.handler(event, FakeContext())
    downloads: list[str] = []
    monkeypatch.setattr(s3, "get_object", lambda **kwargs: downloads.append(kwargs["Key"]) or {})
    assert index.handler(event, FakeContext()) == {**NOTHING, "unchanged": 1}
    assert downloads == []


def test_deleted_object_is_a_no_op_when_s3_answers_403(
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_client(monkeypatch, WithoutListBucket(s3))
    version = upload(s3, KEY, solid_jpeg(RED))
    s3.delete_object(Bucket=BUCKET, Key=KEY)  # a delete marker on top, as a user delete does
    assert index.handler(s3_event(KEY, version, None), FakeContext()) == {**NOTHING, "missing": 1}
    (line,) = [e for e in log_lines(logs) if e["message"] == "object no longer exists"]
    assert (line["level"], line["status"], line["version_id"]) == ("WARNING", 403, version)
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [m["Reason"] for m in skipped] == ["missing-or-denied"]
    assert keys_under(s3, "thumbnails/") == []


def test_version_deleted_between_check_and_download_is_a_no_op(
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HEAD finds the version, then it is deleted: the GET answers 404, a logged no-op."""
    version = upload(s3, KEY, solid_jpeg(RED))
    downloads: list[str] = []

    def version_deleted() -> None:
        downloads.append(KEY)
        s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=version)

    use_client(monkeypatch, Interleaved(s3, "get_object", version_deleted))
    assert index.handler(s3_event(KEY, version, None), FakeContext()) == {**NOTHING, "missing": 1}
    assert downloads == [KEY]  # the HEAD found it; the GET was the call that answered 404
    (line,) = [e for e in log_lines(logs) if e["message"] == "object no longer exists"]
    assert (line["level"], line["status"], line["error_code"]) == ("WARNING", 404, "NoSuchVersion")
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [m["Reason"] for m in skipped] == ["missing"]
    assert keys_under(s3, "thumbnails/") == []


def test_version_deleted_before_download_without_list_bucket_is_retried_then_skipped(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without s3:ListBucket the same race answers 403 to the GET, which cannot be told apart
    from a denied read: the attempt raises; Lambda's retry finds the HEAD gone (403): no-op."""
    version = upload(s3, KEY, solid_jpeg(RED))
    event = s3_event(KEY, version, None)

    def version_deleted() -> None:
        s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=version)

    use_client(monkeypatch, WithoutListBucket(Interleaved(s3, "get_object", version_deleted)))
    with pytest.raises(thumbnail_processor.SourceUnreadable):
        index.handler(event, FakeContext())
    assert index.handler(event, FakeContext()) == {**NOTHING, "missing": 1}  # the retry
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [m["Reason"] for m in skipped] == ["missing-or-denied"]


class DeniedGet:
    """S3 as seen after a lost kms:Decrypt or a bucket-policy change: HEAD works, the GET of
    `key` fails with `error` for as long as `denied` holds."""

    def __init__(self, client: Any, key: str, error: ClientError) -> None:
        self._client, self._key, self._error = client, key, error
        self.denied = True
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != "get_object":
            return real

        def call(**kwargs: Any) -> Any:
            if kwargs["Key"] == self._key:
                self.gets += 1
                if self.denied:
                    raise self._error
            return real(**kwargs)

        return call


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),  # bucket policy / lost s3:GetObjectVersion; also S3's kms:Decrypt
        ("KMS.AccessDeniedException", 400),  # a KMS error surfaced by S3
        ("KMSAccessDenied", 403),
    ],
)
def test_existing_upload_whose_download_is_denied_raises_and_is_not_skipped(
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    code: str,
    status: int,
) -> None:
    """HEAD finds the upload, GET is denied: the event must fail (Lambda retries it, then sends
    it to the DLQ), not be skipped, so it can be redriven once access is fixed."""
    body = solid_jpeg(RED)
    version = upload(s3, KEY, body)
    event = s3_event(KEY, version, len(body))
    client = DeniedGet(s3, KEY, client_error(code, status, "GetObject"))
    use_client(monkeypatch, client)
    for _attempt in range(3):  # the invocation and Lambda's two retries: each raises
        with pytest.raises(thumbnail_processor.SourceUnreadable) as info:
            index.handler(event, FakeContext())
        message = str(info.value)
        assert BUCKET in message and KEY in message and version in message and code in message
        assert (info.value.bucket, info.value.key, info.value.version_id) == (BUCKET, KEY, version)
        assert (info.value.status, info.value.code) == (status, code)
        assert isinstance(info.value.__cause__, ClientError)
    assert client.gets == 3
    errors = [e for e in log_lines(logs) if e["message"] == "object exists but cannot be read"]
    assert len(errors) == 3
    assert (errors[0]["level"], errors[0]["error_code"], errors[0]["version_id"]) == (
        "ERROR",
        code,
        version,
    )
    assert not [e for e in log_lines(logs) if e["message"] == "object no longer exists"]
    metrics = emf_metrics(capsys.readouterr().out)
    assert [m for m in metrics if "ImagesSkipped" in m or "ImageRejected" in m] == []
    assert [m["ImagesProcessed"] for m in metrics if "ImagesProcessed" in m] == [[0.0]] * 3
    assert keys_under(s3, "thumbnails/") == []
    assert tags_of(s3, KEY, version) == {}  # not tagged as rejected either
    # Access fixed, the event redriven from the DLQ: the thumbnails are made.
    client.denied = False
    assert index.handler(event, FakeContext()) == {**NOTHING, "processed": 1}
    assert_thumbnails_show(s3, version, RED)


def test_head_denied_is_ambiguous_and_stays_a_no_op(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """HEAD 403 is what a missing key gets without s3:ListBucket, so even for an upload that
    exists it is a logged no-op (ImagesSkipped{Reason=missing-or-denied}), and no GET is tried."""
    version = upload(s3, KEY, solid_jpeg(RED))
    real_head = s3.head_object
    gets: list[str] = []

    def head(**kwargs: Any) -> Any:
        if kwargs["Key"] == KEY:
            raise client_error("403", 403, "HeadObject")
        return real_head(**kwargs)

    monkeypatch.setattr(s3, "head_object", head)
    monkeypatch.setattr(s3, "get_object", lambda **kwargs: gets.append(kwargs["Key"]) or {})
    assert index.handler(s3_event(KEY, version, None), FakeContext()) == {**NOTHING, "missing": 1}
    assert gets == []
    emf = emf_metrics(capsys.readouterr().out)
    skipped = [m for m in emf if "ImagesSkipped" in m]
    assert [(m["Reason"], m["service"]) for m in skipped] == [
        ("missing-or-denied", "image-processor")
    ]
    # What the uploads-denied alarm watches; the handler's ImagesProcessed goes there too.
    assert "ImagesProcessed" in emf[-1]
    assert {d["Namespace"] for m in emf for d in m["_aws"]["CloudWatchMetrics"]} == {
        METRICS_NAMESPACE
    }


def test_thumbnails_are_made_and_replaced_without_list_bucket(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEAD of a thumbnail that does not exist yet answers 403 too: read as 'none yet'."""
    use_client(monkeypatch, WithoutListBucket(s3))
    v1 = upload(s3, KEY, solid_jpeg(RED))
    assert index.handler(s3_event(KEY, v1, None), FakeContext())["processed"] == 1
    v2 = upload(s3, KEY, solid_jpeg(BLUE))
    assert index.handler(s3_event(KEY, v2, None), FakeContext())["processed"] == 1
    assert_thumbnails_show(s3, v2, BLUE)


def test_sequencers_compare_as_left_padded_hex() -> None:
    parse = thumbnail_versions.parse_sequencer
    assert parse("0A") == parse("A") == parse("00000a")
    assert parse("0062F3A1B2C3D4E600") > parse("62F3A1B2C3D4E5FF")
    assert parse(None) == parse("") == parse("xyz") == thumbnail_versions.NO_SEQUENCER
