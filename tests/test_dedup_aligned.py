"""Aligned near-duplicates on real photographs: planted copies that are shifted (with new content
coming into the frame), re-cropped, rescaled, recoloured, recompressed or mirrored are found with
their transform; distinct parts of the same photos (the hardest negatives: same colours, same
textures) are not, nor are look-alikes whose detail agrees along one axis only (a horizon)."""

import io

import numpy as np
import pytest
from image_helpers import smooth
from PIL import Image, ImageEnhance
from scipy.fft import idctn
from sklearn.datasets import load_sample_images

from dupstudy.datasets.prepared import from_arrays
from dupstudy.dedup import aligned, engine
from dupstudy.params import section_defaults

TILE = 96     # pixels of the photo behind each 32-pixel image (so a 3-pixel shift is 9 here)
THRESHOLD = section_defaults("dedup")["aligned_threshold"]


def view(photo, top, left, size=TILE, out=32):
    """The photo's size x size (or size = (rows, columns)) window at (top, left), downsized to
    out x out like a thumbnail."""
    rows, cols = size if isinstance(size, tuple) else (size, size)
    crop = Image.fromarray(photo[top:top + rows, left:left + cols])
    return np.asarray(crop.resize((out, out), Image.Resampling.LANCZOS))


def jpeg(x, quality):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def gamma(x, g):
    return np.clip(255.0 * (x / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)


def saturate(x, factor):
    return np.asarray(ImageEnhance.Color(Image.fromarray(x)).enhance(factor))


COPIES = {  # name: (window offset and size in photo pixels relative to the source window, then a recolouring)
    "shift 3 px": (9, 0, TILE, None),
    "shift 2,4 px": (-6, 12, TILE, None),
    "shift 6 px": (0, -18, TILE, None),
    "re-crop 4 px (zoom 1.14)": (6, 6, TILE - 12, None),
    "zoom out 0.8": (-12, -12, TILE + 24, None),
    "gamma 0.7": (0, 0, TILE, lambda x: gamma(x, 0.7)),
    "saturation 1.5 + shift 1 px": (3, 0, TILE, lambda x: saturate(x, 1.5)),
    "JPEG q20 + shift 2 px": (0, 6, TILE, lambda x: jpeg(x, 20)),
    "mirror + shift 1 px": (0, 3, TILE, lambda x: np.ascontiguousarray(x[:, ::-1])),
    "re-crop 2 px, rows only (zoom 1.14 x 1)": (6, 0, (TILE - 12, TILE), None),
}


def dataset(name, images, split=None):
    n = len(images)
    split = np.full(n, "train") if split is None else split
    return from_arrays(name, ["photo"], images, np.zeros(n, np.int64), split, [f"{i}.png" for i in range(n)])


@pytest.fixture(scope="module")
def planted():
    """Distinct windows of the two photos, then one copy of each for every transform above."""
    images, sources, names = [], [], []
    for photo in load_sample_images().images:
        h, w = photo.shape[:2]
        for top in range(30, h - TILE - 30, TILE + 8):
            for left in range(30, w - TILE - 30, TILE + 8):
                images.append(view(photo, top, left))
                sources.append((photo, top, left))
    n_distinct = len(images)
    pairs = {}
    rng = np.random.default_rng(0)
    detailed = np.flatnonzero(~aligned.low_detail(np.stack(images)))  # sky has too little to align
    assert len(detailed) >= 12
    for name, (dy, dx, size, recolour) in COPIES.items():
        i = int(rng.choice(detailed))
        photo, top, left = sources[i]
        copy = view(photo, top + dy, left + dx, size)
        images.append(recolour(copy) if recolour else copy)
        pairs[name] = (i, len(images) - 1)
        names.append(name)
    return np.stack(images), n_distinct, pairs


def test_copies_found_and_distinct_windows_not(planted):
    images, n_distinct, pairs = planted
    assert n_distinct >= 24
    hits = aligned.find(images, THRESHOLD)
    found = set(zip(hits.a.tolist(), hits.b.tolist()))
    missed = [name for name, pair in pairs.items() if pair not in found]
    assert not missed, f"planted copies not found: {missed}"
    copy_ids = {b for _, b in pairs.values()}
    false = [(a, b) for a, b in found if a < n_distinct and b < n_distinct]
    assert not false, f"distinct windows reported as duplicates: {false}"
    # a copy matches nothing but its own source window
    source_of = {b: a for a, b in pairs.values()}
    stray = [(a, b) for a, b in found if b in copy_ids and source_of[b] != a and a not in copy_ids]
    assert not stray, f"copies matched to windows they were not made from: {stray}"


def test_the_transform_found_is_the_one_applied(planted):
    images, _, pairs = planted
    hits = aligned.find(images, THRESHOLD)
    by_pair = dict(zip(zip(hits.a.tolist(), hits.b.tolist()), aligned.describe_alignment(hits)))
    # "shift dy,dx": where b's frame sits relative to a's, in pixels of a 32-pixel frame
    assert by_pair[pairs["shift 3 px"]] == "shift 3,0"
    assert by_pair[pairs["shift 6 px"]] == "shift 0,-6"
    assert "mirror" in by_pair[pairs["mirror + shift 1 px"]]
    assert by_pair[pairs["re-crop 4 px (zoom 1.14)"]].startswith("zoom 1.1")
    assert by_pair[pairs["zoom out 0.8"]].startswith("zoom 0.8")
    assert by_pair[pairs["re-crop 2 px, rows only (zoom 1.14 x 1)"]].startswith("zoom 1.12,1.00")


def horizon(sky_left, water_top, water_left):
    """China's plain sky over a stretch of its lake, joined halfway down: a horizon and distant
    shores, like a ship or a plane on a plain background."""
    china = load_sample_images().images[0]
    sky = china[30:78, sky_left:sky_left + TILE]
    x = np.concatenate([sky, china[water_top:water_top + 48, water_left:water_left + TILE]])
    return np.asarray(Image.fromarray(x).resize((32, 32), Image.Resampling.LANCZOS))


def test_look_alikes_that_agree_along_one_axis_are_not_copies():
    """Four different lake views under one plain sky: their fine detail is mostly the horizon, so
    aligned it correlates (>= the threshold for most pairs, which the detail NCC alone took for
    copies); along the other axis it does not, and the pairs' scores stay below the threshold."""
    images = np.stack([horizon(*c) for c in [(440, 215, 340), (500, 215, 460), (460, 225, 400), (520, 230, 360)]])
    a, b = np.triu_indices(len(images), 1)
    scored = aligned.refine(images, aligned.best_per_pair(aligned.verify(images, aligned.hypotheses(a, b))))
    assert (scored.detail >= THRESHOLD).sum() >= 4
    assert (scored.decision < THRESHOLD).all(), scored.decision
    assert len(aligned.find(images, THRESHOLD)) == 0


def test_flat_images_are_left_to_the_flat_rule(planted):
    """Plain images have no detail to align: the engine leaves them out of alignment, and the
    pairs the hashes find among them stay kind flat."""
    plain = np.stack([np.full((32, 32, 3), v, np.uint8) for v in (0, 40, 41, 200)])
    images = np.concatenate([planted[0][:10], plain])
    data = dataset("plain", images)
    pairs = engine.find_duplicates(data, {"aligned": True}).pairs
    plain_pairs = pairs[(pairs["a"] >= 10) & (pairs["b"] >= 10)]
    assert len(plain_pairs) and set(plain_pairs["kind"]) == {"flat"}
    assert pairs.loc[pairs["b"] >= 10, "aligned_score"].isna().all()


def test_tiny_images_are_not_aligned():
    """8x8 sources have no detail left to align: the step is skipped, and the summary says why."""
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    assert aligned.too_small(tiny)
    assert len(aligned.find(np.concatenate([tiny, tiny[:, ::-1]]), THRESHOLD)) == 0
    data = dataset("tiny", tiny)
    summary = engine.find_duplicates(data, {"aligned": True}).summary
    assert "8x8" in summary["aligned_skipped"] and summary["pairs_by_kind"]["aligned"] == 0


def test_ncc_matches_brute_force():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 32, 32)).cumsum(1).cumsum(2)  # smooth, structured
    b = np.roll(a, (2, -5), (1, 2)) + rng.normal(scale=0.5, size=a.shape)
    score, dy, dx = aligned._ncc_all_shifts(a, b)
    for i in range(4):
        best = (-2.0, 0, 0)
        for ty in range(-aligned.MAX_SHIFT, aligned.MAX_SHIFT + 1):
            for tx in range(-aligned.MAX_SHIFT, aligned.MAX_SHIFT + 1):
                f = a[i, max(0, ty):32 + min(0, ty), max(0, tx):32 + min(0, tx)]
                m = b[i, max(0, -ty):32 - max(0, ty), max(0, -tx):32 - max(0, tx)]
                if f.size >= aligned.MIN_OVERLAP * 32 * 32:
                    best = max(best, (np.corrcoef(f.ravel(), m.ravel())[0, 1], ty, tx))
        assert score[i] == pytest.approx(best[0], abs=1e-4)
        assert (dy[i], dx[i]) == best[1:]


def test_engine_reports_aligned_kind_with_its_transform(planted):
    images, n_distinct, pairs = planted
    n = len(images)
    split = np.where(np.arange(n) % 3 == 0, "test", "train")
    data = dataset("photos", images, split)
    off = engine.find_duplicates(data, {"aligned": False})
    on = engine.find_duplicates(data, {})  # on by default
    assert "aligned" not in set(off.pairs["kind"]) and off.pairs["aligned_score"].isna().all()
    got = on.pairs.set_index(["a", "b"])
    for name, pair in pairs.items():
        row = got.loc[pair]
        assert row["aligned_score"] >= THRESHOLD, name
        assert row["kind"] in ("near", "flip_rot", "aligned"), name
        assert row["alignment"].startswith(("shift", "zoom")) or "mirror" in row["alignment"], name
    assert on.summary["pairs_by_kind"]["aligned"] >= 4   # the shifted and zoomed copies no hash finds
    assert on.summary["n_leaked_test"] >= off.summary["n_leaked_test"]


def test_turned_copies_are_checked_turned_back(planted):
    """The alignment models mirror images, not quarter turns: a copy turned by 90, 180 or 270
    degrees, which the hash finds under that turn, is aligned after turning it back, and stays
    flip_rot with its turn in the alignment."""
    images, n_distinct, _ = planted
    detailed = np.flatnonzero(~aligned.low_detail(images[:n_distinct]))[:3]
    turned = [np.rot90(images[i], k + 1) for k, i in enumerate(detailed)]
    mirrored = images[detailed[0]][:, ::-1]
    data = dataset("turned", np.concatenate([images[:n_distinct], np.stack(turned + [mirrored])]))
    got = engine.find_duplicates(data, {}).pairs.set_index(["a", "b"])
    for k, i in enumerate(detailed):
        row = got.loc[(int(i), n_distinct + k)]
        assert row["kind"] == "flip_rot" and row["aligned_score"] > 0.9, (k, row.to_dict())
        assert row["alignment"].startswith(("rot90, then", "rot180, then", "rot270, then")), row["alignment"]
    row = got.loc[(int(detailed[0]), n_distinct + 3)]
    assert row["kind"] == "flip_rot" and row["aligned_score"] > 0.9 and "mirror" in row["alignment"]


def test_turned_look_alikes_are_unaligned():
    """Two pictures on one smooth layout with different fine texture, one turned a quarter: the
    hash matches them under the turn; turned back, their detail differs, so the pair is listed
    `unaligned`, not removed."""
    rng = np.random.default_rng(1)
    base = smooth(rng).astype(float)
    c = [rng.normal(0, 12, (32, 32)) for _ in range(2)]
    for x in c:
        x[:8, :8] = 0  # frequencies a 64-bit pHash does not read
    a, b = (np.clip(base + idctn(x, norm="ortho")[..., None], 0, 255).astype(np.uint8) for x in c)
    images = np.stack([a, np.rot90(b)])
    off = engine.find_duplicates(dataset("turned", images), {"aligned": False}).pairs
    assert list(off["kind"]) == ["flip_rot"]
    on = engine.find_duplicates(dataset("turned", images), {}).pairs
    assert list(on["kind"]) == ["unaligned"] and on["alignment"].iloc[0].startswith("rot")


def test_hash_pairs_the_alignment_rejects_are_listed_not_removed():
    """Two different pictures on one layout (the same smooth light, different fine texture) hash
    alike; the alignment check sees their detail differ, so the pair is `unaligned`: listed with its
    score, never grouped. Without the check it is a near duplicate and one image is removed."""
    rng = np.random.default_rng(0)
    base = smooth(rng).astype(float)

    def texture():  # only frequencies a 64-bit pHash does not read (its 8 x 8 lowest DCT terms are 0)
        c = rng.normal(0, 12, (32, 32))
        c[:8, :8] = 0
        return idctn(c, norm="ortho")[..., None]

    images = np.stack([np.clip(base + texture(), 0, 255).astype(np.uint8) for _ in range(2)])
    off = engine.find_duplicates(dataset("layout", images), {"aligned": False}).pairs
    assert list(off["kind"]) == ["near"]
    on = engine.find_duplicates(dataset("layout", images), {"aligned": True})
    assert list(on.pairs["kind"]) == ["unaligned"] and on.pairs["aligned_score"].iloc[0] < THRESHOLD
    assert len(on.groups) == 0 and len(on.kept_train_ids) == 2


def test_images_without_detail_are_not_aligned():
    """Smooth renderings (no fine detail) correlate whatever they show: alignment leaves them out
    rather than call unrelated ones copies; their exact and hash pairs stand as they are."""
    rng = np.random.default_rng(0)
    pictures = np.stack([smooth(rng) for _ in range(8)])
    assert aligned.low_detail(pictures).all()
    assert len(aligned.verified(pictures)) == 0


def test_report_says_what_alignment_did():
    from dupstudy.report.sections import _aligned_sentence

    assert _aligned_sentence({"aligned": False}, {}) == ""
    skipped = _aligned_sentence({"aligned": True}, {"aligned_skipped": "images are 8x8 pixels; aligning needs 16"})
    assert "skipped: images are 8x8" in skipped
    assert "≥ 0.6" in _aligned_sentence({"aligned": True, "aligned_threshold": 0.6}, {})
