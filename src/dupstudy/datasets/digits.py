"""scikit-learn's 8x8 handwritten digits: ships with scikit-learn, so it needs no download."""

from __future__ import annotations

import numpy as np

from .prepared import Prepared, from_arrays


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> Prepared:
    """All 1797 digits as uint8 (N, 8, 8, 1), split into train/test stratified by class.

    Rows keep scikit-learn's order (id i is "digits:i"); only the split column depends on
    the seed, so the same seed always gives the same split.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    bunch = sk_load_digits()
    # Values are 0..16; round half up to 0..255 so that 16 -> 255 and 8 -> 128.
    images = np.floor(bunch.images * 255.0 / 16.0 + 0.5).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    ids = np.arange(len(labels))
    _, test_ids = train_test_split(ids, test_size=test_fraction, stratify=labels, random_state=split_seed)
    splits = np.full(len(labels), "train", dtype=object)
    splits[test_ids] = "test"
    return from_arrays(
        "digits", [str(c) for c in range(10)], images, labels, splits,
        sources=[f"digits:{i}" for i in ids], fmt="array",
        source={"name": "digits", "test_fraction": test_fraction, "split_seed": split_seed})
