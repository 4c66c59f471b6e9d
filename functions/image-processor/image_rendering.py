"""Image rendering for the image-processor Lambda: decode, resize, encode. Pure, no AWS.

:func:`render_variants` takes the bytes of an upload (or a seekable file holding them) and returns
one JPEG per configured size, or raises :class:`ImageRejected` for input that must never be
retried (not an image, corrupt, too many pixels, unsupported format). Nothing here talks to S3 or
knows about Lambda: :mod:`thumbnail_processor` feeds it, and tests and the benchmark call it
directly.

How much memory a decode may take is decided per format from the header (:mod:`image_limits`),
before any pixel is decoded.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterable, Mapping
from typing import BinaryIO, Final

import image_limits
from PIL import (
    GifImagePlugin,
    Image,
    ImageCms,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

# Register the decoders at cold start, not inside the first invocation: Image.open() would
# import Pillow's common plugins there (and all of them the first time a WebP comes along).
_PLUGINS: Final = (GifImagePlugin, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, WebPImagePlugin)
Image.preinit()

# Bytes a decode may add to the function's baseline at the default 512 MB and 60 % peak.
DEFAULT_DECODE_BUDGET: Final = image_limits.decode_budget(
    image_limits.DEFAULT_MEMORY_MB, image_limits.DEFAULT_PEAK_PERCENT
)

# Formats we decode. Image.open() gets only these, so Pillow never runs any other parser on
# untrusted bytes. MPO is what Pillow calls a multi-picture JPEG (most phone cameras).
DECODE_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF")
ACCEPTED_FORMATS: Final = frozenset({*DECODE_FORMATS, "MPO"})

# Pillow resampling: Lanczos-3, the same kernel sharp uses by default. The two-step reduce only
# kicks in when the remaining factor is >= 2x (non-JPEG sources, and the small variants).
RESAMPLE: Final = Image.Resampling.LANCZOS
REDUCING_GAP: Final = 2.0
WHITE: Final = (255, 255, 255)
# Mode conversions before the integer reduce (premultiplied alpha, palette expansion) are done on
# strips of about this many pixels, so a 50 MP RGBA PNG never needs a second full-size copy.
# 1 MP strips cost ~8 MiB of work memory (4 MP strips cost ~35 MiB more) for no measurable time.
STRIP_PIXELS = 1_000_000
_PREMULTIPLIED: Final[Mapping[str, str]] = {"RGBA": "RGBa", "LA": "La"}

_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSE: Final[Mapping[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class Reason:
    """Rejection reasons: the `Reason` metric dimension and the `image-reject-reason` tag."""

    TOO_LARGE: Final = "too-large"  # object bytes > MAX_OBJECT_BYTES
    # width * height > MAX_PIXELS, or more than the format's decode fits in the memory budget
    TOO_MANY_PIXELS: Final = "too-many-pixels"
    NOT_AN_IMAGE: Final = "not-an-image"
    UNSUPPORTED_FORMAT: Final = "unsupported-format"
    CORRUPT: Final = "corrupt"


class ImageRejected(Exception):
    """Input that will never succeed: do not retry, tag the original, count it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def fit_inside(width: int, height: int, box: int) -> tuple[int, int]:
    """Largest size with the same aspect ratio that fits in box x box; never enlarges."""
    if width <= box and height <= box:
        return width, height
    scale = min(box / width, box / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def sniff_reason(data: bytes) -> str:
    """Why Pillow could not identify `data`: a known image format we do not take, or junk."""
    head = data[:64]
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    ):
        return Reason.CORRUPT  # one of ours, but the header does not parse
    if head[4:8] == b"ftyp" and head[8:12] in {
        b"heic",
        b"heix",
        b"hevc",
        b"heim",
        b"heis",
        b"hevm",
        b"mif1",
        b"msf1",
        b"avif",
        b"avis",
    }:
        return Reason.UNSUPPORTED_FORMAT  # HEIF/HEIC/AVIF
    signatures = (
        b"BM",  # BMP
        b"II*\x00",  # TIFF (and most camera raw formats)
        b"MM\x00*",
        b"8BPS",  # Photoshop
        b"\x00\x00\x01\x00",  # ICO
        b"\x00\x00\x00\x0cjP  ",  # JPEG 2000
        b"\xff\x4f\xff\x51",
        b"\xff\x0a",  # JPEG XL
        b"\x00\x00\x00\x0cJXL ",
        b"qoif",
        b"DDS ",
        b"P1",
        b"P2",
        b"P3",
        b"P4",
        b"P5",
        b"P6",  # Netpbm
    )
    if head.startswith(signatures):
        return Reason.UNSUPPORTED_FORMAT
    text = data[:1024].lstrip().lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in text:
        return Reason.UNSUPPORTED_FORMAT
    return Reason.NOT_AN_IMAGE


_HEAD_BYTES: Final = 1024  # enough for every signature sniff_reason and the WebP check need


def _open(fp: BinaryIO, held_bytes: int, max_pixels: int, budget: int, box: int) -> Image.Image:
    """Open lazily (header only) and enforce the pixel and memory limits before decoding.

    `held_bytes`: input bytes the caller keeps in memory during the decode (0 for a file).
    `box`: the largest variant, which decides the JPEG decode scale.
    """
    head = fp.read(_HEAD_BYTES)
    fp.seek(0, io.SEEK_END)
    file_bytes = fp.tell()
    fp.seek(0)
    if not head:
        raise ImageRejected(Reason.NOT_AN_IMAGE, "empty object")
    if image_limits.is_webp(head):
        # libwebp allocates its canvases when Pillow *opens* the file: check the header first.
        canvas = image_limits.webp_canvas_size(head)
        if canvas is None or canvas[0] < 1 or canvas[1] < 1:
            raise ImageRejected(Reason.CORRUPT, "WebP header without a canvas size")
        _check_limits(image_limits.webp_cost(canvas, file_bytes, held_bytes), max_pixels, budget)
    frame: image_limits.JpegFrame | None = None
    if head.startswith(b"\xff\xd8\xff"):
        # Frame type, precision, sampling and first scan decide how libjpeg will decode it.
        frame = image_limits.read_jpeg_frame(fp)
        if frame is not None and frame.unsupported:
            raise ImageRejected(Reason.UNSUPPORTED_FORMAT, frame.unsupported)
    # Pillow's own guard: warns above MAX_IMAGE_PIXELS and refuses above twice that. We turn the
    # warning into an error as well, so Pillow never decodes more than max_pixels.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=DECODE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(Reason.TOO_MANY_PIXELS, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageRejected(sniff_reason(head), "cannot identify image") from None
    except MemoryError:
        raise
    except Exception as exc:  # any parser failure on untrusted bytes
        raise ImageRejected(Reason.CORRUPT, f"{type(exc).__name__}: {exc}") from None
    if im.format not in ACCEPTED_FORMATS:  # pragma: no cover - DECODE_FORMATS guarantees it
        raise ImageRejected(Reason.UNSUPPORTED_FORMAT, f"format {im.format}")
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageRejected(Reason.CORRUPT, f"size {width}x{height}")
    if width * height > max_pixels:
        raise ImageRejected(
            Reason.TOO_MANY_PIXELS, f"{width}x{height} = {width * height} pixels > {max_pixels}"
        )
    if im.format in ("JPEG", "MPO"):
        if frame is None:
            raise ImageRejected(Reason.CORRUPT, "JPEG header without a frame and a scan")
        cost = image_limits.jpeg_cost(im.size, frame, fit_inside(width, height, box), held_bytes)
    elif im.format == "WEBP":
        cost = image_limits.webp_cost(im.size, file_bytes, held_bytes)
    else:
        cost = image_limits.full_decode_cost(str(im.format), im.mode, im.size, held_bytes)
    _check_limits(cost, max_pixels, budget)
    return im


def _check_limits(cost: image_limits.DecodeCost, max_pixels: int, budget: int) -> None:
    if cost.pixels > max_pixels:
        raise ImageRejected(
            Reason.TOO_MANY_PIXELS,
            f"{cost.width}x{cost.height} = {cost.pixels} pixels > {max_pixels}",
        )
    if cost.bytes > budget:
        raise ImageRejected(Reason.TOO_MANY_PIXELS, cost.describe(budget))


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is not worth rejecting the photo for
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _resizable(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to one Pillow resamples well: L, LA, RGB, RGBA or CMYK."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return im
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode in ("La", "RGBa"):
        return im.convert(mode.upper())
    if mode.startswith("I") or mode == "F":  # 16-bit grey PNG: scale, do not clip, to 8 bits
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return im.convert("RGBA" if "A" in im.getbands() else "RGB")


def _reduce(im: Image.Image, factor: tuple[int, int]) -> Image.Image:
    """``im.reduce(factor)`` on a resizable (alpha: premultiplied) version of a decoded image.

    Pillow would convert the whole image first (RGBA -> RGBa for premultiplied averaging, P ->
    RGB), doubling peak memory for big PNG/WebP/GIF uploads. Here the conversion happens one strip
    at a time; strips start on multiples of the factor, so the result is the same pixel for pixel.
    """
    if im.mode in ("L", "RGB", "CMYK"):
        return im.reduce(factor)
    factor_x, factor_y = factor
    width, height = im.size
    rows = max(1, STRIP_PIXELS // (width * factor_y)) * factor_y
    out: Image.Image | None = None
    for top in range(0, height, rows):
        part = _resizable(im.crop((0, top, width, min(height, top + rows))))
        if part.mode in _PREMULTIPLIED:
            part = part.convert(_PREMULTIPLIED[part.mode])
        reduced = part.reduce(factor)
        if out is None:
            size = (-(-width // factor_x), -(-height // factor_y))
            out = Image.new(reduced.mode, size)
        out.paste(reduced, (0, top // factor_y))
    assert out is not None
    return out


def _fit_first(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize the decoded image to the largest variant: integer reduce, then Lanczos.

    Same two steps as Pillow's ``resize(..., reducing_gap=REDUCING_GAP)``, with :func:`_reduce`
    for the first one. Returns L, RGB, CMYK, LA or RGBA.
    """
    width, height = im.size
    factor = (
        max(1, int(width / size[0] / REDUCING_GAP)),
        max(1, int(height / size[1] / REDUCING_GAP)),
    )
    if factor == (1, 1):
        return _resizable(im).resize(size, RESAMPLE)
    reduced = _reduce(im, factor)
    box = (0.0, 0.0, width / factor[0], height / factor[1])
    resized = reduced.resize(size, RESAMPLE, box=box)
    return resized.convert(resized.mode.upper()) if resized.mode in ("RGBa", "La") else resized


@functools.lru_cache(maxsize=8)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.createProfile("sRGB")
    return ImageCms.buildTransform(source, srgb, mode, "RGB")


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Flatten alpha onto white and convert to 8-bit sRGB, through the embedded profile if any."""
    if im.mode in ("RGBA", "LA"):
        background = Image.new(im.mode[:-1], im.size, WHITE if im.mode == "RGBA" else 255)
        background.paste(im, mask=im.getchannel("A"))
        im = background
    if icc:
        try:
            converted = ImageCms.applyTransform(im, _srgb_transform(icc, im.mode))
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # unusable profile: fall back to treating the pixels as sRGB
        if converted is not None:
            return converted
    return im if im.mode == "RGB" else im.convert("RGB")


def _encode(im: Image.Image, quality: int, comment: bytes = b"") -> bytes:
    im.info = {}  # resize() copies info: make sure no comment/EXIF/XMP/ICC can leak through
    out = io.BytesIO()
    extra = {"comment": comment} if comment else {}
    im.save(out, "JPEG", quality=quality, optimize=True, subsampling="4:2:0", **extra)
    return out.getvalue()


def render_variants(
    source: bytes | BinaryIO,
    sizes: Iterable[tuple[str, int]],
    quality: int,
    max_pixels: int,
    decode_budget: int = DEFAULT_DECODE_BUDGET,
    comment: bytes = b"",
) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Render one JPEG per (name, box), largest box first. Returns name -> (jpeg, (w, h)).

    `source`: the upload, as bytes or as a seekable binary file (the processor streams the object
    to a temporary file, so only the decoder's working set is in memory). Raises ImageRejected
    for input that can never be processed, including input whose decode would not fit
    `decode_budget` (see image_limits). `comment`: the one JPEG comment every variant carries
    (the processor names the upload version there: ``thumbnail_processor.source_comment``);
    nothing else from the upload is kept.
    """
    boxes = sorted(sizes, key=lambda kv: -kv[1])
    if isinstance(source, bytes | bytearray):
        fp: BinaryIO = io.BytesIO(source)
        held = len(source)
    else:
        fp, held = source, 0
    im = _open(fp, held, max_pixels, decode_budget, boxes[0][1])
    orientation = _orientation(im)
    icc = im.info.get("icc_profile") or None
    width, height = im.size
    # The boxes are square, so the fitted size does not depend on the EXIF rotation: resize the
    # stored pixels, rotate the (much smaller) result.
    first = fit_inside(width, height, boxes[0][1])
    try:
        # JPEG: let libjpeg scale by 1/2, 1/4 or 1/8 while decoding (DCT scaling), to the smallest
        # size that is still >= the largest variant. Decodes a 12 MP photo to 1000x750.
        im.draft(None, first)
        im.load()
        largest = _fit_first(im, first)
    except MemoryError:
        raise
    except Exception as exc:  # truncated or corrupt pixel data
        raise ImageRejected(Reason.CORRUPT, f"{type(exc).__name__}: {exc}") from None
    finally:
        im.close()  # frees the decoded full-size pixels before encoding
    if orientation != 1:
        largest = largest.transpose(_TRANSPOSE[orientation])
    current = _to_srgb(largest, icc)
    # Sizes are fitted from the original (upright) dimensions, so rounding does not compound.
    upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    variants: dict[str, tuple[bytes, tuple[int, int]]] = {}
    for name, box in boxes:
        target = fit_inside(*upright, box) if variants else current.size
        if target != current.size:
            # Each smaller variant comes from the previous one, never from the original.
            current = current.resize(target, RESAMPLE, reducing_gap=REDUCING_GAP)
        variants[name] = (_encode(current, quality, comment), current.size)
    return variants
