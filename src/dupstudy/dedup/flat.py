"""Low-information ("flat") images: plain colours, whose perceptual hashes hold no picture.

A perceptual hash encodes how brightness varies across the image. An image that does not vary gets
the same code whatever its colour (phash: every AC coefficient is 0), so every plain image is
0 bits from every other, and a plain red, a plain white and a blank scan would all be one group.

Rule: an image is flat when the standard deviation of its grey levels (0-255, the grey image the
hashes read) is below dedup.flat_std (schema default 2). Measured on 64x64 images: plain colours,
also JPEG-compressed, sit at 0 and all collide; plain colours with noise of std 0.5 or more, and
gradients of std 0.6 or more, already get codes that no longer collide by chance, so the default
only catches images with nothing to see. 0 turns the rule off.

A pair that a hash or the embedding found (near, flip_rot, semantic) in which either image is flat
gets kind `flat`: listed in the pairs, never grouped or removed, never leakage or a label
conflict. Exact copies of a flat image (same bytes or same pixels) keep their exact kinds and are
grouped as usual, and a person's `duplicate` decision on a flat pair makes it `manual`, grouped.
"""

from __future__ import annotations

import numpy as np

from .hashing import to_grey

KIND = "flat"
RELABELLED = ("near", "flip_rot", "semantic")  # found by similarity, which a flat image cannot show
BATCH_BYTES = 16 << 20  # pixels read at once (their grey copy takes 4/3 of that again)


def low_information(images: np.ndarray, max_std: float) -> np.ndarray:
    """One bool per image of uint8 (N, H, W[, C]): grey-level standard deviation below max_std."""
    out = np.zeros(len(images), bool)
    if max_std <= 0 or not len(images):
        return out
    batch = max(1, BATCH_BYTES // max(1, images[0].nbytes))
    for s in range(0, len(images), batch):
        grey = to_grey(np.asarray(images[s:s + batch]))
        out[s:s + batch] = grey.reshape(len(grey), -1).std(axis=1, dtype=np.float64) < max_std
    return out


def relabel(rank: np.ndarray, a: np.ndarray, b: np.ndarray, is_flat: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """The kinds (indices into `kinds`) with every similarity pair that touches a flat image made flat."""
    similar = np.isin(rank, [kinds.index(k) for k in RELABELLED if k in kinds])
    return np.where(similar & (is_flat[a] | is_flat[b]), kinds.index(KIND), rank)
