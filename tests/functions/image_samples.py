"""Test images and checks shared by the image-processor tests.

``test_image_processor_rendering.py`` (``image_rendering``) and ``test_image_processor.py``
(``thumbnail_processor`` and the handler) both use them. Importable because pyproject.toml puts
``tests/functions`` on pytest's ``pythonpath`` (next to every function folder).
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import image_rendering
import pytest
from PIL import Image, ImageCms, WebPImagePlugin

MAX_PIXELS = 50_000_000
SIZES = (("medium", 800), ("thumb", 200))  # THUMBNAIL_SIZES' default, parsed
BUDGET_512 = image_rendering.DEFAULT_DECODE_BUDGET  # 60 % of 512 MB minus the baseline


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
    comment naming the source version (thumbnail_processor.source_comment)."""
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


def render(data: bytes) -> dict[str, tuple[bytes, Any]]:
    """The function's transform with its default sizes, quality and pixel cap."""
    variants: dict[str, tuple[bytes, Any]] = image_rendering.render_variants(
        data, SIZES, 80, MAX_PIXELS
    )
    return variants


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


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel data is decoded (or libwebp's canvases are allocated)."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded although over the limit")

    monkeypatch.setattr(Image.Image, "load", forbidden)
    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", forbidden)
