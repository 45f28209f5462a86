"""Pairs a perceptual hash matched under quarter turns: which way b lies on a, and their check.

The alignment (aligned.py) models mirror images, zooms and shifts, not quarter turns: a copy
turned by 90 degrees would score as an unrelated image. So b is first turned onto a, in the
direction its pixels say (a hash search takes the best transform over both directions), and the
pair is then aligned as any other. The review page lays B onto A the same way.
"""

from __future__ import annotations

import numpy as np

from . import aligned


def placement(images: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each pair, the index into hashing.TRANSFORMS of the flip and quarter turns (np.rot90's
    sense: left-right flip first, then turns anticlockwise) that lay b best onto a: the least mean
    absolute grey difference. A hash search takes its best transform over both directions, so its
    own transform does not say which way. Non-square images are only flipped or not."""
    if not len(a):
        return np.zeros(0, np.int64)
    x = np.asarray(images)
    square = x.shape[1] == x.shape[2]
    ids = np.union1d(a, b)
    flat = aligned.grey_planes(x[ids]) if square else x[ids].reshape(len(ids), *x.shape[1:3], -1).mean(-1)
    grey = dict(zip(ids.tolist(), flat))
    out = np.zeros(len(a), np.int64)
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        cost = [np.abs(turn(grey[j], t) - grey[i]).mean() for t in (range(8) if square else (0, 4))]
        out[k] = int(np.argmin(cost)) if square else 4 * int(np.argmin(cost))
    return out


def turn(image: np.ndarray, t: int) -> np.ndarray:
    """hashing.TRANSFORMS[t] of one image (H, W[, C]): flip left-right if t & 4, then t % 4 turns."""
    return np.ascontiguousarray(np.rot90(image[:, ::-1] if t & 4 else image, t % 4))


def verify_turned(images: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[aligned.Matches, np.ndarray]:
    """Pairs a hash matched under quarter turns (square images): b is turned onto a (placement),
    then the pair is aligned and scored as any other under every hypothesis. Returns the scored
    pairs, ids as given and sorted by (a, b), and each pair's turn."""
    t = placement(images, a, b)
    m = len(a)
    small = np.stack([images[i] for i in a] + [turn(images[j], tt) for j, tt in zip(b, t)])
    tried = aligned.verify(small, aligned.hypotheses(np.arange(m), m + np.arange(m)))
    scored = aligned.refine(small, aligned.best_per_pair(tried))
    k = scored.a  # row k of the small stack is pair k
    fields = {f: getattr(scored, f) for f in aligned.Matches.__dataclass_fields__}
    scored = aligned.Matches(**{**fields, "a": np.asarray(a)[k], "b": np.asarray(b)[k]})
    return scored, t[k]
