"""Duplicate groups without chaining, and the keeper policy.

Rule (keeper-star grouping):
  1. Order the images by keeper priority (see `priority_order`).
  2. Walk that order. An image not yet assigned to a group becomes the KEEPER of a new
     group and claims every not-yet-assigned image that forms a pair with it directly
     (within the threshold of the keeper itself).
  3. An image reachable only through a chain (A~B, B~C, A not~C) is not claimed by A's
     group; it waits for its own turn and becomes a keeper or joins another keeper.

So every member is a direct pair of its keeper, each group has exactly one keeper, every
image is in exactly one group (singletons are their own keeper), and the result depends
only on the set of pairs and the priority order, not on the order the pairs arrive in.
Similarity chains cannot glue unrelated images together, unlike connected components.

Keeper priority (best first):
  1. highest resolution, width * height (as stored in the source);
  2. lossless formats before lossy ones (a PNG/BMP/array copy carries no compression loss);
  3. within one format, the largest file (least compressed). File sizes are never compared
     across formats: images are ordered by format name first, which is arbitrary but
     deterministic and only matters when copies of equal resolution come in different
     lossy (or different lossless) formats;
  4. the lowest id (first added).
"""

from __future__ import annotations

import numpy as np

LOSSY_FORMATS = frozenset({"jpeg", "jpg", "mpo", "webp", "avif", "heic", "heif"})


def priority_order(width, height, file_size, fmt, ids) -> np.ndarray:
    """Positions 0..n-1 sorted from the best keeper candidate to the worst."""
    width, height = np.asarray(width, np.int64), np.asarray(height, np.int64)
    fmt = np.asarray([str(f).lower() for f in fmt], dtype=object)
    lossy = np.array([f in LOSSY_FORMATS for f in fmt], dtype=np.int8)
    fmt_code = np.unique(fmt, return_inverse=True)[1] if len(fmt) else np.zeros(0, np.int64)
    # np.lexsort sorts by the LAST key first
    return np.lexsort((np.asarray(ids, np.int64), -np.asarray(file_size, np.int64), fmt_code, lossy,
                       -(width * height)))


def group_pairs(n: int, a: np.ndarray, b: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Keeper position for each of n nodes, given undirected pairs (a, b) and the priority order.

    keeper[i] == i marks a keeper (or a singleton). Linear in n + pairs; the Python loop only
    visits nodes that have at least one pair.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    keeper = np.full(n, -1, np.int64)
    if len(a):
        keep = a != b
        src = np.concatenate([a[keep], b[keep]])
        dst = np.concatenate([b[keep], a[keep]])
        by_src = np.argsort(src, kind="stable")
        src, dst = src[by_src], dst[by_src]
        starts = np.searchsorted(src, np.arange(n + 1))
        has_pair = np.zeros(n, bool)
        has_pair[src] = True
        for u in np.asarray(order, np.int64)[has_pair[order]].tolist():
            if keeper[u] != -1:
                continue  # already claimed by a better keeper
            keeper[u] = u
            nbrs = dst[starts[u]:starts[u + 1]]
            keeper[nbrs[keeper[nbrs] == -1]] = u
    alone = keeper == -1
    keeper[alone] = np.flatnonzero(alone)
    return keeper
