"""Batched perceptual hashes, bit-identical to the `imagehash` package.

imagehash works one PIL image at a time: convert('L'), resize with LANCZOS, then a few
numpy/scipy operations. Here the same steps run on a whole batch (N, H, W, C) at once:

* RGB -> L uses Pillow's fixed-point formula (ITU-R 601-2, 16-bit weights, +0x8000).
* The LANCZOS resize re-implements Pillow's Resample.c: per-axis coefficients computed in
  double exactly as Pillow does, rounded to 22-bit fixed point, one pass per axis with the
  intermediate clipped to uint8. Pillow 13 picks which pass runs first by the shape; that
  order is learned once per shape from the installed Pillow (see _pass_order). The integer
  sums are applied as float64 matrix products; every partial sum is an integer below 2**53,
  so BLAS gives exact results.
* phash/whash call scipy.fftpack.dct / pywt on the batch along the image axes, which
  computes each line with the same code as a per-image call.

Codes are packed with np.packbits over the row-major bit array, which is the order of
`str(imagehash.ImageHash)`: `codes[i].tobytes().hex() == str(imagehash.phash(img))`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

METHODS = ("phash", "dhash", "ahash", "whash")
# The 8 symmetries of the square, applied to the image before hashing (see _transform).
TRANSFORMS = ("identity", "rot90", "rot180", "rot270", "flip", "flip_rot90", "flip_rot180", "flip_rot270")

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_LANCZOS_SUPPORT = 3.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x  # math.sin = libm sin, as in Pillow's C code


def _lanczos(x: float) -> float:
    if -3.0 <= x < 3.0:
        return _sinc(x) * _sinc(x / 3)
    return 0.0


@lru_cache(maxsize=256)
def _resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) float64 matrix of Pillow's fixed-point LANCZOS weights.

    Mirrors precompute_coeffs + normalize_coeffs_8bpc (Pillow Resample.c) step by step,
    in the same double arithmetic order, so the integer weights match exactly.
    """
    scale = float(in_size) / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ss = 1.0 / filterscale
    m = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [_lanczos((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = 0.0
        for v in w:
            ww += v
        if ww != 0.0:
            w = [v / ww for v in w]
        one = 1 << _PRECISION_BITS
        m[xx, xmin:xmin + xmax] = [int(-0.5 + v * one) if v < 0 else int(0.5 + v * one) for v in w]
    m.flags.writeable = False
    return m


def _apply(acc: np.ndarray) -> np.ndarray:
    """Pillow's rounding: ss = 2**21 + sum(pixel * k); clip8(ss) = (ss >> 22) clipped to 0..255.

    Done in place; scaling by a power of two is exact in float64.
    """
    acc += 1 << (_PRECISION_BITS - 1)
    acc *= 1.0 / (1 << _PRECISION_BITS)
    np.floor(acc, out=acc)
    return np.clip(acc, 0, 255, out=acc)


def _pass(x: np.ndarray, size: int, axis: str) -> np.ndarray:
    """One resize pass over a batch (N, H, W) as a single large GEMM (fast, and exact, see _apply)."""
    n, h, w = x.shape
    if axis == "h":
        return _apply(x.reshape(n * h, w) @ _resize_matrix(w, size).T).reshape(n, h, size)
    xt = np.ascontiguousarray(x.transpose(0, 2, 1)).reshape(n * w, h)
    return _apply(xt @ _resize_matrix(h, size).T).reshape(n, w, size).transpose(0, 2, 1)


@lru_cache(maxsize=256)
def _pass_order(h: int, w: int, height: int, width: int) -> str:
    """Which pass Pillow runs first for this resize: 'hv', 'vh', or 'pil' (neither matched).

    Pillow < 13 always ran the horizontal pass first; Pillow 13 (PR #9549) runs the vertical
    pass first when the height shrinks much more than the width. The intermediate image is
    rounded to uint8, so the order changes results. Rather than copy a version-specific rule,
    ask the installed Pillow once per shape with random probe images.
    """
    from PIL import Image

    rng = np.random.default_rng(h * 7919 + w * 104729 + height * 31 + width)
    orders = {"hv", "vh"}
    for _ in range(8):
        probe = rng.integers(0, 256, size=(1, h, w), dtype=np.uint8)
        ref = np.asarray(Image.fromarray(probe[0]).resize((width, height), Image.Resampling.LANCZOS))
        orders = {o for o in orders if np.array_equal(_resize(probe, width, height, o)[0], ref)}
        if len(orders) <= 1:
            break
    return min(orders) if orders else "pil"  # 'hv' when both orders agree on every probe


def _resize(x: np.ndarray, width: int, height: int, order: str) -> np.ndarray:
    x = x.astype(np.float64)
    for axis in order:
        size = width if axis == "h" else height
        if size != x.shape[-1 if axis == "h" else -2]:  # Pillow skips a pass whose size does not change
            x = _pass(x, size, axis)
    return x


def resize_lanczos(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pillow-exact `Image.resize((width, height), LANCZOS)` of a batch of 'L' images.

    grey: uint8 (N, H, W). Returns float64 (N, height, width) holding integers 0..255.
    """
    _, h, w = grey.shape
    order = _pass_order(h, w, height, width) if (h != height and w != width) else "hv"
    if order == "pil":  # unknown Pillow behaviour: fall back to Pillow itself, image by image
        from PIL import Image

        return np.stack([np.asarray(Image.fromarray(g).resize((width, height), Image.Resampling.LANCZOS))
                         for g in grey]).astype(np.float64)
    return _resize(grey, width, height, order)


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) or (N, H, W) -> uint8 (N, H, W), as PIL's convert('L')."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images.astype(np.uint8, copy=False)
    if images.shape[-1] == 1:
        return images[..., 0]
    if images.shape[-1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[-1]}")
    # Pillow: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. Every partial sum is an integer
    # below 2**24, so a float32 dot product is exact (and much faster than uint32 arithmetic).
    lum = images.astype(np.float32) @ np.array([19595, 38470, 7471], np.float32)
    lum += 0x8000
    lum *= 1.0 / 65536
    return np.floor(lum, out=lum).astype(np.uint8)


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits.reshape(len(bits), -1), axis=1)


def _median_bits(block: np.ndarray) -> np.ndarray:
    """Bits 'coefficient > median of its own block', per image (imagehash's rule)."""
    flat = block.reshape(len(block), -1)
    med = np.median(flat, axis=1)
    return flat > med[:, None]


def _phash(grey, hash_size, highfreq_factor=4):
    import scipy.fftpack

    size = hash_size * highfreq_factor
    px = resize_lanczos(grey, size, size)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=1), axis=2)
    return _median_bits(dct[:, :hash_size, :hash_size])


def _dhash(grey, hash_size):
    px = resize_lanczos(grey, hash_size + 1, hash_size)
    return px[:, :, 1:] > px[:, :, :-1]


def _ahash(grey, hash_size):
    px = resize_lanczos(grey, hash_size, hash_size)
    # numpy.mean of the uint8 image: the sum is an exact integer, so this matches
    return px > px.reshape(len(px), -1).mean(axis=1)[:, None, None]


def _whash(grey, hash_size):
    import pywt

    if hash_size & (hash_size - 1):
        raise ValueError("whash needs a power-of-2 hash_size")
    # imagehash: image_scale = max(2**int(log2(min(w, h))), hash_size)
    scale = max(2 ** int(np.log2(min(grey.shape[1:]))), hash_size)
    ll_max_level = int(np.log2(scale))
    dwt_level = ll_max_level - int(np.log2(hash_size))
    px = resize_lanczos(grey, scale, scale) / 255.0
    coeffs = list(pywt.wavedec2(px, "haar", level=ll_max_level, axes=(-2, -1)))
    coeffs[0] *= 0  # remove_max_haar_ll=True
    px = pywt.waverec2(coeffs, "haar", axes=(-2, -1))
    low = pywt.wavedec2(px, "haar", level=dwt_level, axes=(-2, -1))[0]
    return _median_bits(low)


_FUNCS = {"phash": _phash, "dhash": _dhash, "ahash": _ahash, "whash": _whash}


def nbytes(hash_size: int) -> int:
    return hash_size * hash_size // 8


def hash_grey(grey: np.ndarray, method: str = "phash", hash_size: int = 8) -> np.ndarray:
    """Hash a batch of 'L' images uint8 (N, H, W) -> packed uint8 codes (N, hash_size**2/8)."""
    if method not in _FUNCS:
        raise ValueError(f"unknown hash method {method!r}; expected one of {METHODS}")
    if hash_size < 2 or hash_size * hash_size % 8:
        raise ValueError(f"hash_size must give a whole number of bytes, got {hash_size}")
    if len(grey) == 0:
        return np.zeros((0, nbytes(hash_size)), np.uint8)
    return _pack(_FUNCS[method](grey, hash_size))


def _batches(n: int, batch: int, progress: bool, desc: str):
    starts = range(0, n, batch)
    if progress:
        from tqdm import tqdm

        return tqdm(starts, desc=desc, unit_scale=batch, disable=None)
    return starts


def hash_images(images: np.ndarray, method: str = "phash", hash_size: int = 8, batch: int = 4096,
                progress: bool = False) -> np.ndarray:
    """Perceptual hashes of uint8 images (N, H, W, C) or (N, H, W), in batches."""
    out = np.empty((len(images), nbytes(hash_size)), np.uint8)
    for s in _batches(len(images), batch, progress, f"{method} hashes"):
        out[s:s + batch] = hash_grey(to_grey(images[s:s + batch]), method, hash_size)
    return out


def phash(images, hash_size=8):
    return hash_images(images, "phash", hash_size)


def dhash(images, hash_size=8):
    return hash_images(images, "dhash", hash_size)


def ahash(images, hash_size=8):
    return hash_images(images, "ahash", hash_size)


def whash(images, hash_size=8):
    return hash_images(images, "whash", hash_size)


def _transform(grey: np.ndarray, t: int) -> np.ndarray:
    """TRANSFORMS[t] of a batch (N, H, W): t & 4 flips left-right, then rotate by 90 * (t % 4)."""
    if t & 4:
        grey = grey[:, :, ::-1]
    return np.rot90(grey, k=t % 4, axes=(1, 2))


def dihedral_codes(images: np.ndarray, method: str = "phash", hash_size: int = 8, batch: int = 4096,
                   progress: bool = False) -> np.ndarray:
    """Codes of the 8 flips/rotations of every image: uint8 (N, 8, nbytes), [:, 0] = identity.

    Each variant is hashed as an image in its own right (hash(T(image))), so a stored copy
    that is T(image) gets exactly the code in column t.
    """
    out = np.empty((len(images), len(TRANSFORMS), nbytes(hash_size)), np.uint8)
    for s in _batches(len(images), batch, progress, f"{method} x8 hashes"):
        grey = to_grey(images[s:s + batch])  # grey once: the transforms commute with it
        for t in range(len(TRANSFORMS)):
            out[s:s + batch, t] = hash_grey(np.ascontiguousarray(_transform(grey, t)), method, hash_size)
    return out


def to_hex(codes: np.ndarray) -> list[str]:
    """Hex strings as imagehash prints them."""
    return [row.tobytes().hex() for row in np.asarray(codes, np.uint8)]


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Bits set per uint8 element (np.bitwise_count needs numpy >= 2; pyproject allows 1.26)."""
    return np.bitwise_count(x) if hasattr(np, "bitwise_count") else _POPCOUNT8[x]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between packed codes (broadcasting over leading axes)."""
    return popcount(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int64)
