"""The hand-labelled CIFAR-10 pair set: draw it, render it for labelling, and score methods on it.

    python benchmarks/labelled_pairs.py draw      # pool + stratified sample -> labels/cifar10_pairs.csv
    python benchmarks/labelled_pairs.py sheets    # contact sheets of the sample, to label by eye
    python benchmarks/labelled_pairs.py score PAIRS.csv [PAIRS.csv ...]   # recall / precision on the labels
    python benchmarks/labelled_pairs.py score --half held-out PAIRS.csv     # on one half only (see half())

draw: the pool is every candidate pair of the aligned retrieval (each image's 3 nearest spectrum
descriptors, mirror and zooms included) with its verification score, plus every pHash pair within
12 bits (flips and rotations included) that retrieval did not propose. The pool is cut into strata:
the aligned detail score in 7 bands, and the hash distance in 3 bands for the hash-only pairs, each
for train-train and test-train pairs; up to PER_STRATUM pairs are drawn at random from each. The
sample names both images by path and stratum, never by a method's score: the scores are recomputed
by whatever is scored, so the set does not favour the method that drew it beyond the pool.

score: each PAIRS file lists the pairs one run reported (columns path_a, path_b; a .csv, or the
pairs.parquet of a dupstudy dedup run; other columns are ignored). For each, recall (labelled
duplicates reported / labelled duplicates) and precision (labelled duplicates / labelled pairs
reported) with Wilson 95 % intervals, overall and by stratum kind, on the labelled set as drawn
(not reweighted to the pool). --half tune or held-out scores one half of the set (labels/RULE.md):
methods are tuned on the tuning half and judged on the held-out one.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from dedup_bench import read_cifar  # benchmarks/ is on sys.path when a script here runs

from dupstudy.dedup import aligned, flat, hashing, search
from dupstudy.dedup.engine import LISTED_ONLY
from dupstudy.params import section_defaults
from dupstudy.stats import wilson_interval

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels" / "cifar10_pairs.csv"
PER_STRATUM = 32
SEED = 0
DETAIL_BANDS = (-1.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
HASH_BANDS = (0, 5, 9, 13)
POSITIVE = ("same",)  # labels that count as a duplicate; see labels/RULE.md


def half(pair: int) -> str:
    """Which half of the labelled set a pair is in: the first byte of the SHA-256 of its number
    (the `pair` column, in decimal), even for tune, odd for held-out. Fixed by the pair alone, so
    adding labels never moves a pair between halves."""
    return ("tune", "held-out")[hashlib.sha256(str(pair).encode()).digest()[0] % 2]


def _band(x: float, edges, name: str) -> str:
    k = int(np.searchsorted(edges, x, side="right")) - 1
    return f"{name} {edges[k]:g}..{edges[k + 1]:g}"


def pool(images: np.ndarray, paths: list[str]) -> pd.DataFrame:
    cand = aligned.retrieve(images, 3, skip=flat.low_information(images, section_defaults("dedup")["flat_std"]),
                            progress=True)
    scored = aligned.verify(images, cand, progress=True)
    a = pd.DataFrame({"a": scored.a, "b": scored.b, "detail": scored.detail})
    a["stratum"] = [_band(x, DETAIL_BANDS, "aligned detail") for x in a["detail"]]
    variants = hashing.dihedral_codes(images, "phash", progress=True)
    near = search.self_pairs(np.ascontiguousarray(variants[:, 0]), HASH_BANDS[-1] - 1, variants=variants, progress=True)
    h = pd.DataFrame({"a": near.a, "b": near.b, "distance": near.distance})
    h = h[~h.set_index(["a", "b"]).index.isin(a.set_index(["a", "b"]).index)]
    h["stratum"] = [_band(x, HASH_BANDS, "hash-only bits") for x in h["distance"]]
    out = pd.concat([a[["a", "b", "stratum"]], h[["a", "b", "stratum"]]], ignore_index=True)
    split = np.array([p.split("/")[1] for p in paths])
    sa, sb = split[out["a"]], split[out["b"]]
    out["scope"] = np.where(sa == sb, sa, "train_test")
    return out[out["scope"] != "test"].reset_index(drop=True)


def draw(args) -> None:
    images, paths = read_cifar()
    p = pool(images, paths)
    print(p.groupby(["stratum", "scope"]).size().to_string())
    rng = np.random.default_rng(SEED)
    picks = [g.iloc[rng.choice(len(g), min(len(g), PER_STRATUM), replace=False)]
             for _, g in p.groupby(["stratum", "scope"])]
    s = pd.concat(picks).sample(frac=1, random_state=SEED).reset_index(drop=True)
    names = np.asarray(paths, dtype=object)
    s = pd.DataFrame({"pair": np.arange(len(s)), "path_a": names[s["a"]], "path_b": names[s["b"]],
                      "scope": s["scope"], "stratum": s["stratum"], "label": "", "note": ""})
    LABELS.parent.mkdir(exist_ok=True)
    s.to_csv(LABELS, index=False)
    print(f"{len(s)} pairs -> {LABELS}")


def sheets(args) -> None:
    from PIL import Image, ImageDraw

    s = pd.read_csv(LABELS, keep_default_na=False)
    images, paths = read_cifar()
    index = {p: i for i, p in enumerate(paths)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    w, per = 32 * args.scale, args.per_sheet
    for first in range(0, len(s), per):
        rows = s.iloc[first:first + per]
        cols = 3
        sheet = Image.new("RGB", (cols * (2 * w + 40), -(-len(rows) // cols) * (w + 22)), "white")
        d = ImageDraw.Draw(sheet)
        for k, r in enumerate(rows.itertuples()):
            y, x = divmod(k, cols)
            x0, y0 = x * (2 * w + 40), y * (w + 22)
            for j, p in enumerate((r.path_a, r.path_b)):
                big = Image.fromarray(images[index[p]]).resize((w, w), Image.Resampling.NEAREST)
                sheet.paste(big, (x0 + j * (w + 4), y0))
            d.text((x0, y0 + w + 4), f"pair {r.pair}", fill="black")
        sheet.save(out / f"sheet_{first // per:03d}.png")
    print(f"{-(-len(s) // per)} sheets in {out}")


def score(args) -> None:
    lab = pd.read_csv(LABELS, keep_default_na=False)
    lab = lab[lab["label"] != ""].reset_index(drop=True)
    if args.half != "all":
        lab = lab[[half(p) == args.half for p in lab["pair"]]].reset_index(drop=True)
    if lab.empty:
        sys.exit(f"{LABELS}: no labels yet")
    positive = lab["label"].isin(POSITIVE).to_numpy()
    kind = lab["stratum"].str.rsplit(" ", n=1).str[0].to_numpy()
    counts = lab["label"].value_counts().to_dict()
    print(f"{len(lab)} labelled pairs ({args.half}): {counts}; duplicates = {', '.join(POSITIVE)}")
    runs = [(str(path), _reported_in(path, lab)) for path in args.pairs]
    if args.imagededup:
        runs += _imagededup_runs(lab, args.imagededup)
    print("\n| run | kind of pair | recall | precision |\n|---|---|---|---|")
    for name, reported in runs:
        for part, sel in [("all", np.ones(len(lab), bool))] + [(k, kind == k) for k in sorted(set(kind))]:
            tp = int((reported & positive & sel).sum())
            n_pos, n_rep = int((positive & sel).sum()), int((reported & sel).sum())
            print(f"| {name} | {part} | {_fmt(tp, n_pos)} | {_fmt(tp, n_rep)} |")


def _reported_in(path, lab: pd.DataFrame) -> np.ndarray:
    """Which labelled pairs a run's pairs file reports."""
    if str(path).endswith(".parquet"):  # flat and unaligned pairs are listed, not claimed as duplicates
        rep = pd.read_parquet(path, columns=["path_a", "path_b", "kind"])
        rep = rep[~rep["kind"].isin(LISTED_ONLY)]
    else:
        rep = pd.read_csv(path, usecols=["path_a", "path_b"])
    found = {frozenset(map(_tail, x)) for x in zip(rep["path_a"], rep["path_b"])}
    return np.array([frozenset(map(_tail, x)) in found for x in zip(lab["path_a"], lab["path_b"])])


def _imagededup_runs(lab: pd.DataFrame, thresholds: list[int]) -> list[tuple[str, np.ndarray]]:
    """imagededup's hash methods, pair by pair: its find_duplicates reports a pair exactly when the
    two images' hashes are within max_distance_threshold bits, so hashing the labelled images and
    comparing each pair gives what a run over all 60,000 would report for these pairs."""
    from dedup_bench import _imagededup

    images, paths = read_cifar()
    index = {_tail(p): i for i, p in enumerate(paths)}
    ia = np.array([index[_tail(p)] for p in lab["path_a"]])
    ib = np.array([index[_tail(p)] for p in lab["path_b"]])
    used = np.unique(np.concatenate([ia, ib]))
    row = np.searchsorted(used, np.arange(len(images)))
    out = []
    for method in ("PHash", "DHash", "AHash", "WHash"):
        codes = _imagededup(method)(images[used])
        dist = hashing.hamming(codes[row[ia]], codes[row[ib]])
        out += [(f"imagededup {method}, max_distance_threshold {t}", dist <= t) for t in thresholds]
    return out


def _tail(path: str) -> str:
    """split/class/file: the part of a CIFAR path every tool names alike (archive folders differ)."""
    return "/".join(str(path).split("/")[-3:])


def _fmt(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{k}/{n} = {100 * k / n:5.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]" if n else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(required=True)
    sub.add_parser("draw", help="pool and stratified sample into labels/cifar10_pairs.csv").set_defaults(func=draw)
    sh = sub.add_parser("sheets", help="contact sheets of the sample")
    sh.add_argument("--out", default="/tmp/label_sheets")
    sh.add_argument("--scale", type=int, default=4)
    sh.add_argument("--per-sheet", type=int, default=24)
    sh.set_defaults(func=sheets)
    sc = sub.add_parser("score", help="recall and precision of reported pairs on the labels")
    sc.add_argument("pairs", nargs="*", help="pairs files (.csv or a run's pairs.parquet) with path_a, path_b")
    sc.add_argument("--imagededup", nargs="*", type=int, metavar="BITS",
                    help="also imagededup's hash methods at these max_distance_thresholds (e.g. 10 4)")
    sc.add_argument("--half", choices=("tune", "held-out", "all"), default="all",
                    help="score one half of the labelled set only (labels/RULE.md: tune on one, judge on the other)")
    sc.set_defaults(func=score)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
