"""Images for the dedup tests: smooth, so perceptual hashes of distinct images differ."""

import numpy as np
from PIL import Image


def smooth(rng, size=32):
    """A random 4x4 RGB image upscaled bicubically to size x size (uint8, HxWx3)."""
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))
