"""Tests for functions/image-processor: the pure transform, and the handler against moto S3."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import logging
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from moto import mock_aws
from PIL import Image, ImageCms

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "image-processor"
if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))

import image_limits  # noqa: E402  (needs FUNCTION_DIR on sys.path)
import thumbnail_versions  # noqa: E402
import thumbnails  # noqa: E402

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
MAX_PIXELS = 50_000_000


def _load_index() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "image_processor_index", FUNCTION_DIR / "index.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


index = _load_index()


# --------------------------------------------------------------------------------------------
# Test images
# --------------------------------------------------------------------------------------------


def jpeg_bytes(im: Image.Image, **params: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, **params)
    return out.getvalue()


def png_bytes(im: Image.Image, **params: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", **params)
    return out.getvalue()


def two_tone(width: int = 1200, height: int = 800) -> Image.Image:
    """Left half red, right half blue: shows where the stored 'left' ends up after rotation."""
    im = Image.new("RGB", (width, height), (220, 20, 20))
    im.paste((20, 20, 220), (width // 2, 0, width, height))
    return im


def phone_jpeg() -> bytes:
    """A 'phone photo': EXIF orientation 6, GPS position, camera model, XMP, comment, ICC."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "OpenMarket Test Camera"
    exif[0x0110] = "Model X"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (37.0, 33.0, 59.0)
    gps[3] = "E"
    gps[4] = (126.0, 58.0, 41.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>where I live</secret></x:xmpmeta>'
    return jpeg_bytes(
        two_tone(), exif=exif.tobytes(), icc_profile=icc, xmp=xmp, comment=b"secret comment"
    )


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height: megapixels in the header, kilobytes on disk."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(chunks) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a baseline JPEG, up to start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"bad marker at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


def assert_no_metadata(data: bytes) -> None:
    """Nothing from the upload survives. The only segment allowed besides the image is the one
    comment naming the source version (thumbnails.source_comment)."""
    markers = jpeg_markers(data)
    app_segments = [m for m in markers if 0xE1 <= m <= 0xEF]  # APP1 EXIF/XMP, APP2 ICC, ...
    assert app_segments == [], f"metadata segments left: {[hex(m) for m in app_segments]}"
    assert markers.count(0xFE) <= 1, "more than one JPEG comment"
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert len(im.getexif()) == 0
    comment = im.info.get("comment", b"")
    assert comment == b"" or comment.startswith(b"openmarket-thumbnail-source:version="), comment
    for key in ("exif", "icc_profile", "xmp", "photoshop"):
        assert key not in im.info
    for needle in (b"Exif", b"GPS", b"OpenMarket Test Camera", b"secret", b"xmpmeta", b"lcms"):
        assert needle not in data


def mean_colour(im: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, ...]:
    region = im.convert("RGB").crop(box).resize((1, 1), Image.Resampling.BOX)
    return tuple(region.getpixel((0, 0)))  # type: ignore[arg-type]


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 20) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def render(data: bytes, sizes: str = "medium=800,thumb=200") -> dict[str, tuple[bytes, Any]]:
    variants: dict[str, tuple[bytes, Any]] = thumbnails.render_variants(
        data, thumbnails.parse_sizes(sizes), 80, MAX_PIXELS
    )
    return variants


# --------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------


def test_parse_sizes_default_and_order() -> None:
    assert thumbnails.parse_sizes("medium=800,thumb=200") == (("medium", 800), ("thumb", 200))
    assert thumbnails.parse_sizes(" thumb=200 , medium=800,") == (("medium", 800), ("thumb", 200))
    assert thumbnails.Settings.from_env({}).sizes == (("medium", 800), ("thumb", 200))


@pytest.mark.parametrize(
    "spec", ["", "medium", "medium=big", "medium=800,medium=400", "Big=800", "tiny=4", "x=99999"]
)
def test_parse_sizes_rejects_bad_config(spec: str) -> None:
    with pytest.raises(ValueError, match="THUMBNAIL_SIZES"):
        thumbnails.parse_sizes(spec)


def test_settings_from_env() -> None:
    settings = thumbnails.Settings.from_env(
        {
            "THUMBNAIL_SIZES": "large=1600,small=100",
            "JPEG_QUALITY": "85",
            "MAX_IMAGE_PIXELS": "1000",
            "MAX_OBJECT_BYTES": "2000",
        }
    )
    assert settings == thumbnails.Settings((("large", 1600), ("small", 100)), 85, 1000, 2000)
    with pytest.raises(ValueError, match="JPEG_QUALITY"):
        thumbnails.Settings.from_env({"JPEG_QUALITY": "high"})


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
    assert thumbnails.variant_keys(key, (("medium", 800), ("thumb", 200))) == {
        "medium": f"thumbnails/medium/{expected}.jpg",
        "thumb": f"thumbnails/thumb/{expected}.jpg",
    }


@pytest.mark.parametrize(
    "key",
    ["thumbnails/medium/x.jpg", "upload/x.jpg", "x/uploads/y.jpg", "uploads/", "uploads/dir/"],
)
def test_variant_keys_ignores_everything_else(key: str) -> None:
    assert thumbnails.variant_keys(key, (("medium", 800),)) is None


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4000, 3000), 800, (800, 600)),
        ((3000, 4000), 200, (150, 200)),
        ((800, 800), 800, (800, 800)),
        ((100, 50), 800, (100, 50)),  # never enlarged
        ((10000, 10), 200, (200, 1)),
    ],
)
def test_fit_inside(size: tuple[int, int], box: int, expected: tuple[int, int]) -> None:
    assert thumbnails.fit_inside(*size, box) == expected


def test_exif_orientation_applied_and_all_metadata_stripped() -> None:
    variants = render(phone_jpeg())
    assert list(variants) == ["medium", "thumb"]
    for name, box in (("medium", 800), ("thumb", 200)):
        data, dims = variants[name]
        assert_no_metadata(data)
        im = Image.open(io.BytesIO(data))
        # Stored 1200x800 landscape, orientation 6 -> displayed 800x1200 portrait.
        assert im.size == dims == thumbnails.fit_inside(800, 1200, box)
        assert max(im.size) == box
        w, h = im.size
        # Rotated 90 degrees clockwise: the stored left (red) half is now on top.
        assert close_to(mean_colour(im, (0, 0, w, h // 3)), (220, 20, 20))
        assert close_to(mean_colour(im, (0, 2 * h // 3, w, h)), (20, 20, 220))


def test_png_with_alpha_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (1000, 500), (0, 0, 0, 0))  # fully transparent black
    im.paste((0, 160, 0, 255), (250, 125, 750, 375))
    variants = render(png_bytes(im))
    out = Image.open(io.BytesIO(variants["medium"][0]))
    assert out.mode == "RGB"
    assert out.size == (800, 400)
    assert close_to(mean_colour(out, (0, 0, 100, 100)), (255, 255, 255), 3)
    assert close_to(mean_colour(out, (350, 150, 450, 250)), (0, 160, 0))
    thumb = Image.open(io.BytesIO(variants["thumb"][0]))
    assert thumb.size == (200, 100)
    assert close_to(mean_colour(thumb, (0, 0, 20, 20)), (255, 255, 255), 3)


def test_palette_gif_with_transparency_and_16_bit_grey_png() -> None:
    gif = Image.new("P", (300, 300), 1)
    gif.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    out = io.BytesIO()
    gif.save(out, "GIF", transparency=0)
    medium = Image.open(io.BytesIO(render(out.getvalue())["medium"][0]))
    assert medium.size == (300, 300) and close_to(
        mean_colour(medium, (0, 0, 300, 300)), (255, 0, 0)
    )

    grey = Image.new("I;16", (400, 200), 32768)  # 50 % grey in 16 bits
    medium = Image.open(io.BytesIO(render(png_bytes(grey))["medium"][0]))
    assert medium.mode == "RGB" and close_to(mean_colour(medium, (0, 0, 400, 200)), (128,) * 3, 3)


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    cmyk = Image.new("CMYK", (1600, 1200), (255, 0, 0, 0))  # pure cyan ink
    variants = render(jpeg_bytes(cmyk))
    for name, size in (("medium", (800, 600)), ("thumb", (200, 150))):
        out = Image.open(io.BytesIO(variants[name][0]))
        assert out.mode == "RGB"
        assert out.size == size
        assert close_to(mean_colour(out, (0, 0, *size)), (0, 255, 255))


def test_broken_exif_or_icc_does_not_reject_the_photo() -> None:
    data = jpeg_bytes(
        two_tone(), exif=b"Exif\x00\x00garbage-not-tiff", icc_profile=b"not a profile"
    )
    variants = render(data)
    assert Image.open(io.BytesIO(variants["medium"][0])).size == (800, 533)
    assert_no_metadata(variants["medium"][0])


def test_output_is_deterministic() -> None:
    data = phone_jpeg()
    assert render(data) == render(data)


def test_large_jpeg_is_decoded_with_dct_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    drafts: list[tuple[int, int]] = []
    original = Image.Image.resize

    def spy(self: Image.Image, size: Any, *args: Any, **kwargs: Any) -> Image.Image:
        drafts.append(self.size)
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    render(jpeg_bytes(two_tone(4000, 3000)))
    # 4000x3000 -> 1000x750 by libjpeg (1/4 scale) -> 800x600 -> 200x150 from the 800 one.
    assert drafts[:2] == [(1000, 750), (800, 600)]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB"])
def test_strip_wise_reduce_matches_pillow(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Big non-JPEG uploads are reduced strip by strip (memory); the pixels must not change."""
    monkeypatch.setattr(thumbnails, "STRIP_PIXELS", 50_000)  # ~20 strips for this image
    base = Image.new("RGBA", (2501, 1003), (0, 0, 0, 0))
    for i in range(0, 2500, 97):
        base.paste((i % 256, 255 - i % 256, 90, 255 if i % 2 else 128), (i, i % 900, i + 60, 1003))
    im = base.convert(mode) if mode != "P" else base.convert("RGB").quantize(64)
    expected = im.convert({"P": "RGB"}.get(mode, mode)).resize(
        (800, 321), thumbnails.RESAMPLE, reducing_gap=thumbnails.REDUCING_GAP
    )
    got = thumbnails._fit_first(im, (800, 321))
    assert got.mode == expected.mode
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not-an-image"),
        (b"%PDF-1.7 this is a document, not a photo" * 10, "not-an-image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt"),
        (jpeg_bytes(two_tone())[:2000], "corrupt"),  # truncated
        (png_bomb(8000, 7000), "too-many-pixels"),  # 56 MP: above our limit
        (png_bomb(15000, 10000), "too-many-pixels"),  # 150 MP: Pillow's own bomb error
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100, "unsupported-format"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported-format"),
    ],
    ids=[
        "empty",
        "pdf",
        "bad-png-header",
        "truncated-jpeg",
        "bomb-56mp",
        "bomb-150mp",
        "heic",
        "svg",
    ],
)
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(data)
    assert info.value.reason == reason


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_unsupported_formats_are_never_parsed(fmt: str) -> None:
    out = io.BytesIO()
    two_tone(300, 200).save(out, fmt)
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(out.getvalue())
    assert info.value.reason == "unsupported-format"


def test_png_bomb_is_small_on_disk_and_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_bomb(20000, 10000)  # 200 MP
    assert len(bomb) < 100_000

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("bomb was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(bomb)
    assert info.value.reason == "too-many-pixels"


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
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
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
        assert Image.open(io.BytesIO(data)).size == thumbnails.fit_inside(800, 1200, box)
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
    assert directive["Namespace"] == "OpenMarket"
    assert "Reason" in directive["Dimensions"][0]
    assert emf[0]["Reason"] == reason and emf[0]["ImageRejected"] == [1.0]


def test_too_large_is_rejected_before_download(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "settings", thumbnails.Settings(max_bytes=1000))
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
    settings = thumbnails.Settings.from_env({"THUMBNAIL_SIZES": "large=600,tiny=32"})
    processor = thumbnails.ThumbnailProcessor(
        s3, settings, Logger(service="t", stream=io.StringIO())
    )
    body = jpeg_bytes(two_tone(1200, 800))
    version = upload(s3, "uploads/p.jpg", body)
    outcome = processor.process(thumbnails.UploadedObject(BUCKET, "uploads/p.jpg", version, None))
    assert outcome.status == "processed"
    assert outcome.outputs == ("thumbnails/large/p.jpg", "thumbnails/tiny/p.jpg")
    tiny = s3.get_object(Bucket=BUCKET, Key="thumbnails/tiny/p.jpg")["Body"].read()
    assert Image.open(io.BytesIO(tiny)).size == (32, 21)


# --------------------------------------------------------------------------------------------
# Memory: per-format limits, decided from the header
# --------------------------------------------------------------------------------------------

BUDGET_512 = thumbnails.DEFAULT_DECODE_BUDGET  # 60 % of 512 MB minus the baseline
MP = 1_000_000


def _flat_webp_template() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(out, "WEBP", lossless=True)
    return out.getvalue()


_FLAT_WEBP = _flat_webp_template()


def flat_webp(width: int, height: int) -> bytes:
    """A valid lossless WebP of one colour: 38 bytes whatever its size (the VP8L bitstream of a
    single-colour image does not depend on it), so big canvases cost nothing to make."""
    data = bytearray(_FLAT_WEBP)
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    (bits,) = struct.unpack("<I", data[21:25])
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[21:25] = struct.pack("<I", bits)
    return bytes(data)


def jpeg_header(
    width: int,
    height: int,
    *,
    sof: int = 0xC0,
    sampling: tuple[tuple[int, int], ...] = ((2, 2), (1, 1), (1, 1)),
    scan_components: int | None = None,
    precision: int = 8,
) -> bytes:
    """SOI, SOFn and the first SOS of a JPEG, and nothing else: what the limits look at."""
    comps = b"".join(bytes((i + 1, h << 4 | v, 0)) for i, (h, v) in enumerate(sampling))
    sof_body = struct.pack(">BHHB", precision, height, width, len(sampling)) + comps
    scan = len(sampling) if scan_components is None else scan_components
    sos_body = bytes((scan,)) + b"".join(bytes((i + 1, 0)) for i in range(scan)) + b"\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + bytes((0xFF, sof))
        + struct.pack(">H", 2 + len(sof_body))
        + sof_body
        + b"\xff\xda"
        + struct.pack(">H", 2 + len(sos_body))
        + sos_body
        + b"\x00" * 32
    )


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel data is decoded (or libwebp's canvases are allocated)."""
    from PIL import WebPImagePlugin

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded although over the limit")

    monkeypatch.setattr(Image.Image, "load", forbidden)
    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", forbidden)


def test_webp_over_its_limit_is_rejected_before_libwebp_allocates(no_decoding: None) -> None:
    # 20 MP: far under the 50 MP cap, but libwebp + Pillow need 16 bytes per pixel (~325 MB).
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(flat_webp(5000, 4000))
    assert info.value.reason == "too-many-pixels"
    assert info.value.detail.startswith("5000x4000 lossy or lossless WEBP needs about 326 MiB")
    assert info.value.detail.endswith(f"the budget is {BUDGET_512 // 2**20} MiB")


def test_webp_within_its_limit_is_decoded() -> None:
    variants = render(flat_webp(2400, 1600))
    medium = Image.open(io.BytesIO(variants["medium"][0]))
    assert medium.size == (800, 533)
    assert close_to(mean_colour(medium, (0, 0, 800, 533)), (10, 200, 30), 4)


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (  # progressive 4:4:4: 6 bytes of DCT coefficients per pixel, for 42 MP
            jpeg_header(7000, 6000, sof=0xC2, sampling=((1, 1),) * 3),
            "7000x6000 progressive 4:4:4 JPEG needs about 259 MiB",
        ),
        (  # progressive CMYK: 8 bytes per pixel, for 30 MP
            jpeg_header(6000, 5000, sof=0xC2, sampling=((1, 1),) * 4),
            "6000x5000 progressive 4-channel JPEG needs about 253 MiB",
        ),
        (  # sequential, but one scan per component: libjpeg buffers it like a progressive one
            jpeg_header(7000, 6000, sampling=((1, 1),) * 3, scan_components=1),
            "7000x6000 multi-scan 4:4:4 JPEG needs about 259 MiB",
        ),
    ],
    ids=["progressive-444", "progressive-cmyk", "multi-scan-444"],
)
def test_jpeg_whose_coefficients_do_not_fit_is_rejected_undecoded(
    no_decoding: None, header: bytes, detail: str
) -> None:
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(header)
    assert info.value.reason == "too-many-pixels"
    assert info.value.detail.startswith(detail), info.value.detail


@pytest.mark.parametrize(
    "header",
    [
        jpeg_header(7000, 7000),  # 49 MP baseline 4:2:0: decoded at 1/8 scale
        jpeg_header(7000, 7000, sof=0xC2),  # 49 MP progressive 4:2:0: 3 bytes per pixel
        jpeg_header(7000, 7000, sof=0xC2, sampling=((1, 1),)),  # progressive greyscale
        jpeg_header(7000, 7000, sampling=((1, 1),) * 4),  # sequential CMYK
    ],
    ids=["baseline-420", "progressive-420", "progressive-grey", "sequential-cmyk"],
)
def test_jpeg_that_fits_passes_the_limits(header: bytes) -> None:
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(header)
    # Past the limits, into the decoder, which finds no image data: not a memory rejection.
    assert info.value.reason == "corrupt"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (jpeg_header(800, 600, sof=0xC3), "lossless JPEG"),
        (jpeg_header(800, 600, sof=0xC1, precision=12), "12-bit JPEG"),
        (jpeg_header(800, 600, sof=0xC5), "hierarchical JPEG"),
    ],
)
def test_jpeg_variants_libjpeg_cannot_scale_are_unsupported(
    no_decoding: None, header: bytes, detail: str
) -> None:
    with pytest.raises(thumbnails.ImageRejected) as info:
        render(header)
    assert (info.value.reason, info.value.detail) == ("unsupported-format", detail)


def test_jpeg_frame_is_read_from_real_files() -> None:
    def frame(data: bytes) -> Any:
        return image_limits.read_jpeg_frame(io.BytesIO(data))

    baseline = frame(jpeg_bytes(two_tone(64, 48)))
    assert (baseline.marker, baseline.multi_scan) == (0xC0, False)
    assert baseline.sampling == ((2, 2), (1, 1), (1, 1))
    progressive = frame(jpeg_bytes(two_tone(64, 48), progressive=True, subsampling=0))
    assert (progressive.marker, progressive.multi_scan) == (0xC2, True)
    assert progressive.sampling == ((1, 1),) * 3
    phone = frame(phone_jpeg())  # EXIF, ICC and XMP segments before the frame are skipped
    assert phone is not None and phone.first_scan_components == 3
    assert frame(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None
    assert frame(b"GIF89a") is None


def largest_square_within(cost: Any) -> int:
    """Largest pixel count (square image) whose estimated decode fits the 512 MB budget."""
    low, high = 1, 20_000
    while low < high:
        mid = (low + high + 1) // 2
        if cost(mid).bytes <= BUDGET_512:
            low = mid
        else:
            high = mid - 1
    return low * low


def test_per_format_limits_at_512_mb_are_the_documented_ones() -> None:
    """The table in functions/image-processor/README.md, from the cost model itself."""
    frame = image_limits.JpegFrame
    box = (800, 800)
    limits = {
        "webp": largest_square_within(lambda n: image_limits.webp_cost((n, n), 0)),
        "webp-50MiB-file": largest_square_within(
            lambda n: image_limits.webp_cost((n, n), 50 * 2**20)
        ),
        "jpeg-progressive-444": largest_square_within(
            lambda n: image_limits.jpeg_cost((n, n), frame(0xC2, 8, ((1, 1),) * 3, 1), box)
        ),
        "jpeg-progressive-cmyk": largest_square_within(
            lambda n: image_limits.jpeg_cost((n, n), frame(0xC2, 8, ((1, 1),) * 4, 1), box)
        ),
        "jpeg-progressive-422": largest_square_within(
            lambda n: image_limits.jpeg_cost(
                (n, n), frame(0xC2, 8, ((2, 1), (1, 1), (1, 1)), 1), box
            )
        ),
        "png-rgba": largest_square_within(
            lambda n: image_limits.full_decode_cost("PNG", "RGBA", (n, n))
        ),
        "gif": largest_square_within(lambda n: image_limits.full_decode_cost("GIF", "P", (n, n))),
    }
    assert {name: round(pixels / MP, 1) for name, pixels in limits.items()} == {
        "webp": 14.6,
        "webp-50MiB-file": 11.4,
        "jpeg-progressive-444": 38.0,
        "jpeg-progressive-cmyk": 28.8,
        "jpeg-progressive-422": 58.5,  # above the 50 MP cap: the cap applies
        "png-rgba": 56.4,
        "gif": 75.2,
    }


def test_limits_follow_the_function_memory() -> None:
    big = thumbnails.Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"})
    assert big.decode_budget == 1024 * 2**20 * 60 // 100 - image_limits.BASELINE_BYTES
    assert thumbnails.Settings.from_env({}).decode_budget == BUDGET_512
    with pytest.raises(ValueError, match="MEMORY_PEAK_PERCENT: 15 % of 512 MB"):
        thumbnails.Settings.from_env({"MEMORY_PEAK_PERCENT": "15"})
    with pytest.raises(ValueError, match=r"MEMORY_PEAK_PERCENT: 95 is outside 10\.\.90"):
        thumbnails.Settings.from_env({"MEMORY_PEAK_PERCENT": "95"})
    # What fits in 1024 MB does not fit in 512 MB.
    with pytest.raises(thumbnails.ImageRejected):
        render(flat_webp(5000, 4000))
    thumbnails.render_variants(
        flat_webp(5000, 4000), (("thumb", 200),), 80, MAX_PIXELS, big.decode_budget
    )


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
    with pytest.raises(thumbnails.SourceUnreadable):
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
        with pytest.raises(thumbnails.SourceUnreadable) as info:
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
    skipped = [m for m in emf_metrics(capsys.readouterr().out) if "ImagesSkipped" in m]
    assert [(m["Reason"], m["service"]) for m in skipped] == [
        ("missing-or-denied", "image-processor")
    ]


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
