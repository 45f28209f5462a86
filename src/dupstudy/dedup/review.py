"""Human review of the pairs the engine found: gallery, decisions file, labelled sample, precision.

* `gallery`: one self-contained HTML page (no external files, images inlined as base64 PNG,
  small images upscaled with nearest neighbour so pixels stay visible) with up to `per_band`
  random pairs for each kind and distance band. Hash kinds are banded by Hamming distance,
  semantic pairs by cosine similarity.
* Decisions file, a CSV a person edits: columns `a,b,decision`, decision in {duplicate,
  keep_both}. a and b are the images' paths (the manifest's `source`, as the gallery and every
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

import base64
import csv
import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import BadInput
from ..stats import wilson_interval

DECISIONS = ("duplicate", "keep_both")
HAMMING_BANDS = ((0, 0), (1, 2), (3, 4), (5, 8), (9, 10**9))
COSINE_BANDS = (0.99, 0.97, 0.95, 0.93, 0.9, -1.0)  # lower edges, best first
ALIGNED_BANDS = (0.9, 0.8, 0.7, 0.6, 0.5, -1.0)     # lower edges of the aligned detail score, best first
MIN_SIDE = 128  # images smaller than this are upscaled (nearest) in the gallery
MAX_SIDE = 256  # larger ones are shrunk (keeps the page small)
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


def _bands(pairs: pd.DataFrame) -> pd.Series:
    nan = pd.Series(np.nan, index=pairs.index)
    cos, al = pairs.get("cosine", nan), pairs.get("aligned_score", nan)
    return pd.Series([band_of(*row) for row in zip(pairs["kind"], pairs["distance"], cos, al)],
                     index=pairs.index, dtype=object)


# ---------------------------------------------------------------- gallery

def _png_b64(image: np.ndarray) -> str:
    im = Image.fromarray(np.asarray(image).squeeze() if np.asarray(image).shape[-1] == 1 else np.asarray(image))
    if min(im.size) < MIN_SIDE:
        f = math.ceil(MIN_SIDE / max(min(im.size), 1))
        im = im.resize((im.width * f, im.height * f), Image.Resampling.NEAREST)
    elif max(im.size) > MAX_SIDE:
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decision_line(path_a: str, path_b: str, decision: str) -> str:
    """One line of a decisions CSV, quoted as CSV needs (a path may hold a comma)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([path_a, path_b, decision])
    return buf.getvalue()


def _describe(m: pd.DataFrame, classes, i: int) -> str:
    r = m.loc[i]
    label = int(r["label"])
    cls = classes[label] if classes is not None and 0 <= label < len(classes) else str(label)
    return (f"id {i} &middot; {html.escape(str(r['split']))} &middot; {html.escape(str(cls))}<br>"
            f"<span class=src>{html.escape(str(r.get('source', '')))}</span><br>"
            f"{int(r.get('width', 0))}x{int(r.get('height', 0))} {html.escape(str(r.get('format', '')))}")


def sample_pairs_by_band(pairs: pd.DataFrame, per_band: int = 12, seed: int = 0) -> pd.DataFrame:
    """Up to per_band random pairs for every (kind, band), with a `band` column."""
    if not len(pairs):
        return pairs.assign(band=pd.Series(dtype=object))
    p = pairs.assign(band=_bands(pairs))
    rng = np.random.default_rng(seed)
    parts = []
    for _, g in p.groupby(["kind", "band"], sort=True):
        take = rng.choice(len(g), size=min(per_band, len(g)), replace=False)
        parts.append(g.iloc[np.sort(take)])
    return pd.concat(parts).reset_index(drop=True)


def gallery(pairs: pd.DataFrame, images: np.ndarray, manifest: pd.DataFrame, out_path: str | Path,
            classes=None, per_band: int = 12, seed: int = 0, title: str = "Duplicate pairs for review") -> Path:
    """Write a self-contained HTML page of random pairs per kind and distance band."""
    m = manifest.set_index("id", drop=False)
    chosen = sample_pairs_by_band(pairs, per_band, seed)
    cached: dict[int, str] = {}

    def img(i: int) -> str:
        if i not in cached:
            cached[i] = _png_b64(images[i])
        return f'<img src="data:image/png;base64,{cached[i]}" alt="id {i}">'

    counts = pairs.assign(band=_bands(pairs)).groupby(["kind", "band"]).size() if len(pairs) else pd.Series(dtype=int)
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:12px}"
        "img{image-rendering:pixelated;display:block}.src{color:#666;word-break:break-all}"
        "h2{margin-top:1.5em}code{background:#eee}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(pairs)} pairs in all; up to {per_band} random pairs per kind and band (seed {seed}). "
        "To correct the engine, copy a pair's line into a decisions CSV with the header <code>a,b,decision</code> "
        "(a and b are the two paths; decision <code>duplicate</code> or <code>keep_both</code>) and pass it as "
        "<code>dedup.decisions</code> (or <code>--decisions</code>); the next run applies it before grouping, "
        "whatever files were added since. To estimate precision, "
        "fill the <code>label</code> column of review_sample.csv and run <code>dupstudy precision</code>.</p>",
    ]
    if not len(chosen):
        out.append("<p>No pairs found.</p>")
    for (kind, band), g in chosen.groupby(["kind", "band"], sort=True):
        n_all = int(counts.get((kind, band), len(g)))
        out.append(f"<h2>{html.escape(str(kind))} &middot; {html.escape(str(band))} "
                   f"<small>({len(g)} of {n_all} shown)</small></h2><table>")
        for r in g.itertuples(index=False):
            a, b = int(r.a), int(r.b)
            extra = f"distance {int(r.distance)} bits"
            if getattr(r, "transform", "identity") not in ("identity", None):
                extra += f", transform {html.escape(str(r.transform))}"
            cos = getattr(r, "cosine", np.nan)
            if cos is not None and not pd.isna(cos):
                extra += f", cosine {float(cos):.3f}"
            score = getattr(r, "aligned_score", np.nan)
            if score is not None and not pd.isna(score):
                extra += f", aligned {html.escape(str(r.alignment))} (detail {float(score):.2f})"
            line = decision_line(str(m.at[a, "source"]), str(m.at[b, "source"]), "keep_both")
            out.append(f"<tr><td>{img(a)}</td><td>{img(b)}</td><td><b>ids {a}, {b}</b> &middot; "
                       f"{html.escape(str(r.scope))}<br>{extra}<br><br>A: {_describe(m, classes, a)}<br><br>"
                       f"B: {_describe(m, classes, b)}<br><br>decisions line: <code>{html.escape(line)}</code>"
                       f"</td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    out_path = Path(out_path)
    out_path.write_text("\n".join(out), encoding="utf-8")
    return out_path


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
    return out.sort_values(["a", "b"]).reset_index(drop=True)


# ---------------------------------------------------------------- sample and precision

def review_sample(pairs: pd.DataFrame, manifest: pd.DataFrame, n: int = 100, seed: int = 0) -> pd.DataFrame:
    """A seeded uniform random sample of n pairs (all when fewer), with both paths and an empty label column."""
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False)) if len(pairs) else []
    s = pairs.iloc[take]
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


def write_review(out_dir: str | Path, pairs: pd.DataFrame, prepared, per_band: int = 12, sample: int = 100,
                 seed: int = 0) -> None:
    """review.html and review_sample.csv into out_dir."""
    out_dir = Path(out_dir)
    m = prepared.manifest.sort_values("id").reset_index(drop=True)
    gallery(pairs, prepared.images, m, out_dir / "review.html", classes=prepared.classes, per_band=per_band,
            seed=seed, title=f"Duplicate pairs for review: {prepared.name}")
    review_sample(pairs, m, sample, seed).to_csv(out_dir / "review_sample.csv", index=False)
