"""Uploaded images: recognised by their bytes, bounded before decoding, normalised for storage.

Nothing here trusts a filename, an extension or a Content-Type. The format comes from the file's
signature; the pixel count comes from the header, checked before any pixel is decoded (decompression
bombs); the decoded image has its EXIF orientation applied, its colour profile converted to sRGB, any
transparency flattened, and is re-encoded as a metadata-free JPEG.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

# Image kinds recognised only to say precisely why they are refused (415 rather than 400).
_OTHER_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"), (b"8BPS", "PSD"),
)
_FLATTEN_ONTO = (24, 24, 24)
"""Transparent pixels become this dark neutral grey (backgrounds have no alpha)."""


@dataclass(frozen=True)
class IntakeLimits:
    """What an upload may be."""

    max_bytes: int = 15 * 1024 * 1024
    """Largest accepted upload, checked while the body streams in."""
    max_pixels: int = 40_000_000
    """Largest pixel count, read from the header before decoding."""
    min_side: int = 32
    """Smallest accepted width and height."""
    max_stored_side: int = 4096
    """Larger images are scaled down to fit this square before storing."""


class ImageRejected(ValueError):
    """An upload that cannot become a background; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class NormalisedImage:
    """A stored-ready image: JPEG bytes and the size of its pixels."""

    jpeg: bytes
    width: int
    height: int
    source_format: str


def sniff_format(head: bytes) -> str | None:
    """The accepted format named by the file's first bytes (``JPEG``, ``PNG``, ``WEBP``), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _unsupported_image_kind(head: bytes) -> str | None:
    for signature, kind in _OTHER_IMAGE_SIGNATURES:
        if head.startswith(signature):
            return kind
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"avif", b"mif1", b"msf1"):
        return "HEIF/AVIF"
    text = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    return None


def check_format(data: bytes) -> str:
    """The upload's format, or ``ImageRejected`` (400 empty or not an image, 415 another image type)."""
    if not data:
        raise ImageRejected(400, "empty_file", "the uploaded file is empty")
    fmt = sniff_format(data[:16])
    if fmt is not None:
        return fmt
    other = _unsupported_image_kind(data[:1024])
    if other is not None:
        raise ImageRejected(415, "unsupported_type", f"{other} images are not accepted; upload JPEG, PNG or WebP")
    raise ImageRejected(400, "not_an_image", "the file is not a JPEG, PNG or WebP image")


def normalise(data: bytes, limits: IntakeLimits = IntakeLimits()) -> NormalisedImage:
    """Validate an upload's bytes and turn them into the stored JPEG; raises ``ImageRejected``."""
    fmt = check_format(data)
    if len(data) > limits.max_bytes:
        raise ImageRejected(413, "too_large", f"the file exceeds {limits.max_bytes} bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(413, "too_many_pixels",
                                f"the image declares more than {limits.max_pixels} pixels") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageRejected(400, "corrupt_image", f"the {fmt} header cannot be read: {error}") from None
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageRejected(413, "too_many_pixels",
                                f"{width}x{height} exceeds {limits.max_pixels} pixels")
        if min(width, height) < limits.min_side:
            raise ImageRejected(400, "too_small", f"{width}x{height} is smaller than "
                                f"{limits.min_side}x{limits.min_side}")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageRejected(400, "corrupt_image", f"the {fmt} data is corrupt or truncated: {error}") from None
    rgb = _to_srgb(image)
    rgb.thumbnail((limits.max_stored_side, limits.max_stored_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=92, subsampling=0)
    return NormalisedImage(out.getvalue(), rgb.width, rgb.height, fmt)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Upright, sRGB, opaque RGB pixels with no metadata."""
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):
        pass  # unreadable EXIF: keep the pixels as stored
    profile = image.info.get("icc_profile")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        flat = Image.new("RGB", image.size, _FLATTEN_ONTO)
        flat.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = flat
    elif image.mode == "CMYK" and not profile:
        image = image.convert("RGB")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken profile: keep the pixels uncorrected
    return image.convert("RGB")
