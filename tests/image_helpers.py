"""Images for the tests: smooth ones, so perceptual hashes of distinct images differ, and flat
PNGs of any size written row by row, so a huge canvas never exists in the test's memory."""

import struct
import zlib

import numpy as np
from PIL import Image


def smooth(rng, size=32):
    """A random 4x4 RGB image upscaled bicubically to size x size (uint8, HxWx3)."""
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


BYTES_PER_PIXEL = {(1, 0): 1 / 8, (8, 2): 3, (16, 0): 2}  # (bit depth, colour type): grey, RGB, 16-bit grey


def flat_png(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A black PNG with one white row in the middle: tiny on disk (30000x30000 1-bit is ~110 KB),
    width x height pixels once decoded."""
    z = zlib.compressobj(9)
    row_bytes = int(np.ceil(width * BYTES_PER_PIXEL[bit_depth, colour_type]))
    black, white = b"\0" * (1 + row_bytes), b"\0" + b"\xff" * row_bytes
    idat = b"".join(z.compress(white if y == height // 2 else black) for y in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
