"""Tests for functions/image-processor/image_rendering.py: the pure transform (decode, resize,
encode) and its per-format memory limits (image_limits). No AWS: the S3 side and the handler are
tested in test_image_processor.py."""

from __future__ import annotations

import ast
import io
import struct
import sys
from pathlib import Path
from typing import Any

import image_limits
import image_rendering
import pytest
from image_samples import (
    BUDGET_512,
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
from PIL import Image


def test_rendering_is_pure() -> None:
    """image_rendering imports the standard library, Pillow and image_limits, nothing else: no
    boto3/botocore, no Powertools, nothing from the S3 side (thumbnail_processor)."""
    tree = ast.parse(Path(image_rendering.__file__).read_text())
    imported = {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {name.split(".")[0] for name in imported}
    assert roots - set(sys.stdlib_module_names) == {"PIL", "image_limits"}


# --------------------------------------------------------------------------------------------
# The transform
# --------------------------------------------------------------------------------------------


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
    assert image_rendering.fit_inside(*size, box) == expected


def test_exif_orientation_applied_and_all_metadata_stripped() -> None:
    variants = render(phone_jpeg())
    assert list(variants) == ["medium", "thumb"]
    for name, box in (("medium", 800), ("thumb", 200)):
        data, dims = variants[name]
        assert_no_metadata(data)
        im = Image.open(io.BytesIO(data))
        # Stored 1200x800 landscape, orientation 6 -> displayed 800x1200 portrait.
        assert im.size == dims == image_rendering.fit_inside(800, 1200, box)
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
    monkeypatch.setattr(image_rendering, "STRIP_PIXELS", 50_000)  # ~20 strips for this image
    base = Image.new("RGBA", (2501, 1003), (0, 0, 0, 0))
    for i in range(0, 2500, 97):
        base.paste((i % 256, 255 - i % 256, 90, 255 if i % 2 else 128), (i, i % 900, i + 60, 1003))
    im = base.convert(mode) if mode != "P" else base.convert("RGB").quantize(64)
    expected = im.convert({"P": "RGB"}.get(mode, mode)).resize(
        (800, 321), image_rendering.RESAMPLE, reducing_gap=image_rendering.REDUCING_GAP
    )
    got = image_rendering._fit_first(im, (800, 321))
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
    with pytest.raises(image_rendering.ImageRejected) as info:
        render(data)
    assert info.value.reason == reason


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_unsupported_formats_are_never_parsed(fmt: str) -> None:
    out = io.BytesIO()
    two_tone(300, 200).save(out, fmt)
    with pytest.raises(image_rendering.ImageRejected) as info:
        render(out.getvalue())
    assert info.value.reason == "unsupported-format"


def test_png_bomb_is_small_on_disk_and_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_bomb(20000, 10000)  # 200 MP
    assert len(bomb) < 100_000

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("bomb was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(image_rendering.ImageRejected) as info:
        render(bomb)
    assert info.value.reason == "too-many-pixels"


# --------------------------------------------------------------------------------------------
# Memory: per-format limits, decided from the header
# --------------------------------------------------------------------------------------------

MP = 1_000_000


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
    forbid_decoding(monkeypatch)


def test_webp_over_its_limit_is_rejected_before_libwebp_allocates(no_decoding: None) -> None:
    # 20 MP: far under the 50 MP cap, but libwebp + Pillow need 16 bytes per pixel (~325 MB).
    with pytest.raises(image_rendering.ImageRejected) as info:
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
    with pytest.raises(image_rendering.ImageRejected) as info:
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
    with pytest.raises(image_rendering.ImageRejected) as info:
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
    with pytest.raises(image_rendering.ImageRejected) as info:
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
