"""Human review: decisions file applied by later runs, labelled sample and precision (the page: test_review_page.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from image_helpers import smooth
from PIL import Image
from test_dedup_engine import SETTINGS, dataset, pair_kinds, result  # noqa: F401  (module fixtures)

from dupstudy import stats
from dupstudy.dedup import engine, review

BIN = Path(sys.executable).parent


def test_bands():
    assert review.band_of("near", 0) == "0 bits"
    assert review.band_of("near", 4) == "3-4 bits"
    assert review.band_of("semantic", 20, 0.96) == "cosine 0.95-0.97"
    assert review.band_of("semantic", 20, 0.995) == "cosine 0.99-1.00"


def write_decisions(tmp_path, lines):
    p = tmp_path / "decisions.csv"
    p.write_text("a,b,decision\n" + "".join(line + "\n" for line in lines))
    return str(p)


def test_decisions_keep_both_and_duplicate_change_the_groups(dataset, tmp_path):  # noqa: F811
    # (4, 5) is a near pair -> keep both; 10 ~ 12 is a chain the engine refuses -> force it (by source path)
    dec = write_decisions(tmp_path, ["5,4,keep_both", "img10,img12,duplicate", "0,1,duplicate"])
    r = engine.find_duplicates(dataset, {**SETTINGS, "decisions": dec})
    kinds = pair_kinds(r)
    assert (4, 5) not in kinds
    assert kinds[(10, 12)] == ("manual", "train")
    assert kinds[(0, 1)] == ("exact_file", "train")  # already found: confirmed, kind unchanged
    groups = {g: sorted(df["id"]) for g, df in r.groups.groupby("group")}
    assert 4 not in groups and 5 in r.kept_train_ids  # no longer a duplicate: both kept
    assert groups[10] == [10, 11, 12]
    assert r.summary["decisions"] == {"keep_both_removed": 1, "keep_both_not_found": 0,
                                      "duplicate_confirmed": 1, "duplicate_added": 1}
    assert r.summary["pairs_by_kind"]["manual"] == 1
    # the results keep the decisions as applied, by path, in both tools (the pipeline's snapshot copies them)
    r.save(tmp_path / "out", review_files=False)
    kept = pd.read_csv(tmp_path / "out/decisions.csv")
    assert sorted(map(tuple, kept[["a", "b", "decision"]].astype(str).values)) == [
        ("img0", "img1", "duplicate"), ("img10", "img12", "duplicate"), ("img4", "img5", "keep_both")]


@pytest.mark.parametrize("line, words", [
    ("4,5,maybe", ["decisions.csv:2", "'maybe'", "keep_both"]),
    ("4,99,duplicate", ["'99' is neither a path in the dataset nor an id (0..15)"]),
    ("4,nowhere.png,duplicate", ["'nowhere.png'"]),
    ("4,4,duplicate", ["same image"]),
])
def test_bad_decisions_are_named(dataset, tmp_path, line, words):  # noqa: F811
    with pytest.raises(review.DecisionsError) as err:
        review.load_decisions(write_decisions(tmp_path, [line]), dataset.manifest)
    for w in words:
        assert w in str(err.value)


def test_contradicting_decisions(dataset, tmp_path):  # noqa: F811
    with pytest.raises(review.DecisionsError, match="both duplicate and keep_both"):
        review.load_decisions(write_decisions(tmp_path, ["4,5,duplicate", "5,4,keep_both"]), dataset.manifest)


def test_review_sample_is_seeded_with_empty_labels(result, dataset):  # noqa: F811
    s1 = review.review_sample(result.pairs, dataset.manifest, n=5, seed=7)
    s2 = review.review_sample(result.pairs, dataset.manifest, n=5, seed=7)
    assert list(s1.columns) == review.SAMPLE_COLUMNS
    assert len(s1) == 5 and s1.equals(s2) and (s1["label"] == "").all()
    assert set(zip(s1["a"], s1["b"])) <= set(zip(result.pairs["a"], result.pairs["b"]))
    assert s1.iloc[0]["path_a"] == f"img{s1.iloc[0]['a']}" and s1.iloc[0]["path_b"] == f"img{s1.iloc[0]['b']}"
    assert len(review.review_sample(result.pairs, dataset.manifest, n=1000)) == len(result.pairs)


def labelled_csv(tmp_path):
    labels = ["yes"] * 95 + ["no"] * 3 + ["", ""]
    kinds = ["near"] * 50 + ["exact_pixels"] * 50
    p = tmp_path / "labelled.csv"
    pd.DataFrame({"a": range(100), "b": range(1, 101), "kind": kinds, "label": labels}).to_csv(p, index=False)
    return p


def test_precision_from_labelled_sample(tmp_path):
    p = review.precision(labelled_csv(tmp_path))
    assert p["n"] == 98 and p["duplicates"] == 95 and p["unlabelled"] == 2
    assert p["precision"] == pytest.approx(95 / 98)
    assert p["ci95"] == pytest.approx(list(stats.wilson_interval(95, 98)))
    assert p["by_kind"]["near"]["n"] == 50 and p["by_kind"]["exact_pixels"]["n"] == 48
    with pytest.raises(ValueError, match="label 'perhaps'"):
        review.precision(pd.DataFrame({"label": ["perhaps"]}))


@pytest.mark.slow
def test_cli_review_files_decisions_and_precision(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "train/cat").mkdir(parents=True)
    ims = [smooth(rng) for _ in range(4)]
    for i, im in enumerate(ims):
        Image.fromarray(im).save(root / f"train/cat/{i}.png")
    Image.fromarray(ims[0]).save(root / "train/cat/0_copy.bmp")
    out = tmp_path / "out"
    run = [str(BIN / "dupstudy"), "dedup", str(root), "--out", str(out)]
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "5 train images -> 4 kept" in proc.stdout
    assert (out / "review.html").is_file()
    sample = pd.read_csv(out / "review_sample.csv", keep_default_na=False)
    assert len(sample) == 1 and sample["label"].tolist() == [""]
    # a person says the copy is a different picture: the next run keeps both
    src = sample.iloc[0]
    dec = write_decisions(tmp_path, [f"{src['path_a']},{src['path_b']},keep_both"])
    sample["label"] = "no"
    sample.to_csv(tmp_path / "labelled.csv", index=False)
    proc = subprocess.run(run + ["--decisions", dec, "--precision-from", str(tmp_path / "labelled.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "5 train images -> 5 kept" in proc.stdout and "1 pairs kept apart" in proc.stdout
    assert "precision 0.000" in proc.stdout
    proc = subprocess.run([str(BIN / "dupstudy"), "precision", str(labelled_csv(tmp_path))],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "precision 0.969" in proc.stdout and "from 98 labelled pairs" in proc.stdout
    bad = subprocess.run(run + ["--decisions", str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.csv: no such file" in bad.stderr
