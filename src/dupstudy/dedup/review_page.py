"""review.html: the offline page where a person reviews what dedup found.

One self-contained file (no server, no network: it opens from the file system) with three
views over one set of judgements:

* Pairs: every pair the engine found (a seeded random MAX_PAIRS when there are more), in a
  grid with filters by kind, scope, score band, class and label conflict, sorted by score.
* Audit: a random sample of AUDIT_SAMPLE train images the keeper policy removed, each beside
  its keeper.
* Precision: review_sample.csv's pairs; the page shows their precision and Wilson 95 % interval
  as they are labelled.

A judgement (duplicate / keep both / skip) is stored in the browser by the two paths, so it
survives a rerun after files were added, and is exported as the decisions CSV that
`dedup.decisions` / `--decisions` read (review.py), together with the decisions the run
already applied; the precision view exports the labelled review_sample.csv that `dupstudy
precision` reads. The page's code is review_page.js and review_page.css beside this module.

Images travel as atlases (sheets of equal cells, base64 WebP in the page), decoded by the
browser only when a view needs them: lossless while the page stays under LOSSLESS_BUDGET
bytes of images, else lossy at LOSSY_QUALITY (the page says which).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# files beside this module that the page is made of (codedeps: their edits rerun dedup)
ASSETS = ("review_page.css", "review_page.js")

MAX_PAIRS = 20_000       # pairs on the page; beyond it a seeded random sample (the page says so)
AUDIT_SAMPLE = 100       # removed images in the audit view
THUMB_MAX = 128          # pixels: larger images are shrunk to this side on the page
ATLAS_GRID = 8           # an atlas holds 8 x 8 images: the browser decodes only the atlases on screen
LOSSLESS_BUDGET = 24 << 20  # bytes of lossless atlases beyond which they are re-encoded lossy
LOSSY_QUALITY = 92


def thumbnails(images: np.ndarray, ids: np.ndarray) -> tuple[list[str], dict, str]:
    """The images `ids` packed into atlases: their base64 WebP sheets, the cell geometry
    ({"w", "h", "cols", "per_atlas"}: image k is cell k % per_atlas of atlas k // per_atlas)
    and how they were encoded."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    h, w = x.shape[1:3]
    scale = min(1.0, THUMB_MAX / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    cols = ATLAS_GRID
    per = cols * ATLAS_GRID
    sheets = []
    for s in range(0, len(ids), per):
        chunk = ids[s:s + per]
        n_rows = math.ceil(len(chunk) / cols)
        sheet = np.zeros((n_rows * th, cols * tw, 3), np.uint8)
        for k, i in enumerate(chunk):
            im = x[i] if x.shape[-1] == 3 else np.repeat(x[i][..., :1], 3, axis=-1)
            if scale < 1:
                im = np.asarray(Image.fromarray(im).resize((tw, th), Image.Resampling.LANCZOS))
            r, c = divmod(k, cols)
            sheet[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = im
        sheets.append(Image.fromarray(sheet))
    encoded, how = _encode(sheets)
    return encoded, {"w": tw, "h": th, "cols": cols, "per_atlas": per}, how


def _encode(sheets: list[Image.Image]) -> tuple[list[str], str]:
    def webp(im: Image.Image, **kw) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format="WEBP", **kw)
        return buf.getvalue()

    out, total = [], 0
    for im in sheets:
        out.append(webp(im, lossless=True, method=2))
        total += len(out[-1])
        if total > LOSSLESS_BUDGET:
            out = [webp(im, quality=LOSSY_QUALITY) for im in sheets]
            how = f"lossy WebP, quality {LOSSY_QUALITY}: the difference view shows some compression noise"
            break
    else:
        how = "lossless WebP"
    return [base64.b64encode(b).decode("ascii") for b in out], how


def _placements(p: pd.DataFrame, images: np.ndarray) -> list[str]:
    """How B lies on A: the flip or turns of the hash, in the direction that lays b onto a."""
    from .hashing import TRANSFORMS
    from .turned import placement

    out = ["identity"] * len(p)
    turned = np.flatnonzero(p["transform"].astype(str).to_numpy() != "identity") if "transform" in p else []
    for k, t in zip(turned, placement(images, p["a"].to_numpy()[turned], p["b"].to_numpy()[turned])):
        out[k] = TRANSFORMS[t]
    return out


def page_data(pairs: pd.DataFrame, manifest: pd.DataFrame, classes, groups: pd.DataFrame, sample: pd.DataFrame,
              decisions: pd.DataFrame | None, title: str, images: np.ndarray, seed: int = 0) -> tuple[dict, np.ndarray]:
    """What the page shows, as plain lists (the page's JSON), and the dataset ids whose images it needs."""
    from .review import band_of, seeded_rows

    m = manifest.set_index("id", drop=False)
    shown = seeded_rows(len(pairs), MAX_PAIRS, seed) if len(pairs) > MAX_PAIRS else np.arange(len(pairs))
    removed = groups[~groups["is_keeper"].astype(bool)] if len(groups) else groups
    audit = removed.iloc[seeded_rows(len(removed), AUDIT_SAMPLE, seed)]
    audit_ab = [(min(i, g), max(i, g)) for i, g in zip(audit["id"].astype(int), audit["group"].astype(int))]
    sample_ab = list(zip(sample["a"].astype(int), sample["b"].astype(int)))
    row_of = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(pairs["a"], pairs["b"]))}
    shown_rows = set(shown.tolist())
    rows = sorted(shown_rows | {row_of[ab] for ab in audit_ab + sample_ab if ab in row_of})
    p = pairs.iloc[rows].reset_index(drop=True)
    key = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(p["a"], p["b"]))}
    # images in the order the page first shows them (kind, then most similar), so the first screen
    # needs the first atlases only
    similarity = p["aligned_score"].fillna(p["cosine"]).fillna(1 - p["distance"] / 64) if len(p) else p["distance"]
    first = p.assign(_s=-similarity).sort_values(["kind", "_s"], kind="stable")
    ab = np.stack([first["a"].to_numpy(np.int64), first["b"].to_numpy(np.int64)], 1).ravel()
    ids = pd.unique(ab) if len(ab) else np.zeros(0, np.int64)
    local = {int(i): k for k, i in enumerate(ids)}
    nan = pd.Series(np.nan, index=p.index)
    cosine, score = p.get("cosine", nan), p.get("aligned_score", nan)
    label = m["label"].astype(int)
    data = {
        "title": title,
        "seed": seed,
        "n_pairs": int(len(pairs)),
        "classes": [str(c) for c in classes] if classes is not None else [],
        "images": {
            "id": ids.tolist(),
            "path": m.loc[ids, "source"].astype(str).tolist(),
            "split": m.loc[ids, "split"].astype(str).tolist(),
            "label": label.loc[ids].tolist(),
            "size": [f"{int(w)}x{int(h)}" for w, h in zip(m.loc[ids, "width"], m.loc[ids, "height"])],
            "format": m.loc[ids, "format"].astype(str).tolist() if "format" in m else [""] * len(ids),
        },
        "pairs": {
            "a": [local[int(a)] for a in p["a"]],
            "b": [local[int(b)] for b in p["b"]],
            "kind": p["kind"].astype(str).tolist(),
            "scope": p["scope"].astype(str).tolist(),
            "distance": p["distance"].astype(int).tolist(),
            # how B lies on A: the hash's flip/rotation where one was needed (in a known direction)
            "transform": _placements(p, images),
            "cosine": [None if pd.isna(c) else round(float(c), 4) for c in cosine],
            "score": [None if pd.isna(s) else round(float(s), 4) for s in score],
            "alignment": [str(x) if isinstance(x, str) else "" for x in p.get("alignment", [""] * len(p))],
            "band": [band_of(k, d, c, s) for k, d, c, s in zip(p["kind"], p["distance"], cosine, score)],
            "shown": [r in shown_rows for r in rows],
        },
        # removed image (local index), its keeper, and their pair
        "audit": [[local[int(i)], local[int(g)], key[ab]]
                  for i, g, ab in zip(audit["id"], audit["group"], audit_ab) if ab in key],
        "sample": [key[ab] for ab in sample_ab if ab in key],
        # the decisions this run applied, by path: the export keeps them unless the page changes one
        "earlier": [] if decisions is None else decisions[["a", "b", "decision"]].astype(str).values.tolist(),
    }
    return data, ids


def render(data: dict, atlases: list[str], cell: dict, encoding: str) -> str:
    """The whole page as one HTML string."""
    here = resources.files(__package__)
    css, js = ((here / name).read_text(encoding="utf-8") for name in ASSETS)
    payload = json.dumps({**data, "cell": cell, "encoding": encoding}, separators=(",", ":"))
    sheets = "".join(f'<script type="text/plain" class="atlas">{a}</script>' for a in atlases)
    # JSON inside <script>: "</" must not close the element early
    payload = payload.replace("</", "<\\/")
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(data['title'])}</title>"
            f"<meta name=viewport content='width=device-width'><style>{css}</style></head><body>"
            f"<script type=application/json id=data>{payload}</script>{sheets}<script>{js}</script></body></html>\n")


def write_page(out_path: str | Path, pairs: pd.DataFrame, prepared, groups: pd.DataFrame, sample: pd.DataFrame,
               decisions: pd.DataFrame | None = None, seed: int = 0) -> Path:
    """Write review.html for one dedup result."""
    m = prepared.manifest.sort_values("id").reset_index(drop=True)
    folder = (prepared.source or {}).get("folder")
    data, ids = page_data(pairs, m, prepared.classes, groups, sample, decisions,
                          f"Duplicate review: {Path(folder).name if folder else prepared.name}", prepared.images, seed)
    # decisions in the browser are kept per dataset: two folders may hold the same relative paths
    data["store"] = str(Path(folder).resolve()) if folder else prepared.name
    atlases, cell, encoding = thumbnails(prepared.images, ids)
    out_path = Path(out_path)
    out_path.write_text(render(data, atlases, cell, encoding), encoding="utf-8")
    return out_path
