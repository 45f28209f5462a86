"""Search, grouping and the engine on a small synthetic dataset with every kind of duplicate."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from dupstudy.datasets.prepared import from_arrays
from dupstudy.dedup import engine, grouping, hashing, search

SETTINGS = {"exact": True, "hash": "phash", "hash_size": 8, "threshold": 4, "dihedral": True, "remove": True,
            "aligned": False}  # the hash engine alone: tests/test_dedup_aligned.py covers alignment


def smooth(rng, size=32):
    small = rng.integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    big = np.stack([np.asarray(Image.fromarray(small[..., c]).resize((size, size), Image.Resampling.BICUBIC))
                    for c in range(3)], axis=-1)
    return np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)


def phash_dist(x, y):
    return int(hashing.hamming(*hashing.hash_images(np.stack([x, y]), "phash")))


def find_chain(rng):
    """X0 ~ X1 ~ X2 with X0 not~ X2 (threshold 4): blends of two unrelated pictures."""
    f, g = smooth(rng).astype(float), smooth(rng).astype(float)
    ts = np.linspace(0, 1, 41)
    frames = np.stack([np.clip((1 - t) * f + t * g, 0, 255).astype(np.uint8) for t in ts])
    codes = hashing.hash_images(frames, "phash")
    d = hashing.hamming(codes[:, None], codes[None])
    for i in range(len(ts)):
        for j in range(i + 1, len(ts)):
            if not 2 <= d[i, j] <= 4:
                continue
            for k in range(j + 1, len(ts)):
                if 2 <= d[j, k] <= 4 and d[i, k] > 4:
                    return frames[i], frames[j], frames[k]
    raise AssertionError("no chain found; change the seed")


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(1234)
    A, B, C, D, E, F, G = (smooth(rng) for _ in range(7))
    X0, X1, X2 = find_chain(rng)
    assert phash_dist(B, B[:, ::-1]) > 4  # the flip really needs the dihedral search
    rows = [  # (image, split, label)
        (A, "train", 0),                    # 0  exact file copy of 1 (lower resolution)
        (A, "train", 0),                    # 1  keeper: higher resolution in the manifest
        (B, "train", 1),                    # 2
        (np.ascontiguousarray(B[:, ::-1]), "train", 1),   # 3  flipped copy of 2
        (C, "train", 2),                    # 4
        (np.clip(C.astype(int) + 6, 0, 255).astype(np.uint8), "train", 2),  # 5 brightened: near
        (D, "train", 2),                    # 6
        (D, "test", 3),                     # 7  leaked into test, and with another label
        (E, "train", 0),                    # 8
        (E, "train", 1),                    # 9  same pixels, different label: conflict group
        (X0, "train", 3),                   # 10 chain head
        (X1, "train", 3),                   # 11
        (X2, "train", 3),                   # 12 only reachable through 11
        (F, "test", 0),                     # 13
        (G, "test", 1),                     # 14
        (G, "test", 1),                     # 15 within-test copy: pairs only
    ]
    images = np.stack([r[0] for r in rows])
    p = from_arrays("toy", ["c0", "c1", "c2", "c3"], images, np.array([r[2] for r in rows]),
                    [r[1] for r in rows], [f"img{i}" for i in range(len(rows))])
    p.manifest.loc[[0, 1], "file_sha256"] = "same-bytes"
    p.manifest.loc[1, ["width", "height"]] = 64
    return p


@pytest.fixture(scope="module")
def result(dataset):
    return engine.find_duplicates(dataset, SETTINGS)


def pair_kinds(result):
    return {(r.a, r.b): (r.kind, r.scope) for r in result.pairs.itertuples()}


def test_pairs_kinds_and_scopes(result):
    assert pair_kinds(result) == {
        (0, 1): ("exact_file", "train"),
        (2, 3): ("flip_rot", "train"),
        (4, 5): ("near", "train"),
        (6, 7): ("exact_pixels", "train_test"),
        (8, 9): ("exact_pixels", "train"),
        (10, 11): ("near", "train"),
        (11, 12): ("near", "train"),
        (14, 15): ("exact_pixels", "test"),
    }
    flip = result.pairs.set_index(["a", "b"]).loc[(2, 3)]
    assert flip["transform"] == "flip" and flip["distance"] == 0
    assert result.summary["pairs"]["near"]["train"] == 3
    assert result.summary["pairs"]["exact_pixels"]["test"] == 1
    assert result.summary["pairs_by_kind"] == {"exact_file": 1, "exact_pixels": 3, "flat": 0, "near": 3, "flip_rot": 1}
    assert result.summary["pairs_by_scope"] == {"train": 6, "test": 1, "train_test": 1}


def test_groups_keepers_and_kept_ids(result):
    groups = {g: sorted(df["id"]) for g, df in result.groups.groupby("group")}
    assert groups == {1: [0, 1], 2: [2, 3], 4: [4, 5], 8: [8, 9], 10: [10, 11]}  # 12 is not glued on
    keepers = sorted(result.groups.loc[result.groups["is_keeper"], "id"])
    assert keepers == [1, 2, 4, 8, 10]
    assert result.kept_train_ids.dtype == np.int64
    assert result.kept_train_ids.tolist() == [1, 2, 4, 6, 8, 9, 10, 12]
    assert result.summary["n_train_before"] == 12 and result.summary["n_train_after"] == 8


def test_leakage_and_conflicts(result):
    assert result.leakage[["test_id", "train_id", "kind"]].values.tolist() == [[7, 6, "exact_pixels"]]
    assert result.summary["n_leaked_test"] == 1
    assert sorted(zip(result.conflicts["a"], result.conflicts["b"], result.conflicts["scope"])) == [
        (6, 7, "train_test"), (8, 9, "train")]
    assert result.groups.set_index("id").loc[[8, 9], "label_conflict"].all()
    assert result.summary["n_conflict_groups"] == 1


def test_per_class(result):
    pc = result.per_class.set_index("class")
    assert pc["train_before"].tolist() == [3, 3, 3, 3]
    assert pc["removed"].tolist() == [1, 1, 1, 1]  # ids 0, 3, 5, 11
    assert (pc["train_after"] == pc["train_before"] - pc["removed"]).all()


def test_without_dihedral_or_removal(dataset):
    r = engine.find_duplicates(dataset, {**SETTINGS, "dihedral": False, "remove": False})
    assert (2, 3) not in pair_kinds(r)
    assert r.kept_train_ids.tolist() == dataset.split_ids("train").tolist()
    r2 = engine.find_duplicates(dataset, {**SETTINGS, "exact": False})
    assert pair_kinds(r2)[(0, 1)] == ("near", "train")  # same pixels, found by the hash alone


def test_save_load_roundtrip(result, tmp_path):
    out = tmp_path / "dedup"
    result.save(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "pairs.parquet", "groups.parquet", "kept_train_ids.npy", "leakage.parquet", "conflicts.parquet",
        "per_class.csv", "images.csv", "summary.json", "review.html", "review_sample.csv", ".dupstudy-output"])
    back = engine.load(out)
    np.testing.assert_array_equal(back.kept_train_ids, result.kept_train_ids)
    assert back.pairs.astype(str).equals(result.pairs.astype(str))
    assert back.summary["n_train_after"] == result.summary["n_train_after"]
    assert back.per_class["removed"].tolist() == result.per_class["removed"].tolist()
    pd.testing.assert_frame_equal(back.images, result.images)


def test_every_table_names_its_images_by_path(result, dataset):
    path = dict(zip(dataset.manifest["id"], dataset.manifest["source"]))
    both = {"a": "path_a", "b": "path_b"}
    for table, ids in [(result.pairs, both), (result.conflicts, both), (result.groups, {"id": "path"}),
                       (result.leakage, {"test_id": "test_path", "train_id": "train_path"})]:
        assert len(table)
        cols = list(table.columns)
        assert cols[cols.index(list(ids)[-1]) + 1:][:len(ids)] == list(ids.values())  # beside the ids
        for id_col, path_col in ids.items():
            assert table[path_col].tolist() == [path[i] for i in table[id_col]]
    assert result.leakage[["test_path", "train_path"]].values.tolist() == [["img7", "img6"]]
    assert list(result.images.columns) == ["id", "path", "split", "label", "class", "flat"]
    assert result.images.loc[9].tolist() == [9, "img9", "train", 1, "c1", False]


# ---------------------------------------------------------------- grouping

def test_chain_is_not_glued():
    keeper = grouping.group_pairs(3, np.array([0, 1]), np.array([1, 2]), np.arange(3))
    assert keeper.tolist() == [0, 0, 2]  # A keeps B; C is alone, not in A's group


def test_priority_order_policy():
    order = grouping.priority_order(
        width=[10, 20, 20, 20, 20], height=[10, 20, 20, 20, 20], file_size=[9, 100, 500, 300, 50],
        fmt=["png", "jpeg", "jpeg", "png", "png"], ids=[0, 1, 2, 3, 4])
    # resolution first; then lossless before lossy; larger file within a format; id last
    assert order.tolist() == [3, 4, 2, 1, 0]


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 30))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80))
    pairs = [(a, b) for a, b in pairs if a != b]
    order = draw(st.permutations(list(range(n))))
    return n, pairs, np.array(order, np.int64)


@hsettings(max_examples=200, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_grouping_properties(graph, rnd):
    n, pairs, order = graph
    a = np.array([p[0] for p in pairs], np.int64)
    b = np.array([p[1] for p in pairs], np.int64)
    keeper = grouping.group_pairs(n, a, b, order)
    edges = {frozenset(p) for p in pairs}
    assert keeper.shape == (n,)                               # every image in exactly one group
    for g in set(keeper.tolist()):
        assert keeper[g] == g                                 # the group id is its one keeper
    for i, k in enumerate(keeper.tolist()):
        assert k == i or frozenset((i, k)) in edges           # members are direct pairs of the keeper
    keepers = {i for i in range(n) if keeper[i] == i}
    assert not any(e <= keepers for e in edges)               # two keepers are never a pair
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    shuffled = [(q, p) if rnd.random() < 0.5 else (p, q) for p, q in shuffled]
    k2 = grouping.group_pairs(n, np.array([p[0] for p in shuffled], np.int64),
                              np.array([p[1] for p in shuffled], np.int64), order)
    assert k2.tolist() == keeper.tolist()                     # independent of pair order


# ---------------------------------------------------------------- search

def brute_pairs(codes, threshold):
    d = hashing.hamming(codes[:, None], codes[None])
    a, b = np.nonzero(np.triu(d <= threshold, 1))
    return set(zip(a.tolist(), b.tolist()))


@pytest.mark.parametrize("method", ["flat", "multihash", "auto"])
def test_search_matches_brute_force_on_clustered_codes(method):
    rng = np.random.default_rng(5)
    centres = rng.integers(0, 256, (60, 8), dtype=np.uint8)
    bits = np.unpackbits(centres[rng.integers(0, 60, 900)], axis=1)
    codes = np.packbits(bits ^ (rng.random(bits.shape) < 0.03), axis=1)
    for threshold in (0, 3, 4):
        p = search.self_pairs(codes, threshold, method=method, chunk=128)
        assert set(zip(p.a.tolist(), p.b.tolist())) == brute_pairs(codes, threshold)
        np.testing.assert_array_equal(p.distance, hashing.hamming(codes[p.a], codes[p.b]))


@pytest.mark.parametrize("layout", [(3, 21, 1), (2, 32, 2), (5, 12, 0)])
def test_multihash_with_flips_is_exact(monkeypatch, layout):
    rng = np.random.default_rng(15)
    centres = rng.integers(0, 256, (40, 8), dtype=np.uint8)
    bits = np.unpackbits(centres[rng.integers(0, 40, 600)], axis=1)
    codes = np.packbits(bits ^ (rng.random(bits.shape) < 0.04), axis=1)
    monkeypatch.setattr(search, "multihash_layout", lambda *a, **k: layout)
    p = search.self_pairs(codes, 4, method="multihash")
    assert set(zip(p.a.tolist(), p.b.tolist())) == brute_pairs(codes, 4)


def test_auto_layout_for_the_default_settings():
    assert search.multihash_layout(64, 4, 1_000_000) == (3, 21, 1)
    assert search.multihash_layout(64, 4, 50) is None  # tiny db: brute force is cheaper


def test_dihedral_search_keeps_min_distance_and_transform():
    rng = np.random.default_rng(6)
    variants = rng.integers(0, 256, (50, 8, 8), dtype=np.uint8)
    db = variants[:, 0].copy()
    db[7] = variants[3, 5]  # image 7 is transform 5 of image 3
    q, d, dist, t = search.dihedral_search(variants, db, 4)
    hits = {(qi, di): (h, ti) for qi, di, h, ti in zip(q.tolist(), d.tolist(), dist.tolist(), t.tolist())}
    assert hits[(3, 7)] == (0, 5)
    assert all(h <= 4 for h, _ in hits.values())


@pytest.mark.parametrize("method", ["flat", "multihash"])
def test_dihedral_search_matches_brute_force(method):
    """Every (query, db image) whose best transform is within the threshold, with that distance and
    the first transform giving it, exactly as the brute-force minimum over the 8 variants."""
    rng = np.random.default_rng(16)
    centres = rng.integers(0, 256, (25, 8), dtype=np.uint8)
    bits = np.unpackbits(centres[rng.integers(0, 25, (300, 8))], axis=-1)
    variants = np.packbits(bits ^ (rng.random(bits.shape) < 0.04), axis=-1)
    db = np.ascontiguousarray(variants[::-1, 0])
    dist = hashing.hamming(variants[:, :, None], db[None, None])  # (query, transform, db)
    best, first = dist.min(axis=1), dist.argmin(axis=1)
    expected = {(q, d): (int(best[q, d]), int(first[q, d])) for q, d in zip(*np.nonzero(best <= 4))}
    q, d, h, t = search.dihedral_search(variants, db, 4, method=method, chunk=64)
    assert {(a, b): (x, y) for a, b, x, y in zip(q.tolist(), d.tolist(), h.tolist(), t.tolist())} == expected
    assert len(expected) > 300 and set(first[best <= 4].tolist()) > {0}


def test_multihash_on_256_bit_codes_is_exact():
    rng = np.random.default_rng(17)
    centres = rng.integers(0, 256, (30, 32), dtype=np.uint8)
    bits = np.unpackbits(centres[rng.integers(0, 30, 400)], axis=1)
    codes = np.packbits(bits ^ (rng.random(bits.shape) < 0.01), axis=1)
    p = search.self_pairs(codes, 6, method="multihash")
    assert set(zip(p.a.tolist(), p.b.tolist())) == brute_pairs(codes, 6) and len(p) > 100


def test_scale_smoke_20k_codes_without_n_by_n():
    rng = np.random.default_rng(9)
    n = 20000
    codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    dup = rng.choice(n, 500, replace=False)
    codes[dup[:250]] = codes[dup[250:]]  # 250 planted exact pairs
    tracemalloc.start()
    for method in ("flat", "multihash"):
        p = search.self_pairs(codes, 4, method=method)
        keeper = grouping.group_pairs(n, p.a, p.b, np.arange(n))
        assert len(p) >= 250 and (keeper != np.arange(n)).sum() >= 250
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6  # an N x N bool matrix alone would be 400 MB


# ---------------------------------------------------------------- plain images

@pytest.fixture(scope="module")
def plain_dataset():
    """Plain colours beside real pictures: red twice (same pixels), blue, white under another label,
    black in test, and a grey with a faint wobble (std < 2: flat, though its hash no longer collides)."""
    rng = np.random.default_rng(77)
    A, B = smooth(rng), smooth(rng)

    def plain(rgb):
        return np.full((32, 32, 3), rgb, np.uint8)

    wobble = np.clip(plain((120, 120, 120)).astype(int) + rng.integers(-1, 2, (32, 32, 1)), 0, 255).astype(np.uint8)
    rows = [  # (image, split, label)
        (plain((200, 30, 30)), "train", 0),   # 0 red
        (plain((200, 30, 30)), "train", 0),   # 1 red again: exact pixels
        (plain((20, 40, 220)), "train", 0),   # 2 blue
        (plain((255, 255, 255)), "train", 1), # 3 white, another label
        (wobble, "train", 0),                 # 4 nearly plain grey
        (A, "train", 0),                      # 5
        (np.clip(A.astype(int) + 3, 0, 255).astype(np.uint8), "train", 0),  # 6 near copy of 5
        (B, "train", 1),                      # 7
        (plain((0, 0, 0)), "test", 0),        # 8 black, in test
    ]
    return from_arrays("plain", ["c0", "c1"], np.stack([r[0] for r in rows]), np.array([r[2] for r in rows]),
                       [r[1] for r in rows], [f"img{i}" for i in range(len(rows))])


def test_plain_images_pair_as_flat_and_stay_out_of_groups(plain_dataset):
    r = engine.find_duplicates(plain_dataset, SETTINGS)
    kinds = pair_kinds(r)
    plain = [0, 1, 2, 3, 8]
    assert kinds[(0, 1)] == ("exact_pixels", "train")       # same pixels: still a copy
    assert kinds[(5, 6)] == ("near", "train")
    others = {k: v for k, v in kinds.items() if k not in ((0, 1), (5, 6))}
    assert set(others) == {(a, b) for a in plain for b in plain if a < b} - {(0, 1)}
    assert {v[0] for v in others.values()} == {"flat"} and kinds[(2, 8)] == ("flat", "train_test")
    assert {g: sorted(df["id"]) for g, df in r.groups.groupby("group")} == {0: [0, 1], 5: [5, 6]}
    assert r.leakage.empty and r.conflicts.empty and r.summary["n_conflict_groups"] == 0
    assert r.summary["n_flat_images"] == 6 and r.summary["pairs_by_kind"]["flat"] == len(others)
    assert r.images["flat"].tolist() == [True] * 5 + [False] * 3 + [True]
    assert list(r.summary["pairs_by_kind"]) == ["exact_file", "exact_pixels", "flat", "near", "flip_rot"]


def test_without_the_flat_rule_plain_images_are_near_duplicates(plain_dataset):
    r = engine.find_duplicates(plain_dataset, {**SETTINGS, "flat_std": 0})
    assert pair_kinds(r)[(2, 3)] == ("near", "train") and r.summary["n_flat_images"] == 0
    assert len(r.leakage) == 4 and len(r.conflicts)  # black in test "leaked" from every plain train image


def test_a_duplicate_decision_on_a_flat_pair_groups_it(plain_dataset, tmp_path):
    dec = tmp_path / "decisions.csv"
    dec.write_text("a,b,decision\nimg2,img3,duplicate\n")
    r = engine.find_duplicates(plain_dataset, {**SETTINGS, "decisions": str(dec)})
    assert pair_kinds(r)[(2, 3)] == ("manual", "train") and r.summary["decisions"]["duplicate_confirmed"] == 1
    assert pair_kinds(r)[(0, 2)] == ("flat", "train")
    assert sorted(r.groups.loc[r.groups["group"] == r.groups.set_index("id").loc[2, "group"], "id"]) == [2, 3]


def test_low_information_reads_grey_and_colour_images():
    from dupstudy.dedup import flat

    grey = np.zeros((3, 8, 8, 1), np.uint8)
    grey[1, :4] = 255                        # half white: plenty to see
    grey[2] = np.arange(8, dtype=np.uint8)[:, None, None]  # a faint ramp, std 2.3
    assert flat.low_information(grey, 2.0).tolist() == [True, False, False]
    assert flat.low_information(grey, 3.0).tolist() == [True, False, True]
    assert not flat.low_information(grey, 0).any()
