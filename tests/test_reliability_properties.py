"""Property: on any dataset, the dedup engine's accounting adds up.

tests/test_dedup_engine.py checks the grouping graph on random pair lists; this checks the whole
engine on random datasets full of exact copies, with random labels and splits: every training
image is kept or removed as the copy of a kept keeper with its label, and leakage pairs join test
to train.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dupstudy.datasets.prepared import from_arrays
from dupstudy.dedup import find_duplicates


@st.composite
def datasets(draw):
    n_protos = draw(st.integers(1, 6))
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (n_protos, 8, 8, 3), np.uint8)
    pick = np.array(draw(st.lists(st.integers(0, n_protos - 1), min_size=n, max_size=n)))
    labels = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    splits = draw(st.lists(st.sampled_from(["train", "test"]), min_size=n, max_size=n))
    if "train" not in splits:
        splits[0] = "train"
    images = protos[pick].copy()
    return from_arrays("prop", ["a", "b", "c"], images, labels, splits, [f"x/{i}" for i in range(n)]), pick


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(datasets(), st.booleans())
def test_every_train_image_is_kept_or_a_removed_copy(data, dihedral):
    p, pick = data
    r = find_duplicates(p, {"exact": True, "hash": "phash", "hash_size": 8, "threshold": 4, "dihedral": dihedral,
                            "remove": True})
    train = set(p.split_ids("train").tolist())
    test = set(p.split_ids("test").tolist())
    kept = r.kept_train_ids.tolist()
    assert kept == sorted(set(kept)) and set(kept) <= train
    removed = train - set(kept)
    s = r.summary
    assert s["n_train_before"] == len(train) and s["n_train_after"] == len(kept) and s["n_removed"] == len(removed)

    g = r.groups.set_index("id")
    train_pairs = {frozenset(ab) for ab in r.pairs.loc[r.pairs["scope"] == "train", ["a", "b"]].to_numpy().tolist()}
    for i in removed:
        keeper = int(g.loc[i, "group"])
        assert keeper in kept and keeper != i
        assert p.labels[i] == p.labels[keeper] and not g.loc[i, "label_conflict"]
        assert frozenset((i, keeper)) in train_pairs
    # Exact copies with one label never both survive, unless their group is label noise.
    for a in kept:
        for b in kept:
            if a < b and pick[a] == pick[b] and p.labels[a] == p.labels[b]:
                assert g.loc[a, "label_conflict"] or g.loc[b, "label_conflict"], (a, b)
    # Leakage joins a test image to a train image it copies.
    for t, tr in r.leakage[["test_id", "train_id"]].to_numpy().tolist():
        assert t in test and tr in train
    leaked = {t for t in test if any(pick[t] == pick[i] for i in train)}
    assert set(r.leakage["test_id"].tolist()) >= leaked
