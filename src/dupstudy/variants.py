"""Duplicated variants of the deduplicated training set.

D-rate r = added copies / N, where N is the size of the deduplicated training set.
  additive (the paper's protocol): all N samples plus round(r*N) copies; size N(1+r).
  fixed: size stays N; round(r*N) slots are copies of the N - round(r*N) unique samples
         kept, so unique content shrinks as r grows.
Schemes say where copies come from:
  uniform: every sample equally likely.
  biased:  a share `favoured_share` of the copies comes from `favoured_classes`, the
           rest from the other classes, uniformly within each side.
A variant is an int64 index array into the prepared dataset (repeats = copies), sorted.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("uniform", "biased")
PROTOCOLS = ("additive", "fixed")


def make_variant(train_ids: np.ndarray, labels: np.ndarray, *, scheme: str, rate: float, protocol: str,
                 seed: int, favoured_classes=(1,), favoured_share: float = 0.7) -> np.ndarray:
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
    else:
        copies = _biased_copies(rng, base, labels, n_copies, favoured_classes, favoured_share)
    return np.sort(np.concatenate([base, copies])).astype(np.int64)


def _biased_copies(rng, base, labels, n_copies, favoured_classes, favoured_share):
    favoured = np.isin(labels[base], np.asarray(favoured_classes))
    pools = base[favoured], base[~favoured]
    if n_copies and (len(pools[0]) == 0 or len(pools[1]) == 0):
        raise ValueError(f"biased duplication needs samples inside and outside favoured classes {list(favoured_classes)}")
    n_fav = int(round(favoured_share * n_copies))
    return np.concatenate([rng.choice(pools[0], size=n_fav, replace=True),
                           rng.choice(pools[1], size=n_copies - n_fav, replace=True)])


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
    }
