"""Duplicated variants of the deduplicated training set.

D-rate r = added copies / N, where N is the size of the deduplicated training set.
  additive (the paper's protocol): all N samples plus round(r*N) copies; size N(1+r).
  fixed: size stays N; round(r*N) slots are copies of the N - round(r*N) unique samples
         kept, so unique content shrinks as r grows.
Schemes say where copies come from:
  uniform: every sample equally likely.
  biased:  a share `favoured_share` of the copies comes from `favoured_classes`, the
           rest from the other classes, uniformly within each side; or, with
           `class_shares` (one weight per class), class c gets that share of the copies.
  concentrated: a few samples copied many times. round(sources * N) samples (at least
           one) are drawn; copy counts over them follow Zipf weights rank^-exponent
           (exponent 0: equal counts), rounded exactly to the total by largest remainders.
A variant is an int64 index array into the prepared dataset (repeats = copies), sorted.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("uniform", "biased", "concentrated")
PROTOCOLS = ("additive", "fixed")


def make_variant(train_ids: np.ndarray, labels: np.ndarray, *, scheme: str, rate: float, protocol: str,
                 seed: int, favoured_classes=(1,), favoured_share: float = 0.7, class_shares=None,
                 sources: float = 0.01, exponent: float = 1.0) -> np.ndarray:
    """Index array of one variant. `labels` is indexed by dataset id."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}")
    if not 0 <= rate <= 1 or (protocol == "fixed" and rate >= 1):
        raise ValueError(f"rate {rate} outside the {protocol} protocol's range")
    train_ids = np.sort(np.asarray(train_ids, dtype=np.int64))
    rng = np.random.default_rng(seed)
    n_copies = int(round(rate * len(train_ids)))
    if protocol == "fixed":
        if n_copies and n_copies >= len(train_ids):
            raise ValueError(f"rate {rate} leaves no unique samples out of {len(train_ids)} (fixed protocol)")
        base = np.sort(rng.choice(train_ids, size=len(train_ids) - n_copies, replace=False))
    else:
        base = train_ids
    if scheme == "uniform":
        copies = rng.choice(base, size=n_copies, replace=True)
    elif scheme == "concentrated":
        copies = _concentrated_copies(rng, base, n_copies, sources, exponent)
    elif class_shares is not None:
        copies = _class_share_copies(rng, base, labels, n_copies, class_shares)
    else:
        copies = _biased_copies(rng, base, labels, n_copies, favoured_classes, favoured_share)
    return np.sort(np.concatenate([base, copies])).astype(np.int64)


def _biased_copies(rng, base, labels, n_copies, favoured_classes, favoured_share):
    favoured = np.isin(labels[base], np.asarray(favoured_classes))
    pools = base[favoured], base[~favoured]
    if n_copies and (len(pools[0]) == 0 or len(pools[1]) == 0):
        raise ValueError("biased duplication needs samples inside and outside favoured classes "
                         f"{list(favoured_classes)}")
    n_fav = int(round(favoured_share * n_copies))
    return np.concatenate([rng.choice(pools[0], size=n_fav, replace=True),
                           rng.choice(pools[1], size=n_copies - n_fav, replace=True)])


def _largest_remainder(weights, total: int) -> np.ndarray:
    """Integer counts proportional to weights that sum exactly to total."""
    w = np.asarray(weights, dtype=float)
    raw = w / w.sum() * total
    counts = np.floor(raw).astype(np.int64)
    short = total - counts.sum()
    # Ties go to the lower index, so the split is deterministic.
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def _class_share_copies(rng, base, labels, n_copies, class_shares):
    shares = np.asarray(class_shares, dtype=float)
    if shares.ndim != 1 or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"variants.biased.class_shares must be non-negative weights, got {list(class_shares)}")
    base_labels = labels[base]
    if base_labels.max(initial=0) >= len(shares):
        raise ValueError(f"variants.biased.class_shares has {len(shares)} weights but the data has class "
                         f"{int(base_labels.max())}: give one weight per class")
    counts = _largest_remainder(shares, n_copies)
    parts = []
    for c, k in enumerate(counts):
        pool = base[base_labels == c]
        if k and not len(pool):
            raise ValueError(f"class_shares gives class {c} copies but it has no samples in the training set")
        parts.append(rng.choice(pool, size=k, replace=True) if k else pool[:0])
    return np.concatenate(parts)


def _concentrated_copies(rng, base, n_copies, sources, exponent):
    if not 0 < sources <= 1:
        raise ValueError(f"variants.concentrated.sources must be in (0, 1], got {sources}")
    k = max(1, int(round(sources * len(base))))
    chosen = rng.choice(base, size=k, replace=False)
    counts = _largest_remainder(np.arange(1, k + 1, dtype=float) ** -float(exponent), n_copies)
    return np.repeat(chosen, counts)


def describe(variant: np.ndarray, labels: np.ndarray, favoured_classes=(1,)) -> dict:
    """Size, unique content and where the copies landed (the paper's D-ratio)."""
    ids, counts = np.unique(variant, return_counts=True)
    extra = np.repeat(ids, counts - 1)
    n_copies = len(extra)
    fav = np.isin(labels[extra], np.asarray(favoured_classes)).sum() if n_copies else 0
    return {
        "n_train": int(len(variant)),
        "n_unique": int(len(ids)),
        "n_copies": int(n_copies),
        "copies_share_favoured": float(fav / n_copies) if n_copies else float("nan"),
        "class_counts": np.bincount(labels[variant]).tolist(),
        "max_copies": int(counts.max() - 1) if len(counts) else 0,
    }
