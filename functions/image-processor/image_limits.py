"""How much memory decoding an upload needs, read from its header before any pixel is decoded.

One pixel limit cannot serve every format: the memory a decode needs per pixel differs by a
factor of 30 between them (measured with Pillow 13.0.0, `bench/image_processor/RESULTS.md`):

* JPEG (and MPO, a JPEG with more pictures appended) with a single scan is decoded with DCT
  scaling straight to 1/2 to 1/8 of its size, so only the scaled output is held.
* JPEG with several scans (progressive, or sequential with one scan per component) makes libjpeg
  keep every DCT coefficient of the whole image until the last scan: 2 bytes per sample of each
  component, i.e. 2 bytes per pixel (greyscale) to 8 (CMYK/YCCK without subsampling), whatever
  the output scale.
* PNG and GIF are decoded at full size into Pillow's storage: 1 byte per pixel (palette, grey),
  2 (16-bit grey) or 4 (RGB, RGBA, grey + alpha: Pillow stores 3 channels in 4 bytes).
* WebP goes through libwebp's animation decoder whatever the file: two canvases of 4 bytes per
  pixel inside libwebp, the frame copied out as bytes, then into Pillow's image: 16 bytes per
  pixel, plus Pillow's own copy of the file. libwebp's canvases are allocated when the file is
  *opened*, so a WebP header is checked here before Pillow sees the file.

:func:`decode_cost` turns the header into an estimate of the peak on top of the function's
baseline (Python, boto3, Powertools, Pillow imported). The handler rejects an upload whose
estimate exceeds its budget: ``MEMORY_PEAK_PERCENT`` (60) % of the function memory minus
:data:`BASELINE_BYTES`. The constants below are rounded up from measurements, so the estimate
errs on the safe side; the benchmark checks real peaks at every format's limit.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Final

MiB: Final = 1024 * 1024

# Peak RSS of the function before any image: Python, boto3 + its S3 client, Powertools, Pillow.
# Measured 55 MiB (Python 3.11, x86_64); rounded up for the Lambda runtime client.
BASELINE_BYTES: Final = 64 * MiB
DEFAULT_MEMORY_MB: Final = 512
DEFAULT_PEAK_PERCENT: Final = 60

# Work memory of each decode path besides the per-pixel storage: libjpeg/zlib/libwebp state,
# the 1-megapixel strips Pillow's mode conversions run on, the reduced image and the encoder.
_FIXED_BYTES: Final[Mapping[str, int]] = {
    "JPEG": 16 * MiB,
    "PNG": 28 * MiB,
    "GIF": 28 * MiB,
    "WEBP": 20 * MiB,
}
# Bytes per pixel of Pillow's storage for the modes PNG decodes to (others: 4).
_STORAGE_BYTES: Final[Mapping[str, int]] = {"1": 1, "L": 1, "P": 1, "I;16": 2}
# GIF, first frame: the palette image (1 byte per pixel), a background fill of the logical screen
# when the frame is transparent or smaller than the screen, and a disposal buffer when the frame
# asks for one: up to 3 bytes per pixel of the logical screen.
_GIF_BYTES_PER_PIXEL: Final = 3
_WEBP_BYTES_PER_PIXEL: Final = 16
_JPEG_OUTPUT_BYTES_PER_PIXEL: Final = 4  # RGB and CMYK are both 4 bytes per pixel in Pillow
_JPEG_COEFFICIENT_BYTES: Final = 128  # one 8x8 block of 16-bit DCT coefficients

# Start-of-frame markers. Pillow accepts all of them; libjpeg decodes only the first two rows.
_SOF_SEQUENTIAL: Final = frozenset({0xC0, 0xC1, 0xC9})  # baseline, extended, arithmetic
_SOF_PROGRESSIVE: Final = frozenset({0xC2, 0xCA})
_SOF_LOSSLESS: Final = frozenset({0xC3, 0xCB})  # no DCT: no scaled decode; no browser shows it
_SOF_HIERARCHICAL: Final = frozenset({0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF})  # libjpeg: no
_SOF_ALL: Final = _SOF_SEQUENTIAL | _SOF_PROGRESSIVE | _SOF_LOSSLESS | _SOF_HIERARCHICAL
_SOS: Final = 0xDA
_EOI: Final = 0xD9
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7: no length field
_MAX_SEGMENTS: Final = 4096


def decode_budget(memory_mb: int, peak_percent: int) -> int:
    """Bytes a decode may add to the baseline so the peak stays at `peak_percent` of memory."""
    return memory_mb * MiB * peak_percent // 100 - BASELINE_BYTES


@dataclass(frozen=True)
class JpegFrame:
    """What a JPEG header says about the decode: frame type, sampling, first scan."""

    marker: int  # 0xC0..0xCF (SOFn)
    precision: int  # bits per sample
    sampling: tuple[tuple[int, int], ...]  # (h, v) per component
    first_scan_components: int  # components in the first scan (Ns of the first SOS)

    @property
    def progressive(self) -> bool:
        return self.marker in _SOF_PROGRESSIVE

    @property
    def multi_scan(self) -> bool:
        """libjpeg buffers the whole image: progressive, or one scan per component."""
        return self.progressive or self.first_scan_components < len(self.sampling)

    @property
    def unsupported(self) -> str | None:
        """Why libjpeg (as Pillow uses it) cannot decode this frame, if it cannot."""
        if self.marker in _SOF_LOSSLESS:
            return "lossless JPEG"
        if self.marker in _SOF_HIERARCHICAL:
            return "hierarchical JPEG"
        if self.precision != 8:
            return f"{self.precision}-bit JPEG"
        return None


def read_jpeg_frame(fp: BinaryIO) -> JpegFrame | None:
    """Walk the JPEG segments up to the first scan. None if the header is malformed.

    Reads only segment headers and the SOF/SOS payloads (APPn segments are skipped by seeking),
    and restores the file position.
    """
    start = fp.tell()
    try:
        fp.seek(0)
        if fp.read(2) != b"\xff\xd8":
            return None
        frame: tuple[int, int, tuple[tuple[int, int], ...]] | None = None
        for _ in range(_MAX_SEGMENTS):
            byte = fp.read(1)
            if byte != b"\xff":
                return None
            marker = 0xFF
            while marker == 0xFF:  # fill bytes
                raw = fp.read(1)
                if not raw:
                    return None
                marker = raw[0]
            if marker in _STANDALONE:
                continue
            if marker == _EOI:
                return None
            raw = fp.read(2)
            if len(raw) != 2:
                return None
            (length,) = struct.unpack(">H", raw)
            if length < 2:
                return None
            if marker in _SOF_ALL:
                body = fp.read(length - 2)
                if len(body) < 6 or frame is not None:
                    return None
                precision, components = body[0], body[5]
                if components < 1 or len(body) < 6 + 3 * components:
                    return None
                sampling = tuple(
                    (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F) for i in range(components)
                )
                if any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in sampling):
                    return None
                frame = (marker, precision, sampling)
            elif marker == _SOS:
                scan = fp.read(1)
                if frame is None or not scan:
                    return None
                return JpegFrame(frame[0], frame[1], frame[2], scan[0])
            else:
                fp.seek(length - 2, io.SEEK_CUR)
        return None
    finally:
        fp.seek(start)


def webp_canvas_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP file's first chunk header (VP8, VP8L or VP8X), None if absent.

    The same fields libwebp allocates its canvases from.
    """
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def jpeg_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The DCT scale denominator Pillow's ``draft`` picks for `target` (1, 2, 4 or 8)."""
    scale = min(size[0] // max(1, target[0]), size[1] // max(1, target[1]))
    return next(s for s in (8, 4, 2, 1) if scale >= s)


@dataclass(frozen=True)
class DecodeCost:
    """The estimated memory a decode adds to the baseline, and why."""

    format: str
    kind: str  # e.g. "progressive 4:4:4", "RGBA", "sequential"
    width: int
    height: int
    bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self, budget: int) -> str:
        return (
            f"{self.width}x{self.height} {self.kind} {self.format} needs about "
            f"{math.ceil(self.bytes / MiB)} MiB to decode; the budget is {budget // MiB} MiB"
        )


def _sampling_name(sampling: tuple[tuple[int, int], ...]) -> str:
    if len(sampling) == 1:
        return "greyscale"
    hmax = max(h for h, _ in sampling)
    vmax = max(v for _, v in sampling)
    if all((h, v) == (hmax, vmax) for h, v in sampling):
        return "4:4:4" if len(sampling) == 3 else f"{len(sampling)}-channel"
    return "subsampled"


def jpeg_cost(
    size: tuple[int, int], frame: JpegFrame, target: tuple[int, int], held_bytes: int = 0
) -> DecodeCost:
    """A JPEG decoded with DCT scaling to `target`: the scaled output, plus for multi-scan files
    libjpeg's whole-image coefficient buffer (sized per component, in whole MCUs)."""
    width, height = size
    scale = jpeg_scale(size, target)
    total = _ceil_div(width, scale) * _ceil_div(height, scale) * _JPEG_OUTPUT_BYTES_PER_PIXEL
    hmax = max(h for h, _ in frame.sampling)
    vmax = max(v for _, v in frame.sampling)
    if frame.multi_scan:
        for h, v in frame.sampling:
            # libjpeg: blocks of this component, rounded up to whole MCUs (jdcoefct.c).
            blocks_wide = _ceil_div(_ceil_div(width * h, hmax), 8)
            blocks_high = _ceil_div(_ceil_div(height * v, vmax), 8)
            total += (
                _ceil_div(blocks_wide, h) * h * _ceil_div(blocks_high, v) * v
            ) * _JPEG_COEFFICIENT_BYTES
        kind = ("progressive " if frame.progressive else "multi-scan ") + _sampling_name(
            frame.sampling
        )
    else:
        kind = "sequential"
    return DecodeCost("JPEG", kind, width, height, _FIXED_BYTES["JPEG"] + total + held_bytes)


def full_decode_cost(
    format: str, mode: str, size: tuple[int, int], held_bytes: int = 0
) -> DecodeCost:
    """PNG or GIF: decoded at full size in `mode` (Pillow's mode after the header)."""
    width, height = size
    per_pixel = _GIF_BYTES_PER_PIXEL if format == "GIF" else _STORAGE_BYTES.get(mode, 4)
    return DecodeCost(
        format, mode, width, height, _FIXED_BYTES[format] + width * height * per_pixel + held_bytes
    )


def webp_cost(size: tuple[int, int], file_bytes: int, held_bytes: int = 0) -> DecodeCost:
    """WebP through Pillow: 16 bytes per pixel, plus Pillow's in-memory copy of the file."""
    width, height = size
    total = width * height * _WEBP_BYTES_PER_PIXEL + file_bytes + held_bytes
    return DecodeCost("WEBP", "lossy or lossless", width, height, _FIXED_BYTES["WEBP"] + total)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
