"""One image file's bytes to pixels, within caps: its size from the header alone (scan_image),
and its decoded, upright RGB array at a given size (decode_image). Whatever is wrong with a
file becomes Unusable, whose message is the reason recorded in rejected.csv."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings

import numpy as np

from .prepared import pixel_md5

MAX_PIXELS = 1 << 24           # 16.8 M pixels (4096x4096) per image: Pillow holds 4 bytes a pixel and
#                                converting to RGB a second copy; a worker decoding one peaks near 250 MiB
ORIENTATION = 0x0112  # EXIF tag
EXTERNAL_FORMATS = ("EPS",)  # Pillow hands these to another program (Ghostscript) to decode


class Unusable(Exception):
    """A file that cannot be used; the message is its reason in rejected.csv."""


def scan_image(data: bytes) -> tuple[int, int]:
    """(width, height) of the image once turned upright, from its header alone; raises Unusable."""
    from PIL import Image

    with _opened(data) as im:
        # The base class reads EXIF from the header only (PNG's own getexif decodes the image).
        turned = Image.Image.getexif(im).get(ORIENTATION) in (5, 6, 7, 8)
        return im.size[::-1] if turned else im.size


def decode_image(data: bytes, size: tuple[int, int]) -> dict:
    """File bytes -> {"image": uint8 (H, W, 3) resized to `size` (w, h), width, height (before
    resizing, after EXIF orientation), format, file_size, file_sha256, pixel_md5}; raises Unusable."""
    from PIL import Image, ImageOps

    with _opened(data) as im:
        fmt = im.format or ""
        im.load()  # decode now, so truncated files fail here
        ImageOps.exif_transpose(im, in_place=True)
        rgb = to_rgb(im)
        width, height = rgb.size
        image = np.asarray(rgb if rgb.size == size else rgb.resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    return {"image": image, "width": width, "height": height, "format": fmt, "file_size": len(data),
            "file_sha256": hashlib.sha256(data).hexdigest(), "pixel_md5": pixel_md5(image)}


@contextlib.contextmanager
def _opened(data: bytes):
    """The image Pillow opens from `data`, within the pixel cap; any failure becomes Unusable."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise Unusable("empty file (0 bytes)")
    try:
        with _pillow_limits(), Image.open(io.BytesIO(data)) as im:
            if im.format in EXTERNAL_FORMATS:
                raise Unusable(f"{im.format} is not decoded: Pillow would run an outside program (Ghostscript)")
            yield im
    except Unusable:
        raise
    except Image.DecompressionBombError as err:  # names the size and the cap
        raise Unusable(f"image too large: {err}") from None
    except UnidentifiedImageError:
        raise Unusable("not an image Pillow can read") from None
    except Exception as err:  # noqa: BLE001 - Pillow raises many types for a bad file: record it, go on
        raise Unusable(f"corrupt or truncated image: {type(err).__name__}: {err}") from None


@contextlib.contextmanager
def _pillow_limits():
    """Make truncated files fail even if some other code told Pillow to accept them, and refuse
    images past MAX_PIXELS before they are decoded, including ones nested in another (an icon's
    PNG): Pillow raises past twice its MAX_IMAGE_PIXELS, and only warns below."""
    from PIL import Image, ImageFile

    saved = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = False, MAX_PIXELS // 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = saved


def to_rgb(im):
    """Any Pillow mode -> 8-bit RGB; transparency is composited on white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG opens as I;16 or I): 0..65535 to 0..255, rounded; convert() would clip.
        # (x + 128) // 257 rounds x / 257 to the nearest integer (no ties), in 4 bytes a pixel.
        grey = np.array(im, dtype=np.int32)
        np.clip(grey, 0, 65535, out=grey)
        grey += 128
        grey //= 257
        return Image.fromarray(grey.astype(np.uint8)).convert("RGB")
    if "transparency" in im.info or im.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")
