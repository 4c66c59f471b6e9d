"""Thumbnail generation for the image-processor Lambda.

Two layers, both free of Lambda glue so tests and the benchmark can call them directly:

* :func:`render_variants` - the pure image transform: bytes in, one JPEG per configured size out,
  or :class:`ImageRejected` for input that must never be retried (not an image, corrupt, too many
  pixels, unsupported format).
* :class:`ThumbnailProcessor` - the S3 side for one uploaded object: is the event's version the
  current one, size check, download to a temporary file, render, conditional upload of the
  variants (:mod:`thumbnail_versions`), or tag the original as rejected and emit the
  ``ImageRejected`` metric.

How much memory a decode may take is decided per format from the header (:mod:`image_limits`).
AWS errors other than "the object is gone" propagate, so Lambda retries the event and finally sends
it to the dead-letter queue; so does :class:`SourceUnreadable` (the upload exists, its download
is denied).
"""

from __future__ import annotations

import functools
import io
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol
from urllib.parse import unquote_plus

import image_limits
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError
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
from thumbnail_versions import (
    META_SEQUENCER,
    META_VERSION,
    NO_SEQUENCER,
    VersionedThumbnails,
    parse_sequencer,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

# Register the decoders at cold start, not inside the first invocation: Image.open() would
# import Pillow's common plugins there (and all of them the first time a WebP comes along).
_PLUGINS: Final = (GifImagePlugin, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, WebPImagePlugin)
Image.preinit()

SOURCE_PREFIX: Final = "uploads/"
OUTPUT_PREFIX: Final = "thumbnails/"  # outside SOURCE_PREFIX: our writes never re-trigger us

DEFAULT_SIZES: Final = "medium=800,thumb=200"
DEFAULT_QUALITY: Final = 80
DEFAULT_MAX_PIXELS: Final = 50_000_000
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024
DEFAULT_DECODE_BUDGET: Final = image_limits.decode_budget(
    image_limits.DEFAULT_MEMORY_MB, image_limits.DEFAULT_PEAK_PERCENT
)

METRICS_NAMESPACE: Final = "OpenMarket"
REJECTED_METRIC: Final = "ImageRejected"
REJECTED_DIMENSION: Final = "Reason"

COMMENT_PREFIX: Final = "openmarket-thumbnail-source:"
SKIPPED_METRIC: Final = "ImagesSkipped"
COPY_CHUNK: Final = 1024 * 1024

TAG_STATUS: Final = "image-status"
TAG_REASON: Final = "image-reject-reason"
S3_MAX_TAGS: Final = 10

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

_SIZE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_MISSING_CODES: Final = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
# Without s3:ListBucket, S3 answers 403 instead of 404 for a key that does not exist.
_DENIED_CODES: Final = frozenset({"AccessDenied", "403"})
# S3 passes on KMS failures to decrypt (SSE-KMS) under these: KMS.AccessDeniedException,
# KMS.DisabledException, KMSAccessDenied, ...
_KMS_CODE_PREFIX: Final = "KMS"


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


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Function configuration, read once per cold start from environment variables."""

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
# Keys
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


# --------------------------------------------------------------------------------------------
# Image transform
# --------------------------------------------------------------------------------------------


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


def source_comment(version_id: str | None, sequencer: str | None) -> bytes:
    """The one comment a thumbnail carries: which upload version it was made from.

    Not personal data (an S3 version id and an event sequencer); it makes the bytes, hence the
    S3 ETag, of thumbnails of different source versions differ even when the images are alike,
    which the conditional writes in thumbnail_versions rely on.
    """
    if not version_id and not sequencer:
        return b""
    return f"{COMMENT_PREFIX}version={version_id or 'null'};sequencer={sequencer or ''}".encode(
        "ascii", "replace"
    )


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

    `source`: the upload, as bytes or as a seekable binary file (the handler streams the object
    to a temporary file, so only the decoder's working set is in memory). Raises ImageRejected
    for input that can never be processed, including input whose decode would not fit
    `decode_budget` (see image_limits). `comment`: see :func:`source_comment`.
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
            emit_count(SKIPPED_METRIC, reason, service=self.logger.service)
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
        emit_count(SKIPPED_METRIC, status, service=self.logger.service)
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
        emit_rejected_metric(reason, service=self.logger.service)
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


def emit_count(metric: str, reason: str, service: str | None = None) -> None:
    """One count of `metric` with a `Reason` dimension, flushed at once (EMF on stdout)."""
    dimensions = {"service": service} if service else None
    with single_metric(
        name=metric,
        unit=MetricUnit.Count,
        value=1,
        namespace=METRICS_NAMESPACE,
        default_dimensions=dimensions,
    ) as single:
        single.add_dimension(name=REJECTED_DIMENSION, value=reason)


def emit_rejected_metric(reason: str, service: str | None = None) -> None:
    """One `ImageRejected` count with a `Reason` dimension, flushed at once (EMF on stdout)."""
    emit_count(REJECTED_METRIC, reason, service)
