"""Image files made per test: valid uploads of each accepted format, and the hostile ones."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image


def photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A smooth colourful RGB image (compresses like a photo, not like noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6.28, 3)
    channels = [127 + 120 * np.sin(x / (17 + 9 * i) + y / (23 + 5 * i) + phase[i]) for i in range(3)]
    return Image.fromarray(np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` saved in ``fmt`` (JPEG, PNG, WEBP)."""
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    """A JPEG whose EXIF says how to turn it (6: rotate 90 degrees clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(photo(width, height), "JPEG", exif=exif.tobytes())


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG declaring a huge image: IHDR says width x height, the data is a few compressed zeros."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def zip_file() -> bytes:
    """A zip archive holding a JPEG (still not an image)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", encode(photo(), "JPEG"))
    return out.getvalue()


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">' \
      b'<rect width="640" height="480" fill="green"/></svg>'
