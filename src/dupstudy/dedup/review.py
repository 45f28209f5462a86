"""Human review of the pairs the engine found: decisions file, labelled sample, precision.

* review.html (review_page.py): the offline page where a person looks at the pairs, decides
  them, audits removals and labels the sample; it exports the two CSVs below. Pairs are banded
  there by Hamming distance, cosine similarity or aligned detail score (band_of).
* Decisions file, a CSV a person edits: columns `a,b,decision`, decision in {duplicate,
  keep_both}. a and b are the images' paths (the manifest's `source`, as the review page and every
  table show them), which stay the same when files are added to the folder; ids (the manifest's
  `id`, which shift then) are still accepted where a value is not a path. Later runs apply it
  before grouping (engine.find_duplicates with settings["decisions"]): keep_both removes that
  pair, duplicate forces it (added with kind `manual` when the engine did not find it).
* `review_sample`: a seeded random sample of N pairs, with both paths and an empty `label`
  column; someone fills it with yes/no (1/0, duplicate/keep_both, true/false) and `precision`
  estimates the share of true duplicates among found pairs with a Wilson 95 % interval, overall
  and per kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from ..stats import wilson_interval

DECISIONS = ("duplicate", "keep_both")
HAMMING_BANDS = ((0, 0), (1, 2), (3, 4), (5, 8), (9, 10**9))
COSINE_BANDS = (0.99, 0.97, 0.95, 0.93, 0.9, -1.0)  # lower edges, best first
ALIGNED_BANDS = (0.9, 0.8, 0.7, 0.6, 0.5, -1.0)     # lower edges of the aligned detail score, best first
POSITIVE = {"1", "yes", "y", "true", "t", "duplicate", "dup"}
NEGATIVE = {"0", "no", "n", "false", "f", "keep_both", "not", "different"}
SAMPLE_COLUMNS = ["a", "b", "path_a", "path_b", "kind", "scope", "distance", "label"]


class DecisionsError(BadInput, ValueError):
    """A decisions or labelled-sample CSV that cannot be used; the message names the file and line."""


def read_user_csv(path: str | Path) -> pd.DataFrame:
    """A CSV a person edited, all values as text; unreadable, empty or non-UTF-8 files are DecisionsError."""
    path = Path(path)
    if not path.is_file():
        raise DecisionsError(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DecisionsError(f"{path}: the file is empty; it needs a header line and one row per pair") from None
    except UnicodeDecodeError as err:
        raise DecisionsError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, OSError) as err:
        raise DecisionsError(f"{path}: not a readable CSV ({' '.join(str(err).split())})") from None


# ---------------------------------------------------------------- bands

def _score_band(score: float, edges) -> str:
    for k, lo in enumerate(edges):
        if score >= lo:
            hi = 1.0 if k == 0 else edges[k - 1]
            return f"{max(lo, 0):.2f}-{hi:.2f}" if lo > -1 else f"< {hi:.2f}"
    return "other"


def band_of(kind: str, distance, cosine=None, aligned=None) -> str:
    if kind == "semantic" and cosine is not None and not pd.isna(cosine):
        return "cosine " + _score_band(cosine, COSINE_BANDS)
    if kind == "aligned" and aligned is not None and not pd.isna(aligned):
        return "detail " + _score_band(aligned, ALIGNED_BANDS)
    d = int(distance)
    for lo, hi in HAMMING_BANDS:
        if lo <= d <= hi:
            return f"{lo} bits" if lo == hi else (f"{lo}-{hi} bits" if hi < 10**9 else f">= {lo} bits")
    return "other"


# ---------------------------------------------------------------- decisions

def load_decisions(path: str | Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Read a decisions CSV into unordered id pairs a < b with their decision.

    a/b are `source` paths, or ids where a value is no path in the dataset (an older file: ids
    shift when files are added, so attrs["by_id"] counts the lines that use one). Unknown paths or
    ids, unknown decisions and a pair given both decisions are errors naming the line. A repeated
    identical line is fine.
    """
    path = Path(path)
    d = read_user_csv(path)
    missing = {"a", "b", "decision"} - set(d.columns)
    if missing:
        raise DecisionsError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected a,b,decision")
    n = len(manifest)
    by_source = {str(s): int(i) for s, i in zip(manifest["source"], manifest["id"])}
    source = dict(zip(by_source.values(), by_source))

    def to_id(v: str, line: int) -> tuple[int, bool]:
        for text in (v, v.strip()):  # a path first: a file may be named "12"
            if text in by_source:
                return by_source[text], False
        v = v.strip()
        if v.lstrip("-").isdigit():
            i = int(v)
            if 0 <= i < n:
                return i, True
            raise DecisionsError(f"{path}:{line}: {v!r} is neither a path in the dataset nor an id (0..{n - 1})")
        raise DecisionsError(f"{path}:{line}: {v!r} is not a path in the dataset (paths as in images.csv)")

    rows, by_id = [], 0
    for k, r in enumerate(d.itertuples(index=False), start=2):
        dec = str(r.decision).strip().lower()
        if dec not in DECISIONS:
            raise DecisionsError(f"{path}:{k}: decision {r.decision!r}; allowed: {', '.join(DECISIONS)}")
        (a, a_id), (b, b_id) = to_id(str(r.a), k), to_id(str(r.b), k)
        if a == b:
            raise DecisionsError(f"{path}:{k}: a and b are the same image ({source[a]})")
        rows.append((min(a, b), max(a, b), dec))
        by_id += a_id or b_id
    out = pd.DataFrame(rows, columns=["a", "b", "decision"]).drop_duplicates()
    clash = out[out.duplicated(["a", "b"], keep=False)]
    if len(clash):
        a, b = clash.iloc[0][["a", "b"]]
        raise DecisionsError(f"{path}: pair {source[a]},{source[b]} is marked both duplicate and keep_both")
    out = out.astype({"a": np.int64, "b": np.int64}).reset_index(drop=True)
    out.attrs["by_id"] = by_id
    return out


def decisions_by_path(decisions: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """load_decisions' pairs as a decisions CSV keyed by path (a, b, decision), sorted by path."""
    source = manifest.set_index("id")["source"].astype(str)
    out = pd.DataFrame({"a": source.loc[decisions["a"]].to_numpy(), "b": source.loc[decisions["b"]].to_numpy(),
                        "decision": decisions["decision"].to_numpy()})
    out = out.sort_values(["a", "b"]).reset_index(drop=True)
    out.attrs["by_id"] = decisions.attrs.get("by_id", 0)  # lines of the file that named images by id
    return out


# ---------------------------------------------------------------- sample and precision

def seeded_rows(n: int, k: int, seed: int) -> np.ndarray:
    """k of the positions 0..n-1 (all when fewer), uniform without replacement, seeded, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False)) if n else np.zeros(0, int)


def review_sample(pairs: pd.DataFrame, manifest: pd.DataFrame, n: int = 100, seed: int = 0) -> pd.DataFrame:
    """A seeded uniform random sample of n pairs (all when fewer), with both paths and an empty label column."""
    s = pairs.iloc[seeded_rows(len(pairs), n, seed)]
    src = manifest.set_index("id")["source"]
    return pd.DataFrame({
        "a": s["a"].to_numpy(np.int64), "b": s["b"].to_numpy(np.int64),
        "path_a": src.loc[s["a"]].to_numpy(), "path_b": src.loc[s["b"]].to_numpy(),
        "kind": s["kind"].to_numpy(), "scope": s["scope"].to_numpy(), "distance": s["distance"].to_numpy(),
        "label": "",
    }, columns=SAMPLE_COLUMNS)


def _parse_label(v) -> bool | None:
    s = str(v).strip().lower()
    if s in ("", "nan", "none"):
        return None
    if s in POSITIVE:
        return True
    if s in NEGATIVE:
        return False
    raise DecisionsError(f"label {v!r}: use yes/no, 1/0, duplicate/keep_both or true/false")


def precision(labelled: str | Path | pd.DataFrame) -> dict:
    """Precision of the found pairs from a labelled random sample, with Wilson 95 % intervals.

    Rows with an empty label are skipped (and counted as unlabelled).
    """
    d = labelled if isinstance(labelled, pd.DataFrame) else read_user_csv(labelled)
    if "label" not in d:
        raise DecisionsError(f"{labelled if not isinstance(labelled, pd.DataFrame) else 'the labelled sample'}: "
                             f"needs a 'label' column")
    lab = [_parse_label(v) for v in d["label"]]
    d = d.assign(_y=lab)
    done = d[d["_y"].notna()]

    def est(g) -> dict:
        k, n = int(g["_y"].astype(bool).sum()), int(len(g))
        lo, hi = wilson_interval(k, n)
        return {"precision": k / n if n else None, "ci95": [lo, hi], "n": n, "duplicates": k}

    out = {**est(done), "unlabelled": int(len(d) - len(done))}
    if "kind" in done:
        out["by_kind"] = {str(kind): est(g) for kind, g in done.groupby("kind")}
    return out


def format_precision(p: dict) -> str:
    if not p["n"]:
        return "no labelled pairs"
    lines = [f"precision {p['precision']:.3f} (95 % Wilson interval {p['ci95'][0]:.3f}-{p['ci95'][1]:.3f}) "
             f"from {p['n']} labelled pairs, {p['duplicates']} true duplicates"
             + (f"; {p['unlabelled']} unlabelled rows skipped" if p.get("unlabelled") else "")]
    for kind, e in p.get("by_kind", {}).items():
        lines.append(f"  {kind}: {e['precision']:.3f} ({e['ci95'][0]:.3f}-{e['ci95'][1]:.3f}), n={e['n']}")
    return "\n".join(lines)


def write_review(out_dir: str | Path, pairs: pd.DataFrame, prepared, groups: pd.DataFrame,
                 decisions: pd.DataFrame | None = None, sample: int = 100, seed: int = 0) -> None:
    """review_sample.csv and review.html (which shows that sample) into out_dir."""
    from .review_page import write_page

    out_dir = Path(out_dir)
    m = prepared.manifest.sort_values("id").reset_index(drop=True)
    chosen = review_sample(pairs, m, sample, seed)
    chosen.to_csv(out_dir / "review_sample.csv", index=False)
    write_page(out_dir / "review.html", pairs, prepared, groups, chosen, decisions, seed)
