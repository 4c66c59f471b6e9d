"""Tests for functions/image-processor: the pure transform, and the handler against moto S3."""

from __future__ import annotations

import importlib.util
import io
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

import thumbnails  # noqa: E402  (needs FUNCTION_DIR on sys.path)

BUCKET = "openmarket-uploads-test"
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
    markers = jpeg_markers(data)
    app_segments = [m for m in markers if 0xE1 <= m <= 0xEF]  # APP1 EXIF/XMP, APP2 ICC, ...
    assert app_segments == [], f"metadata segments left: {[hex(m) for m in app_segments]}"
    assert 0xFE not in markers, "JPEG comment left"
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert len(im.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "comment", "photoshop"):
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
    with mock_aws():
        index.s3_client.cache_clear()
        client = index.s3_client()
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
    index.s3_client.cache_clear()


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


def upload(s3: Any, key: str, body: bytes, tagging: str | None = None) -> str:
    extra = {"Tagging": tagging} if tagging else {}
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return str(response["VersionId"])


def s3_event(key: str, version: str | None, size: int | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key), "eTag": "0123456789abcdef", "sequencer": "01"}
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
    assert result == {"processed": 1, "rejected": 0, "ignored": 0, "missing": 0}
    assert keys_under(s3, "thumbnails/") == [
        "thumbnails/medium/products/42/내 사진+1.jpg",
        "thumbnails/thumb/products/42/내 사진+1.jpg",
    ]
    for prefix, box in (("medium", 800), ("thumb", 200)):
        got = s3.get_object(Bucket=BUCKET, Key=f"thumbnails/{prefix}/products/42/내 사진+1.jpg")
        assert got["ContentType"] == "image/jpeg"
        assert got["Metadata"] == {"source-version-id": version}
        data = got["Body"].read()
        assert_no_metadata(data)
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
    assert index.handler(removed, FakeContext()) == {
        "processed": 0,
        "rejected": 0,
        "ignored": 0,
        "missing": 0,
    }


def test_deleted_object_is_skipped(s3: Any) -> None:
    body = jpeg_bytes(two_tone(300, 200))
    version = upload(s3, "uploads/gone.jpg", body)
    s3.delete_object(Bucket=BUCKET, Key="uploads/gone.jpg", VersionId=version)
    for size in (len(body), None):
        result = index.handler(s3_event("uploads/gone.jpg", version, size), FakeContext())
        assert result["missing"] == 1
    assert keys_under(s3, "thumbnails/") == []


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
        ("get_object", "AccessDenied", 403),
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
