"""Build the study report: one self-contained HTML file (figures embedded as base64 PNG).

Every input other than params is optional: a missing or unreadable file becomes a short
"not available" note in its section, never an exception. Figures are also written as PNG and
SVG into figures_dir. All outputs are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import stats
from ..grid import NAMES, allowed
from ..io import atomic_path
from ..runs import trained_once
from ..stats import t_interval
from . import figures as figs
from . import paper
from .paper import FACTS, FIGURES, PAPER

SUMMARY_COLUMNS = ["scheme", "rate", "trainer", "seed", "clean_acc"]
CURVE_COLUMNS = ["scheme", "rate", "trainer", "seed", "step", "loss"]
PER_CLASS_COLUMNS = ["scheme", "rate", "trainer", "seed", "class", "clean_acc"]
ACC_COLUMNS = ["clean_acc", "robust_acc", "clean_acc_no_leak", "robust_acc_no_leak", "autoattack_acc",
               "autoattack_acc_no_leak"]
STAGE_ORDER = ["ingest", "dedup", "variant", "train", "evaluate", "aggregate", "gaussian", "report"]


# ============================================================================ entry point

def build_report(out_html: Path, figures_dir: Path, *, params: dict, summary_csv: Path | None, curves_csv: Path | None,
                 per_class_csv: Path | None, gaussian_dir: Path | None, dedup_dir: Path | None,
                 prepared_meta: Path | None, provenance: dict | None, preset: str | None = None) -> None:
    """Render the report to out_html and its figures (PNG + SVG) to figures_dir."""
    start = time.perf_counter()
    figs.setup()
    b = _Builder(Path(out_html), Path(figures_dir), params or {})
    b.preset = preset
    b.meta = b.read_json(prepared_meta, "prepared dataset meta.json")
    b.summary = b.read_csv(summary_csv, "model summary", SUMMARY_COLUMNS)
    b.curves = b.read_csv(curves_csv, "training curves", CURVE_COLUMNS)
    b.per_class = b.read_csv(per_class_csv, "per-class accuracy", PER_CLASS_COLUMNS)
    b.split_budgets()
    b.load_gaussian(gaussian_dir)
    b.load_dedup(dedup_dir, prepared_meta)
    b.inputs = [("model summary (CSV)", summary_csv), ("training curves (CSV)", curves_csv),
                ("per-class accuracy (CSV)", per_class_csv), ("Gaussian study", gaussian_dir),
                ("deduplication", dedup_dir), ("prepared dataset meta.json", prepared_meta)]

    sections = [
        b.section_overview(),
        b.section_comparison(),
        b.section_dedup(),
        b.section_accuracy(),
        b.section_budgets(),
        b.section_per_class(),
        b.section_convergence(),
        b.section_leakage(),
        b.section_gaussian(),
        b.section_provenance(provenance or {}, time.perf_counter() - start),
    ]
    b.label_scopes(sections)
    html = _render(title=(params or {}).get("report", {}).get("title", "Duplicates and robustness"),
                   sections=sections, problems=b.problems, scope=b.scope("models"),
                   generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")


def _render(**ctx) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("template.html").render(**ctx)


# ============================================================================ small helpers

def _p(text: str) -> dict:
    return {"type": "p", "text": text}


def _note(text: str) -> dict:
    return {"type": "note", "text": text}


def _list(items: list[str]) -> dict:
    return {"type": "list", "items": items}


def _table(columns: list[str], rows: list[list], caption: str = "", css: str = "") -> dict:
    return {"type": "table", "columns": columns, "rows": [[_cell(c) for c in r] for r in rows], "caption": caption,
            "css": css}


def _cell(value) -> dict:
    if isinstance(value, dict):
        return {"text": str(value.get("text", "")), "cls": value.get("cls", ""), "href": value.get("href")}
    if isinstance(value, float) and math.isnan(value):
        return {"text": "–", "cls": "", "href": None}
    return {"text": str(value), "cls": "", "href": None}


def _pct(v: float, digits: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _fmt_ci(m: float, lo: float, hi: float, n: int | None = None, unit: str = " %", digits: int = 2) -> str:
    if m is None or not np.isfinite(m):
        return "–"
    text = f"{m:.{digits}f}{unit}"
    if np.isfinite(lo) and np.isfinite(hi):
        text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    if n is not None:
        text += f" (n={n})"
    return text


def _rate_str(r: float) -> str:
    return f"{100 * r:g} %"


def _close(a, b) -> bool:
    return abs(float(a) - float(b)) < 1e-9


def _percent_scale(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Accuracies as percent: a table whose accuracy columns are all <= 1 is taken as fractions."""
    cols = [c for c in cols if c in frame]
    if not cols:
        return frame
    values = frame[cols].apply(pd.to_numeric, errors="coerce")
    if np.nanmax(values.to_numpy(float), initial=0.0) <= 1.0 + 1e-9:
        values = values * 100.0
    frame = frame.copy()
    frame[cols] = values
    return frame


def _with_shared_zero(frame: pd.DataFrame) -> pd.DataFrame:
    """D-rate 0 is the same training set for every scheme: give each scheme the rate-0 rows it lacks."""
    if frame is None or frame.empty:
        return frame
    schemes = sorted(frame.loc[frame["rate"] > 0, "scheme"].unique())
    zero = frame[frame["rate"] == 0]
    if zero.empty or not schemes:
        return frame
    # one source scheme per trainer, so a rate-0 run trained under several names is not counted twice
    source = zero.groupby("trainer")["scheme"].min()
    zero = zero[zero["scheme"].to_numpy() == zero["trainer"].map(source).to_numpy()]
    parts = [frame[frame["rate"] > 0]]
    for s in schemes:
        own = frame[(frame["rate"] == 0) & (frame["scheme"] == s)]
        parts.append(own if len(own) else zero.assign(scheme=s))
    return pd.concat(parts, ignore_index=True)


def _each_model_once(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with each trained model once: D-rate 0 is one training set, listed under every scheme."""
    zero = frame["rate"] == 0
    first = frame[zero].groupby("trainer")["scheme"].transform("min")
    keep = ~zero
    keep[zero] = frame.loc[zero, "scheme"] == first
    return frame[keep]


def _diff(frame: pd.DataFrame, metric: str, trainer: str, scheme: str, rate: float,
          base_rate: float = 0.0) -> dict | None:
    """Mean difference of `metric` at `rate` (scheme) minus at base_rate (any scheme), with a 95 % t-interval,
    the 90 % interval that the equivalence test (TOST) reads, and the smallest change the seeds detect.

    Paired by seed when at least two seeds have both cells, else Welch's interval."""
    if frame is None or metric not in frame:
        return None
    f = frame[frame["trainer"] == trainer]
    hi = f[(f["scheme"] == scheme) & np.isclose(f["rate"], rate)].groupby("seed")[metric].mean().dropna()
    lo = f[np.isclose(f["rate"], base_rate)].groupby("seed")[metric].mean().dropna()
    if hi.empty or lo.empty:
        return None
    common = hi.index.intersection(lo.index)
    out = {"mean_hi": float(hi.mean()), "mean_lo": float(lo.mean()), "n_hi": len(hi), "n_lo": len(lo), "rate": rate,
           "metric": metric}
    if len(common) >= 2:
        diffs = (hi[common] - lo[common]).to_numpy(float)
        m, lo_, hi_ = stats.t_interval(diffs)
        _, el, eh = stats.t_interval(diffs, level=1 - 2 * (1 - stats.LEVEL))
        out.update(diff=m, lo=lo_, hi=hi_, eq_lo=el, eq_hi=eh, mde=stats.min_detectable(diffs), n=len(common),
                   how="paired by seed")
    elif len(hi) >= 2 and len(lo) >= 2:
        m, lo_, hi_, _ = stats.welch_interval(hi, lo)
        _, el, eh, _ = stats.welch_interval(hi, lo, level=1 - 2 * (1 - stats.LEVEL))
        out.update(diff=m, lo=lo_, hi=hi_, eq_lo=el, eq_hi=eh, mde=float("nan"), n=min(len(hi), len(lo)), how="Welch")
    else:
        nan = float("nan")
        out.update(diff=float(hi.mean() - lo.mean()), lo=nan, hi=nan, eq_lo=nan, eq_hi=nan, mde=nan,
                   n=min(len(hi), len(lo)), how="single seed")
    return out


VERDICT_RULES = (
    "A claim that duplication raises (lowers) a figure is supported when the 95 % interval of the change, paired by "
    "seed, lies above (below) zero, and not supported when it lies on the other side. A claim of no effect is "
    "supported only by an equivalence test: the 90 % interval (two one-sided tests at 5 %) lies within ± the margin "
    "(report.equivalence_margin); it is not supported when the 95 % interval lies wholly beyond the margin in the "
    "claimed-absent direction. Everything else is inconclusive: the seeds cannot tell. Each verdict states the "
    "smallest change its seeds would detect with 80 % power.")


def _verdict(d: dict | None, expect: str, margin: float) -> tuple[str, str]:
    """expect: 'up' (claim: increases), 'down' (claim: decreases), 'not_up' (claim: does not increase).
    Returns (verdict, why), the verdict one of supported / not supported / inconclusive / not tested."""
    if d is None:
        return "not tested", "no matching runs in this study"
    if not (np.isfinite(d["lo"]) and np.isfinite(d["hi"])):
        return "not tested", "one seed per cell: no confidence interval, so no verdict"
    up, down = d["lo"] > 0, d["hi"] < 0
    within = d["eq_lo"] > -margin and d["eq_hi"] < margin
    power = (f"these {d['n']} seeds detect a change of {d['mde']:.2f} with 80 % power" if np.isfinite(d["mde"])
             else "")
    if expect in ("up", "down"):
        if (up, down)[expect == "down"]:
            return "supported", power
        if (down, up)[expect == "down"]:
            return "not supported", _sentences("the change goes the other way", power)
        if within:
            return "not supported", _sentences(f"the change is within ±{margin:g} (equivalence test)", power)
        return "inconclusive", _sentences("no change detectable at 95 % confidence, and none excluded", power)
    if d["lo"] > margin:
        return "not supported", _sentences(f"it increases by more than {margin:g}", power)
    if within or down:
        return "supported", _sentences(f"the change is within ±{margin:g} (equivalence test)" if within
                                       else "it decreases", power)
    return "inconclusive", _sentences(f"an increase of up to {d['hi']:.2f} is not excluded, so no effect cannot be "
                                      f"claimed at the margin ±{margin:g}", power)


def _said(key: str) -> str:
    """A statement about the paper's code followed by its source, e.g. "… (notebook X, cell 3)"."""
    return f"{FACTS[key].text} ({FACTS[key].cite})"


def _sources() -> list[dict]:
    """The paper's figures and the statements about its code, each with its source: listed under the comparison."""
    figures = [{"text": f"{f.text}: {f.what}. In the paper: {f.where}."
                        + (f" Check: {f.check}" + (f" ({f.evidence})" if f.sources else "") + "."
                           if f.check else ""),
                "href": f.sources[0].url if f.sources else PAPER["url"]} for f in FIGURES.values()]
    facts = [{"text": f"{f.text}. Source: {f.evidence}.", "href": f.sources[0].url}
             for f in FACTS.values()]
    refs = [{"text": f"{r.text[0].upper()}{r.text[1:]}: {r.citation}.", "href": r.url}
            for r in paper.REFERENCES.values()]
    return [{"type": "links", "title": "Published figures (values as the paper prints them)", "items": figures},
            {"type": "links", "title": f"What the paper's notebooks do (github.com/{paper.REPO}; cells counted from 1 "
                                       "in file order)", "items": facts},
            {"type": "links", "title": "Other work cited", "items": refs}]


def _cell_verdict(published: float, ci: tuple | None) -> str:
    """Where the published figure lies against our 95 % interval (a different protocol: see the notes)."""
    if ci is None:
        return "no verdict: no comparable runs"
    m, lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no verdict: one seed, no interval"
    if lo <= published <= hi:
        return "published value inside our interval"
    return f"published value {'above' if published > hi else 'below'} our interval by {abs(published - m):.2f} pp"


def _sentences(*parts: str) -> str:
    """Join clauses into sentences: empty parts dropped, each capitalised and ended with a full stop."""
    out = []
    for part in parts:
        part = (part or "").strip()
        if part:
            out.append(part[0].upper() + part[1:] + ("" if part.endswith((".", "!", "?")) else "."))
    return " ".join(out)


def _verdict_cell(v: str) -> dict:
    return {"text": v, "cls": {"supported": "ok", "not supported": "bad", "inconclusive": "warn"}.get(v, "muted")}


def _diff_text(d: dict | None, unit: str = " pp") -> str:
    if d is None:
        return "–"
    return (f"{_pct(d['mean_lo'])} → {_pct(d['mean_hi'])} %; change {_fmt_ci(d['diff'], d['lo'], d['hi'], unit=unit)}"
            f" ({d['how']}, n={d['n']})")


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        rows = []
        for k in sorted(obj, key=str):
            rows += _flatten(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return rows or [(prefix, "{}")]
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list)) for v in obj):
        return [(prefix, json.dumps(obj, default=str))]
    if isinstance(obj, (list, tuple)):
        return [(prefix, ", ".join(map(str, obj)))]
    return [(prefix, "" if obj is None else str(obj))]


# ============================================================================ the builder

class _Builder:
    def __init__(self, out_html: Path, figures_dir: Path, params: dict):
        self.out_html, self.figures_dir, self.params = out_html, figures_dir, params
        self.problems: list[str] = []
        self.preset: str | None = None  # the preset params.yaml holds, if any
        self.meta: dict | None = None
        self.summary = self.curves = self.per_class = None
        self.summary_all = None  # every training budget; self.summary etc. hold the primary one
        self.budget: str | None = None
        self.gauss: dict | None = None
        self.dedup: dict | None = None
        self.dedup_per_class = self.pairs = None
        self.images = None
        self.missing: dict[str, str] = {}
        self.inputs: list = []

    # ------------------------------------------------------------------ reading

    def _why_missing(self, path, what: str) -> str | None:
        if path is None:
            return f"{what}: not given"
        if not Path(path).exists():
            return f"{what}: {path} does not exist"
        return None

    def read_json(self, path, what: str) -> dict | None:
        why = self._why_missing(path, what)
        if why:
            self.missing[what] = why
            return None
        try:
            data = json.loads(Path(path).read_text())
            return data if isinstance(data, dict) else None
        except Exception as err:  # noqa: BLE001 - the report must render whatever the inputs are
            self.missing[what] = f"{what}: {path} could not be read ({err})"
            return None

    def read_csv(self, path, what: str, required: list[str]) -> pd.DataFrame | None:
        why = self._why_missing(path, what)
        if why:
            self.missing[what] = why
            return None
        try:
            frame = pd.read_csv(path)
        except Exception as err:  # noqa: BLE001
            self.missing[what] = f"{what}: {path} could not be read ({err})"
            return None
        lacking = [c for c in required if c not in frame]
        if lacking:
            self.missing[what] = f"{what}: {path} lacks column(s) {', '.join(lacking)}"
            return None
        if frame.empty:
            self.missing[what] = f"{what}: {path} has no rows"
            return None
        frame["rate"] = pd.to_numeric(frame["rate"], errors="coerce")
        for col in ("scheme", "trainer"):
            frame[col] = frame[col].astype(str)
        return _percent_scale(frame, ACC_COLUMNS)

    def split_budgets(self) -> None:
        """Most sections show one training budget: equal epochs (the paper's protocol) when it was run.
        section_budgets puts the budgets side by side."""
        self.summary_all, self.curves_all = self.summary, self.curves
        if self.summary is None or "budget" not in self.summary:
            return
        budgets = list(pd.unique(self.summary["budget"].astype(str)))
        self.budget = "epochs" if "epochs" in budgets else budgets[0]
        pick = lambda f: f[f["budget"].astype(str) == self.budget] if f is not None and "budget" in f else f  # noqa: E731
        self.summary, self.curves, self.per_class = pick(self.summary), pick(self.curves), pick(self.per_class)

    def load_gaussian(self, gaussian_dir) -> None:
        why = self._why_missing(gaussian_dir, "Gaussian study")
        if why:
            self.missing["Gaussian study"] = why
            return
        try:
            from ..gaussian import load_study

            self.gauss = load_study(gaussian_dir)
        except Exception as err:  # noqa: BLE001
            self.missing["Gaussian study"] = f"Gaussian study: {gaussian_dir} could not be read ({err})"

    def load_dedup(self, dedup_dir, prepared_meta) -> None:
        why = self._why_missing(dedup_dir, "deduplication")
        if why:
            self.missing["deduplication"] = why
            return
        d = Path(dedup_dir)
        self.dedup = self.read_json(d / "summary.json", "deduplication summary") or {}
        if (d / "per_class.csv").is_file():
            try:
                pc = pd.read_csv(d / "per_class.csv")
                if {"class", "removed"} <= set(pc):
                    self.dedup_per_class = pc
            except Exception as err:  # noqa: BLE001
                self.problems.append(f"deduplication per_class.csv could not be read ({err})")
        if (d / "pairs.parquet").is_file():
            try:
                pairs = pd.read_parquet(d / "pairs.parquet")
                if {"a", "b", "kind", "distance"} <= set(pairs):
                    self.pairs = pairs
            except Exception as err:  # noqa: BLE001
                self.problems.append(f"deduplication pairs.parquet could not be read ({err})")
        if prepared_meta is not None and (Path(prepared_meta).parent / "images.npy").is_file():
            try:
                self.images = np.load(Path(prepared_meta).parent / "images.npy", mmap_mode="r", allow_pickle=False)
            except Exception as err:  # noqa: BLE001
                self.problems.append(f"prepared images.npy could not be read ({err})")

    # ------------------------------------------------------------------ figures

    def figure(self, name: str, title: str, caption: str, draw: Callable, *args, **kwargs) -> dict:
        try:
            fig = draw(*args, **kwargs)
            f = figs.save(fig, self.figures_dir, name, title, caption)
        except Exception as err:  # noqa: BLE001 - a broken figure must not take the report down
            import matplotlib.pyplot as plt

            plt.close("all")
            self.problems.append(f"figure {name!r} could not be drawn: {type(err).__name__}: {err}")
            self.problems.append(traceback.format_exc(limit=3))
            return _note(f"Figure “{title}” is not available: it could not be drawn ({type(err).__name__}: {err}).")
        return {"type": "figure", "title": f.title, "caption": f.caption, "b64": f.b64, "alt": f.title,
                "png_href": self.href(f.png), "svg_href": self.href(f.svg)}

    def href(self, path) -> str | None:
        path = Path(path)
        if not path.exists():
            return None
        return Path(os.path.relpath(path.resolve(), self.out_html.parent.resolve())).as_posix()

    def unavailable(self, *whats: str) -> dict:
        reasons = [self.missing[w] for w in whats if w in self.missing]
        return _note("Not available: " + "; ".join(reasons or ["no data"]) + ".")

    # ------------------------------------------------------------------ what each number comes from

    # which runs a section's tables and figures show: the trained models, the dataset alone, or no images
    SECTION_SCOPES = {"comparison": "models", "accuracy": "models", "budgets": "models", "per-class": "models",
                      "convergence": "models", "leakage": "models", "dedup": "dataset", "gaussian": "gaussian"}

    def scope(self, kind: str) -> str:
        """'preset · dataset · model' for numbers from the trained models; less for the others."""
        if kind == "gaussian":
            return "2-D Gaussian study (no images; the same for every preset)"
        preset = f"preset {self.preset}" if self.preset else "custom params (no preset)"
        data = self.dataset + (f", {self.params['dataset']['train_share']:g} of its training images"
                               if (self.params.get("dataset") or {}).get("train_share", 1) != 1 else "")
        if kind == "dataset":
            return f"{preset} · {data}"
        m, t = self.params.get("model") or {}, self.params.get("train") or {}
        model = (f"{m.get('arch', '–')} width {m.get('width', '–')}, {t.get('recipe', 'onecycle')} recipe, "
                 f"{t.get('epochs', '–')} epochs")
        return f"{preset} · {data} · {model}"

    def label_scopes(self, sections: list[dict]) -> None:
        """Every table and figure says which preset, dataset and model its numbers come from."""
        for section in sections:
            kind = self.SECTION_SCOPES.get(section["id"])
            for block in section["blocks"] if kind else []:
                if block.get("type") in ("table", "figure"):
                    block["scope"] = self.scope(kind)

    # ------------------------------------------------------------------ facts

    @property
    def dataset(self) -> str:
        if self.meta and self.meta.get("dataset"):
            return str(self.meta["dataset"])
        return str(self.params.get("dataset", {}).get("name", "unknown"))

    @property
    def classes(self) -> list[str] | None:
        return list(self.meta["classes"]) if self.meta and isinstance(self.meta.get("classes"), list) else None

    def rate_definition(self) -> str:
        protocol = self.params.get("variants", {}).get("protocol", "additive")
        base = ("D-rate r = added copies / deduplicated training-set size N (the training set after duplicates "
                "found in it were removed). ")
        if protocol == "fixed":
            return base + ("Protocol “fixed”: the variant keeps N images, of which round(rN) slots hold copies, so the "
                           "amount of unique content shrinks to (1 − r)N while the size stays the same.")
        return base + ("Protocol “additive” (the paper's notebooks also add their copies to all originals: "
                       f"{paper.cite('std_copies', 'pgd_copies')}): round(rN) copies are added to all N originals, so "
                       "the variant has about N(1 + r) images; with a fixed number of epochs the model takes more "
                       "optimizer steps on larger variants.")

    def scheme_definition(self) -> str:
        v = self.params.get("variants", {})
        biased, conc = v.get("biased", {}), v.get("concentrated", {})
        if biased.get("class_shares"):
            biased_text = ("biased — class c receives the share class_shares[c] of all copies ("
                           + ", ".join(f"{w:g}" for w in biased["class_shares"]) + ", normalised)")
        else:
            biased_text = (f"biased — a share {biased.get('favoured_share', '–')} of all copies comes from the "
                           f"favoured class(es) {', '.join(map(str, biased.get('favoured_classes', []))) or '–'}, "
                           "the rest from the others, uniformly within a class (0.7 / 0.3 is the share the comment "
                           f"in the paper's Gaussian notebook names; {FACTS['gauss_weights'].cite})")
        text = f"Schemes: uniform — each copy drawn uniformly from all training images; {biased_text}"
        if "concentrated" in self.params.get("grid", {}).get("schemes", []):
            text += (f"; concentrated — all copies come from {100 * conc.get('sources', 0.01):g} % of the training "
                     f"images, split over them by Zipf weights rank^−{conc.get('exponent', 1.0):g} (a few images "
                     "copied many times)")
        return text + "."

    def source_text(self) -> str:
        """Where the images came from, with the checksum of what was read (prepared meta.json)."""
        src = (self.meta or {}).get("source") or {}
        if not src:
            return ""
        if src.get("origin") == "official archive":
            text = (f"Source: the official archive {src.get('url', '–')} (md5 {src.get('md5', '–')}, sha256 "
                    f"{src.get('sha256', '–')}).")
        elif src.get("folder"):
            text = (f"Source: {src.get('origin', 'image folder')} {src['folder']}"
                    + (f", sha256 {src['sha256']} (of {src.get('sha256_of', 'it')})" if src.get("sha256") else "")
                    + (f"; used because the official archive could not be had ({src['why']})" if src.get("why") else "")
                    + ".")
        else:
            text = f"Source: {src.get('name', self.dataset)}."
        if src.get("train_share"):
            text += (f" Training images: a share of {src['train_share']:g} of each class of the "
                     f"{src.get('train_before_share', '–')} in the source (a fixed draw).")
        return text

    # ------------------------------------------------------------------ sections

    def section_overview(self) -> dict:
        p = self.params
        grid, train, attack = p.get("grid", {}), p.get("train", {}), p.get("attack", {})
        blocks = []
        if (p.get("report") or {}).get("note"):
            blocks.append(_p(str(p["report"]["note"]).strip()))
        if self.meta:
            counts = self.meta.get("counts", {})
            shape = "×".join(map(str, self.meta.get("shape", [])))
            blocks.append(_p(
                f"Dataset: {self.dataset} — {len(self.classes or [])} classes, images {shape}, "
                + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + " images. "
                + self.source_text()))
        else:
            blocks.append(_p(f"Dataset: {self.dataset}."))
            blocks.append(self.unavailable("prepared dataset meta.json"))
        if self.dedup:
            before, after = self.dedup.get("n_train_before"), self.dedup.get("n_train_after")
            if before is not None and after is not None:
                blocks.append(_p(f"Before any variant was made, the training set was deduplicated: {before} → {after} "
                                 f"images, so D-rate 0 has no known duplicates."))
        schemes = grid.get("schemes", [])
        rates = grid.get("rates", [])
        trainers = grid.get("trainers", [])
        seeds = grid.get("seeds", [])
        n_cells = len(schemes) * len(rates) * len(trainers) * len(seeds)
        blocks.append(_p(
            f"Grid: duplication schemes {', '.join(map(str, schemes)) or '–'}; D-rates "
            f"{', '.join(_rate_str(r) for r in rates) or '–'}; trainers {', '.join(map(str, trainers)) or '–'}; "
            f"seeds {', '.join(map(str, seeds)) or '–'} ({n_cells} cells as configured"
            + (f", {len(trained_once(self.summary_all))} trained models found in the summary"
               if self.summary_all is not None else "")
            + ")."))
        blocks.append(_p(self.rate_definition()))
        blocks.append(_p(self.scheme_definition()))
        if train:
            steps = train.get("steps", "–")
            texts = {"epochs": f"equal epochs ({train.get('epochs', '–')} passes over each variant, so larger "
                               "variants take more optimizer steps)",
                     "steps": "equal steps (" + ("as many optimizer steps as the D-rate 0 set takes in "
                                                 f"{train.get('epochs', '–')} epochs" if steps == "auto"
                                                 else f"{steps} optimizer steps")
                              + " for every variant: equal compute)"}
            budgets = grid.get("budgets", ["epochs"])
            blocks.append(_p(
                f"Training: model {p.get('model', {}).get('arch', '–')}, budget(s): "
                + "; ".join(texts.get(b, str(b)) for b in budgets)
                + f"; batch {train.get('batch_size', '–')}, {_recipe_text(train)}."
                + (f" Sections other than “Equal epochs vs equal steps” show the {self.budget} budget."
                   if self.budget and len(budgets) > 1 else "")))
        elif self.summary is not None and {"epochs", "steps"} <= set(self.summary):
            ep, st = self.summary["epochs"], self.summary["steps"]
            blocks.append(_p(f"Training (from the model summary): {ep.min():g}–{ep.max():g} epochs, "
                             f"{st.min():g}–{st.max():g} optimizer steps per model."))
        if attack:
            eps = attack.get("eps", "–")
            robust = {
                "pgd": f"pgd — PGD adversarial training at ε = {eps} (pixel units in [0, 1]), step "
                       f"{attack.get('train_step', '–')}, {attack.get('train_steps', '–')} steps, random start",
                "fgsm_rs": f"fgsm_rs — one FGSM step of {attack.get('fgsm_step', '–')} from a uniform random start in "
                           f"the ε = {eps} ball (“fast” adversarial training)" + self._guard_text(attack),
                "trades": f"trades — TRADES with β = {attack.get('trades_beta', '–')}, its inner maximisation PGD on "
                          f"the KL term at ε = {eps}, {attack.get('train_steps', '–')} steps",
            }
            used = [robust[t] for t in trainers if t in robust]
            aa = ""
            if attack.get("autoattack"):
                from ..attacks import AUTOATTACK_STANDARD as cfg  # torch: only where AutoAttack ran

                aa = (f" AutoAttack's standard version at the same ε is reported as well: APGD-CE and APGD-T "
                      f"({cfg['apgd_ce']['steps']} iterations each, APGD-T on every wrong class as target), FAB-T "
                      f"({cfg['fab_t']['steps']} iterations) and Square "
                      f"({cfg['square']['queries']:,} queries), one restart each, through torchattacks"
                      + (f", on {attack['autoattack_n']} fixed test images" if attack.get("autoattack_n") else "")
                      + ".")
            blocks.append(_p(
                ("Robust trainer(s): " + "; ".join(used) + ". " if used else "")
                + f"Robust accuracy is measured with PGD-{attack.get('eval_steps', '–')} (step "
                f"{attack.get('eval_step', '–')}, {attack.get('eval_restarts', '–')} restart(s)) at ε = {eps}, model "
                "in eval mode, on " + (f"{attack['eval_n']} fixed test images (the same random draw for every model; "
                                       "clean accuracy is on all test images)" if attack.get("eval_n")
                                       else "all test images") + "; an image counts as robust only if every iterate "
                "of every restart leaves it correctly classified (the worst case, not the last iterate)." + aa))
        else:
            blocks.append(_p("The robust trainer is PGD adversarial training; robust accuracy is PGD accuracy at the "
                             "training ε with a stronger attack than in training (see params.yaml, section attack)."))
        blocks.append(_p("Error bars, bands and table intervals are 95 % t-intervals over seeds; intervals of an "
                         "accuracy are clipped to [0, 100] %. Accuracies are in percent; “pp” = percentage points."))
        blocks.append(_p(f"Paper studied: {PAPER['title']}."))
        inputs = []
        for what, path in self.inputs:
            href = self.href(path) if path is not None else None
            inputs.append({"text": f"{what}: " + (str(path) if path is not None else "not given")
                           + ("" if path is None or Path(path).exists() else " (missing)"), "href": href})
        blocks.append({"type": "links", "items": inputs, "title": "Inputs"})
        return {"id": "overview", "title": "What was run", "blocks": blocks}

    def _guard_text(self, attack: dict) -> str:
        """The FGSM-RS guard's settings and how many runs it stopped (from the curves)."""
        g = attack.get("fgsm_guard") or {}
        if not g.get("enabled"):
            return ", without a guard against catastrophic overfitting"
        text = (f", guarded against catastrophic overfitting as Wong et al. do (after every epoch PGD-{g.get('steps')} "
                f"on {g.get('batch')} training images; a fall of more than {g.get('drop')} below the best epoch "
                f"restores that epoch's weights and stops training)")
        c = self.curves_all if self.curves_all is not None else self.curves
        if c is None or "guard_pgd_acc" not in c:
            return text
        runs = c[c["trainer"] == "fgsm_rs"].groupby([k for k in NAMES if k != "trainer" and k in c])
        stopped = [name for name, g in runs
                   if "guard_stopped" in g and g["guard_stopped"].fillna(False).astype(bool).any()]
        return text + f"; it stopped {len(stopped)} of {runs.ngroups} FGSM-RS runs early"

    def _ours_at(self, trainer: str, rate: float) -> tuple[str, tuple | None]:
        """(ours as text, its (mean, low, high) or None)."""
        s = self.summary
        if s is None:
            return "no runs", None
        f = s[(s["trainer"] == trainer) & np.isclose(s["rate"], rate)]
        if rate > 0:
            f = f[f["scheme"] == "uniform"] if (f["scheme"] == "uniform").any() else f.iloc[0:0]
        vals = f.groupby("seed")["clean_acc"].mean().dropna()
        if vals.empty:
            return "not run at this D-rate", None
        ci = stats.bounded(t_interval(vals.to_numpy(float)))
        return _fmt_ci(*ci, len(vals)), ci

    def section_comparison(self) -> dict:
        cifar = self.dataset.lower() == "cifar10"
        ref = paper.REFERENCES["cifar_94"]
        unplaced = sum(f.where == paper.NOT_VERIFIED for f in FIGURES.values())
        blocks = [_p(
            "The paper's numbers next to ours. CIFAR-10 rows compare the uniform scheme at the same nominal D-rate, "
            "which the paper's two CIFAR-10 experiments read differently. "
            + _sentences(_said("std_copies"), _said("pgd_copies"), _said("test_augmented"), _said("shared_optimizer"),
                         f"{_said('model')}; without duplicates the standard one reaches "
                         f"{FIGURES['standard_0'].text}, while {ref.text} ({ref.citation})", _said("epochs"),
                         "where in the paper (figure, page) the published figures appear was not verified here"
                         + ("" if unplaced == len(FIGURES) else f" for {unplaced} of them"),
                         "the lists under the table give each published figure and each statement about the "
                         "paper's notebooks with the notebook cells and lines that show it"))]
        if not cifar:
            blocks.append(_note(f"Our run is on {self.dataset}, not CIFAR-10: the CIFAR-10 numbers are not comparable "
                                "and are left out of the “ours” column."))
        rows = []
        for trainer, label in (("standard", "CIFAR-10, standard training: clean accuracy"),
                               ("pgd", "CIFAR-10, PGD adversarial training: clean accuracy")):
            for rate in paper.RATES:
                fig = paper.cifar(trainer, rate)
                ours, ci = self._ours_at(trainer, rate) if cifar else (f"not comparable (our run: {self.dataset})",
                                                                       None)
                note = f"{_cell_verdict(float(fig), ci)}. paper: {paper.their_duplicates(trainer, rate)}; {fig.check}"
                note += f" ({fig.cite})" if fig.sources else ""
                rows.append([label, _rate_str(rate), fig.text, ours, note])
        g_paper = FIGURES["gauss_biased_40_without"], FIGURES["gauss_biased_40_with"]
        g_without = g_with = "Gaussian study not available"
        if self.gauss is not None:
            gs = self.gauss["summary"]
            sel = gs[(gs["scheme"] == "biased") & np.isclose(gs["rate"], 0.4)]
            if sel.empty:
                g_without = g_with = "D-rate 40 % not run"
            else:
                def pick(metric):
                    r = sel[sel["metric"] == metric]
                    if r.empty:
                        return "–"
                    r = r.iloc[0]
                    return _fmt_ci(100 * r["mean"], 100 * r["ci_low"], 100 * r["ci_high"], int(r["n"]))
                g_without, g_with = pick("base_acc_all"), pick("acc_all")
        bayes = self.gauss["bayes_acc"] if self.gauss else None
        gnote = ("same setup; large independent test set per seed"
                 + (f"; the Bayes-optimal accuracy is {bayes:.3f}; the paper's {g_paper[0].value} is above it because "
                    f"it is accuracy on the training points ({FACTS['gauss_train_acc'].cite})" if bayes else "")
                 + f"; the paper's “40” is {paper.GAUSS_40_COPIES} copies added to its {paper.GAUSS_POINTS} "
                   f"training points ({FACTS['gauss_label'].cite})")
        rows.append(["2-D Gaussians, biased duplication: overall accuracy without duplicates", "40 %",
                     f"{g_paper[0].value} ({100 * float(g_paper[0]):g} %)", g_without, gnote])
        rows.append(["2-D Gaussians, biased duplication: overall accuracy with duplicates", "40 %",
                     f"{g_paper[1].value} ({100 * float(g_paper[1]):g} %)", g_with, "ours: mean [95 % CI] over seeds"])
        blocks.append(_table(["quantity", "D-rate", "published", "ours: mean [95 % CI] (n seeds)", "note"], rows,
                             caption="Published vs ours", css="comparison"))
        blocks += _sources()
        blocks.append(_p("How verdicts are decided: " + VERDICT_RULES + f" Here the margin is ±"
                         f"{self.params.get('report', {}).get('equivalence_margin', 1.0):g} pp. Accuracy verdicts use "
                         "accuracy on the test images without a duplicate in the training set; the figure on all test "
                         "images stands beside it."))
        blocks.append(_table(["paper claim", "verdict", "our evidence", "reason"], self.claims(),
                             caption="Paper claims tested by this run", css="claims"))
        return {"id": "comparison", "title": "Published vs ours", "blocks": blocks}

    # ------------------------------------------------------------------ claims

    def _max_rate(self, trainer: str, scheme: str, target: float = 0.6) -> float | None:
        s = self.summary
        if s is None:
            return None
        rates = sorted(s[(s["trainer"] == trainer) & (s["scheme"] == scheme) & (s["rate"] > 0)]["rate"].unique())
        if not rates:
            return None
        return min(rates, key=lambda r: (abs(r - target), -r))

    def claims(self) -> list[list]:
        rows = []
        ds = self.dataset
        on = "" if ds.lower() == "cifar10" else f"tested on {ds}, not CIFAR-10"
        s = self.summary
        base_std = base_pgd = float("nan")
        if s is not None:
            z = s[s["rate"] == 0]
            base_std = float(z[z["trainer"] == "standard"]["clean_acc"].mean())
            base_pgd = float(z[z["trainer"] == "pgd"]["clean_acc"].mean())
        std0, std60 = paper.cifar("standard", 0.0), paper.cifar("standard", 0.6)
        pgd0, pgd60 = paper.cifar("pgd", 0.0), paper.cifar("pgd", 0.6)
        their_std_rate = (f"their standard-training D-rate 60 % meant {paper.their_duplicates('standard', 0.6)}, "
                          "beyond this grid; the direction at r < 1 is what is tested here")
        their_pgd_rate = f"their PGD D-rate 60 % meant {paper.their_duplicates('pgd', 0.6)}"

        margin = self.params.get("report", {}).get("equivalence_margin", 1.0)

        def tested(metric: str, trainer: str, expect: str) -> tuple[float | None, dict | None, str, str, str]:
            """(rate, diff, verdict, why, evidence) on `metric` without the leaked test images, the leaky beside."""
            r = self._max_rate(trainer, "uniform")
            clean = f"{metric}_no_leak" if s is not None and f"{metric}_no_leak" in s else metric
            d = _diff(s, clean, trainer, "uniform", r) if r is not None else None
            v, why = _verdict(d, expect, margin)
            leaky = _diff(s, metric, trainer, "uniform", r) if r is not None and clean != metric else None
            evidence = ((f"uniform, r = {_rate_str(r)}: " if r is not None else "") + _diff_text(d)
                        + (" without leaked test images" if clean != metric and d is not None else "")
                        + (f"; all test images: {_diff_text(leaky)}" if leaky is not None else ""))
            return r, d, v, why, evidence

        # C1 standard training gains
        r, d, v, why, evidence = tested("clean_acc", "standard", "up")
        rows.append(["Standard training: duplicating training images raises clean accuracy "
                     f"(CIFAR-10, {std0.value} → {std60.text} from D-rate 0 to 60)",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our baseline reaches {base_std:.1f} % at r = 0 (theirs {std0.text}, a weak 2-conv "
                                f"CNN; {FACTS['model'].cite})" if np.isfinite(base_std) else "", their_std_rate)])

        # C2 PGD clean accuracy falls
        r, d, v, why, evidence = tested("clean_acc", "pgd", "down")
        rows.append(["PGD adversarial training: duplication lowers clean accuracy "
                     f"({pgd0.value} → {pgd60.text} from D-rate 0 to 60)",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our PGD-AT baseline reaches {base_pgd:.1f} % clean (theirs {pgd0.text})"
                                if np.isfinite(base_pgd) else "",
                                f"their PGD ran in [-1, 1] units with ε = {paper.PGD_EPS:g} and clamped to [0, 1], a "
                                f"non-standard threat model ({FACTS['pgd'].cite})", their_pgd_rate,
                                f"their clean accuracy is one run per D-rate and not monotonic in it "
                                f"({FACTS['pgd_printed'].cite})")])

        # C3 robust accuracy not improved: a claim of no effect, decided by an equivalence test
        if s is not None and "robust_acc" in s:
            r, d, v, why, evidence = tested("robust_acc", "pgd", "not_up")
        else:
            d, (v, why), evidence = None, _verdict(None, "not_up", margin), "–"
        atk = self.params.get("attack", {})
        rows.append(["PGD adversarial training: duplication does not improve adversarial accuracy",
                     _verdict_cell(v), evidence,
                     _sentences(why, on,
                                f"our attack: PGD-{atk.get('eval_steps', '–')}, ε = {atk.get('eps', '–')}, "
                                f"{atk.get('eval_restarts', '–')} restart(s)" if atk else "",
                                "their adversarial test accuracy is flat across D-rates 0, 30 and 60 "
                                f"({FACTS['pgd_printed'].cite})")])

        # C4 slower convergence, per trainer, at equal optimizer steps
        for trainer in ("standard", "pgd"):
            d, text, how = self._convergence_diff(trainer)
            v, why = _verdict(d, "up", 0.0)
            rows.append([f"Training converges more slowly with duplicates ({trainer})", _verdict_cell(v), text,
                         _sentences(why, on, how)])

        # C5 a drop on CIFAR-100 / ImageNet subsets, attributed to the paper but not found in it here
        drop = FIGURES["drop_up_to"]
        c5 = (f"Clean accuracy drops by up to {drop.text} (CIFAR-100 / ImageNet subsets; attributed to the paper, "
              f"{drop.where})")
        if ds.lower() == "cifar100" and s is not None:
            drops = []
            for trainer in sorted(s["trainer"].unique()):
                for scheme in sorted(s.loc[s["rate"] > 0, "scheme"].unique()):
                    for rate in sorted(s.loc[(s["scheme"] == scheme) & (s["rate"] > 0), "rate"].unique()):
                        d = _diff(s, "clean_acc", trainer, scheme, rate)
                        if d is not None:
                            drops.append((d["diff"], d, f"{trainer}/{scheme}/r = {_rate_str(rate)}"))
            if drops:
                worst = min(drops, key=lambda t: t[0])
                v, why = _verdict(worst[1], "down", margin)
                rows.append([c5, _verdict_cell(v),
                             f"largest drop: {worst[2]}: " + _diff_text(worst[1]),
                             _sentences(why, "ImageNet subsets were not run")])
            else:
                rows.append([c5, _verdict_cell("not tested"), "–", "no runs with duplicates"])
        else:
            rows.append([c5, _verdict_cell("not tested"),
                         "–", _sentences(f"this run is on {ds}; CIFAR-100 and ImageNet subsets were not run")])

        rows += self._gaussian_claims()
        return rows

    def _convergence_diff(self, trainer: str) -> tuple[dict | None, str, str]:
        """Training loss near the end of training, duplicates vs none: (diff, evidence, how it was compared).

        Under the steps budget every variant runs the same schedule, so the loss is compared over the same last
        10 % of steps. Under the epochs budget each variant's one-cycle schedule spans its own number of steps, so
        the loss is compared over the last 10 % of each run's own schedule (equal fractions), never at the
        baseline's last step, where the baseline's rate is near 0 and a longer run's is not."""
        c = self.curves_all if self.curves_all is not None else self.curves
        if c is None:
            return None, "training curves not available", ""
        if "budget" in c and (c["budget"].astype(str) == "steps").any():
            c, how = c[c["budget"].astype(str) == "steps"], "compared at equal optimizer steps (the steps budget)"
        else:
            c = c[c["budget"].astype(str) == self.budget] if "budget" in c else c
            how = ("compared at equal fractions of each run's schedule (the epochs budget gives larger variants "
                   "more steps; run grid.budgets: [steps] to compare at equal steps)")
        rates = sorted(c[(c["trainer"] == trainer) & (c["scheme"] == "uniform") & (c["rate"] > 0)]["rate"].unique())
        if not rates:
            return None, f"no {trainer} curves with duplicates", how
        r = rates[-1]
        f = c[(c["trainer"] == trainer) & ((np.isclose(c["rate"], r) & (c["scheme"] == "uniform")) | (c["rate"] == 0))]
        runs = ["scheme", "rate", "seed"]
        last = f.groupby(runs)["step"].transform("max")
        window = f[f["step"] > 0.9 * last]
        loss = window.groupby(runs, as_index=False)["loss"].mean()
        d = _diff(loss.assign(trainer=trainer), "loss", trainer, "uniform", r)
        if d is None:
            return None, "–", how
        text = (f"uniform, r = {_rate_str(r)}, mean training loss over the last 10 % of steps: "
                f"{d['mean_lo']:.3f} → {d['mean_hi']:.3f}; "
                f"change {_fmt_ci(d['diff'], d['lo'], d['hi'], unit='', digits=3)}"
                f" ({d['how']}, n={d['n']})")
        return d, text, how

    def _gaussian_claims(self) -> list[list]:
        rows = []
        band, share = FIGURES["gauss_uniform_band"], FIGURES["gauss_balanced_share"]
        without, with_ = FIGURES["gauss_biased_40_without"], FIGURES["gauss_biased_40_with"]
        near_lo, near_hi = float(share) - 5, float(share) + 5  # D-ratio +1 counted as "near", in %
        claims = [
            f"2-D Gaussians, uniform duplication: accuracy moves within about ±{band.text}",
            f"2-D Gaussians, uniform duplication helps when D-ratio +1 is near {share.text}",
            "2-D Gaussians, biased duplication shifts the boundary toward the under-duplicated class "
            "(class -1 loses, class +1 gains)",
            f"2-D Gaussians, biased duplication lowers overall accuracy (D-rate 40: {without.value} → {with_.value})",
        ]
        if self.gauss is None:
            return [[c, _verdict_cell("not tested"), "–", "Gaussian study not available."] for c in claims]
        ps = self.gauss["per_seed"].copy()
        for m in ("acc_neg", "acc_pos", "acc_all"):
            ps[f"delta_{m}"] = 100 * (ps[m] - ps[f"base_{m}"])
        uni = ps[ps["scheme"] == "uniform"]
        # C-G1: within the paper's band
        if uni.empty:
            rows.append([claims[0], _verdict_cell("not tested"), "–", "Uniform scheme not run."])
        else:
            by_rate = uni.groupby("rate")["delta_acc_all"].apply(lambda v: t_interval(v.to_numpy(float)))
            lo = min(x[1] if np.isfinite(x[1]) else x[0] for x in by_rate)
            hi = max(x[2] if np.isfinite(x[2]) else x[0] for x in by_rate)
            worst_class = float(np.nanmax(np.abs(uni[["delta_acc_neg", "delta_acc_pos"]].groupby(uni["rate"]).mean()
                                                 .to_numpy(float))))
            v = "supported" if max(abs(lo), abs(hi)) <= float(band) else "not supported"
            rows.append([claims[0], _verdict_cell(v),
                         f"overall change per rate within [{lo:.2f}, {hi:.2f}] pp (95 % CIs); largest mean per-class "
                         f"change {worst_class:.2f} pp",
                         f"The bound holds: every change is well inside ±{band.text}." if v == "supported" else
                         f"Some change exceeds {band.value} points."])
        # C-G2: helps near the paper's balanced share
        near = uni[uni["d_ratio_pos"].between(near_lo / 100, near_hi / 100)] if not uni.empty else uni
        # one value per seed (the mean over its near-balanced cells): cells of one seed share the baseline
        per_seed = near.groupby("seed")["delta_acc_all"].mean() if len(near) else near
        if len(per_seed) < 2:
            rows.append([claims[1], _verdict_cell("not tested"), "–",
                         f"Too few seeds with uniform runs whose D-ratio +1 is within {near_lo:g}–{near_hi:g} %."])
        else:
            m, lo, hi = t_interval(per_seed.to_numpy(float))
            v = "supported" if lo > 0 else "not supported"
            rows.append([claims[1], _verdict_cell(v),
                         f"{len(near)} uniform cells with D-ratio +1 in {near_lo:g}–{near_hi:g} %, averaged per seed "
                         f"(n={len(per_seed)} seeds): overall change {_fmt_ci(m, lo, hi, unit=' pp')}",
                         "A gain is detectable when the copies are balanced." if v == "supported" else
                         "No significant gain: copies carry no new information about the distribution, they only "
                         "re-weight points already in the training set."])
        bia = ps[ps["scheme"] == "biased"]
        rate = 0.4 if np.isclose(bia["rate"], 0.4).any() else (float(bia["rate"].max()) if len(bia) else None)
        if rate is None:
            rows.append([claims[2], _verdict_cell("not tested"), "–", "Biased scheme not run."])
            rows.append([claims[3], _verdict_cell("not tested"), "–", "Biased scheme not run."])
            return rows
        b = bia[np.isclose(bia["rate"], rate)]
        neg = t_interval(b["delta_acc_neg"].to_numpy(float))
        pos = t_interval(b["delta_acc_pos"].to_numpy(float))
        allc = t_interval(b["delta_acc_all"].to_numpy(float))
        ok = np.isfinite(neg[2]) and neg[2] < 0 and np.isfinite(pos[1]) and pos[1] > 0
        rows.append([claims[2], _verdict_cell("supported" if ok else ("not tested" if not np.isfinite(neg[2]) else
                                                                       "not supported")),
                     f"r = {_rate_str(rate)}: class -1 {_fmt_ci(*neg, unit=' pp')}, "
                     f"class +1 {_fmt_ci(*pos, unit=' pp')} "
                     f"(paired by seed, n={len(b)})",
                     "Over-represented class +1 copies widen its region, as the paper says."
                     if ok else "The per-class changes are not both significant in the claimed direction."])
        if not np.isfinite(allc[2]):
            v = "not tested"
        else:
            v = "supported" if allc[2] < 0 else "not supported"
        size = ""
        drop = 100 * (float(without) - float(with_))  # the paper's drop, in points
        if np.isfinite(allc[1]) and v == "supported":
            inside = allc[1] <= -drop <= allc[2]
            size = (f"the paper's drop of {drop:g} points lies inside our CI" if inside else
                    f"the direction holds but not the size: the paper's drop of {drop:g} points lies outside our CI")
        bayes = self.gauss["bayes_acc"]
        rows.append([claims[3], _verdict_cell(v),
                     f"r = {_rate_str(rate)}: {100 * b['base_acc_all'].mean():.2f} → "
                     f"{100 * b['acc_all'].mean():.2f} %; "
                     f"change {_fmt_ci(*allc, unit=' pp')} (n={len(b)})",
                     _sentences(size, f"their {without.value} without duplicates exceeds the Bayes-optimal "
                                      f"{bayes:.3f}: it is accuracy on their {paper.GAUSS_POINTS} training points "
                                      f"({FACTS['gauss_train_acc'].cite})")])
        return rows

    # ------------------------------------------------------------------ deduplication

    def section_dedup(self) -> dict:
        blocks = []
        if self.dedup is None:
            return {"id": "dedup", "title": "Duplicates in the dataset", "blocks": [self.unavailable("deduplication")]}
        d = self.dedup
        if not d:
            blocks.append(self.unavailable("deduplication summary"))
        facts = [("training images before deduplication", d.get("n_train_before")),
                 ("training images after deduplication", d.get("n_train_after")),
                 ("test images with a duplicate in the training set (leaked)", d.get("n_leaked_test")),
                 ("duplicate pairs whose labels disagree (conflicts)", d.get("n_conflicts"))]
        facts = [[k, v] for k, v in facts if v is not None]
        dd = self.params.get("dedup", {})
        if dd:
            blocks.append(_p(f"Exact duplicates (file and pixel checksums) and near duplicates ({dd.get('hash', '–')} "
                             f"hash, {dd.get('hash_size', '–')}×{dd.get('hash_size', '–')} bits, Hamming distance ≤ "
                             f"{dd.get('threshold', '–')}" + (", flips and 90° rotations included" if dd.get("dihedral")
                                                              else "") + ") were searched within and across splits."))
        else:
            blocks.append(_p("Exact duplicates (checksums) and near duplicates (perceptual hashes) were searched "
                             "within and across splits."))
        if facts:
            blocks.append(_table(["count", "value"], facts, caption="Deduplication"))
        by_kind = d.get("pairs_by_kind") if isinstance(d.get("pairs_by_kind"), dict) else {}
        by_scope = d.get("pairs_by_scope") if isinstance(d.get("pairs_by_scope"), dict) else {}
        if by_kind or by_scope:
            blocks.append(_table(["group", "pairs"], [[f"kind: {k}", v] for k, v in by_kind.items()]
                                 + [[f"scope: {k}", v] for k, v in by_scope.items()], caption="Duplicate pairs"))
            blocks.append(self.figure("dedup_pairs", "Duplicate pairs by kind and scope",
                                      "Number of duplicate pairs found, by kind of match and by split scope.",
                                      figs.dedup_counts, by_kind, by_scope))
        else:
            blocks.append(_note("Not available: pair counts by kind and scope."))
        if self.dedup_per_class is not None:
            pc = self.dedup_per_class
            names = figs._class_names([str(c) for c in pc["class"]], self.classes)
            cols = [c for c in ("train_before", "train_after", "removed") if c in pc]
            blocks.append(_table(["class", *cols], [[names.get(str(r["class"]), r["class"]), *[r[c] for c in cols]]
                                                    for _, r in pc.iterrows()], caption="Training images per class"))
            blocks.append(self.figure("dedup_per_class", "Training images removed per class",
                                      "Training images dropped as duplicates, per class (count).",
                                      figs.dedup_per_class, pc, self.classes))
        else:
            blocks.append(_note("Not available: per-class deduplication counts (per_class.csv)."))
        per_kind = int(self.params.get("report", {}).get("gallery_pairs", 24))
        if self.pairs is not None and self.images is not None and per_kind > 0 and len(self.pairs):
            pairs = self.pairs[(self.pairs["a"] < len(self.images)) & (self.pairs["b"] < len(self.images))
                               & (self.pairs["a"] >= 0) & (self.pairs["b"] >= 0)]
            if len(pairs):
                blocks.append(self.figure("dedup_gallery", "Duplicate pairs",
                                          f"Up to {per_kind} pairs per kind, spread over the distance range "
                                          "(image ids; d = distance in bits for near duplicates).",
                                          figs.dedup_gallery, self.images, pairs, per_kind))
        elif per_kind > 0:
            blocks.append(_note("Not available: the pair gallery needs pairs.parquet and the prepared images."))
        return {"id": "dedup", "title": "Duplicates in the dataset", "blocks": blocks}

    # ------------------------------------------------------------------ accuracy

    def section_accuracy(self) -> dict:
        if self.summary is None:
            return {"id": "accuracy", "title": "Accuracy vs D-rate",
                    "blocks": [self.unavailable("model summary")]}
        s = _with_shared_zero(self.summary)
        blocks = [_p("Clean and PGD accuracy of every trained model, by trainer and duplication scheme. Lines are "
                     "means over seeds, bands 95 % t-intervals over seeds (as in the tables). D-rate 0 is the same "
                     "training set for every scheme.")]
        blocks.append(self.figure("accuracy_vs_rate", "Accuracy vs D-rate",
                                  "Test accuracy (%) vs D-rate r (% added copies); columns: trainer; rows: clean and "
                                  "PGD accuracy; colour/marker: duplication scheme; bands: 95 % CI over seeds.",
                                  figs.accuracy_vs_rate, s))
        rows = []
        metrics = [m for m in ("clean_acc", "robust_acc", "autoattack_acc", "clean_acc_no_leak")
                   if m in s and s[m].notna().any()]
        for (trainer, scheme, rate), g in s.groupby(["trainer", "scheme", "rate"], sort=True):
            row = [trainer, scheme, _rate_str(rate)]
            for m in metrics:
                vals = g.groupby("seed")[m].mean().dropna().to_numpy(float)
                row.append(_fmt_ci(*stats.bounded(t_interval(vals)), unit="") if len(vals) else "–")
            row.append(g["seed"].nunique())
            for extra in ("n_train", "steps", "train_seconds"):
                row.append(f"{g[extra].mean():.0f}" if extra in g and g[extra].notna().any() else "–")
            fav = g["copies_share_favoured"] if "copies_share_favoured" in g else None
            row.append(f"{100 * fav.mean():.1f}" if fav is not None and rate > 0 and fav.notna().any() else "–")
            rows.append(row)
        names = {"clean_acc": "clean %", "robust_acc": "PGD %", "autoattack_acc": "AutoAttack %",
                 "clean_acc_no_leak": "clean, no leaked test %"}
        blocks.append(_table(["trainer", "scheme", "D-rate", *[names[m] for m in metrics], "seeds", "train size",
                              "steps", "train s", "copies to favoured classes %"], rows,
                             caption="Mean [95 % t-interval] over seeds; train size, steps and seconds are means"))
        return {"id": "accuracy", "title": "Accuracy vs D-rate", "blocks": blocks}

    def section_budgets(self) -> dict:
        title = "Equal epochs vs equal steps"
        s = self.summary_all
        if s is None:
            return {"id": "budgets", "title": title, "blocks": [self.unavailable("model summary")]}
        budgets = list(pd.unique(s["budget"].astype(str))) if "budget" in s else []
        if len(budgets) < 2:
            return {"id": "budgets", "title": title, "blocks": [_note(
                "Only one training budget was run" + (f" ({budgets[0]})" if budgets else "") + ". Set "
                "grid.budgets: [epochs, steps] in params.yaml to see whether duplicates change accuracy by what "
                "they show the model or by the extra optimizer steps they bring.")]}
        blocks = [_p("With the additive protocol a variant at D-rate r has (1 + r) times the images, so at equal "
                     "epochs it also gets (1 + r) times the optimizer steps. Training every variant for the same "
                     "number of steps separates the two: a change that remains at equal steps comes from the "
                     "duplicates themselves, a change that disappears came from the extra compute.")]
        if "same_run_as" in s and s["same_run_as"].fillna("").astype(str).ne("").any():
            blocks.append(_p("At D-rate 0 the two budgets are one run (the same images, optimizer steps and seed): "
                             "it was trained and evaluated once, under equal epochs, and is shown under both."))
        s = _with_shared_zero(s)
        blocks.append(self.figure("budgets", title,
                                  "Test accuracy (%) vs D-rate r (% added copies) under equal epochs and equal "
                                  "optimizer steps; columns: trainer; rows: clean and PGD accuracy; style: scheme; "
                                  "bands: 95 % CI over seeds.", figs.budget_comparison, s))
        rows = []
        top = max(s["rate"])
        for trainer in figs._order(s["trainer"], figs.TRAINERS):
            for scheme in figs._order(s.loc[s["rate"] > 0, "scheme"], figs.SCHEMES):
                for metric, name in (("clean_acc", "clean"), ("robust_acc", "PGD")):
                    row = [trainer, scheme, name, _rate_str(top)]
                    for b in allowed("budget"):
                        f = s[s["budget"].astype(str) == b]
                        row.append(_diff_text(_diff(f, metric, trainer, scheme, top)))
                    rows.append(row)
        blocks.append(_table(["trainer", "scheme", "accuracy", "D-rate",
                              *(f"change vs D-rate 0, equal {b}" for b in allowed("budget"))], rows,
                             caption="Mean accuracy at D-rate 0 → at the highest D-rate, and the change in percentage "
                                     "points with its 95 % t-interval"))
        return {"id": "budgets", "title": title, "blocks": blocks}

    def section_per_class(self) -> dict:
        if self.per_class is None:
            return {"id": "per-class", "title": "Per-class accuracy",
                    "blocks": [self.unavailable("per-class accuracy")]}
        favoured = self.params.get("variants", {}).get("biased", {}).get("favoured_classes", [])
        blocks = [_p("Change of each class's accuracy relative to the same trainer at D-rate 0 (percentage points, "
                     "mean over seeds). Class bias is the mechanism the paper proposes: under biased duplication the "
                     "favoured classes (marked *) should gain and the others lose.")]
        blocks.append(self.figure("per_class", "Per-class accuracy change",
                                  "Per-class accuracy minus the class's accuracy at D-rate 0 (pp); columns: scheme, "
                                  "x: D-rate (%); * = favoured class of the biased scheme.",
                                  figs.per_class_heatmap, self.per_class, self.classes, favoured))
        return {"id": "per-class", "title": "Per-class accuracy", "blocks": blocks}

    def section_convergence(self) -> dict:
        if self.curves is None:
            return {"id": "convergence", "title": "Convergence", "blocks": [self.unavailable("training curves")]}
        blocks = [_p("Training loss per optimizer step (equal compute) and training accuracy per epoch (equal passes; "
                     "with the additive protocol an epoch over a larger variant has more steps). Bands: 95 % CI over "
                     "seeds; long runs are averaged into step bins.")]
        curves = _with_shared_zero(self.curves)
        blocks.append(self.figure("convergence_loss", "Training loss vs optimizer steps",
                                  "Training loss (cross-entropy) vs optimizer steps; colour: D-rate (%).",
                                  figs.convergence, curves, "step", "loss"))
        if "epoch" in curves and "train_acc" in curves and curves["train_acc"].notna().any():
            blocks.append(self.figure("convergence_acc", "Training accuracy vs epoch",
                                      "Training accuracy (%) at the end of each epoch; colour: D-rate (%).",
                                      figs.convergence, curves, "epoch", "train_acc"))
        return {"id": "convergence", "title": "Convergence", "blocks": blocks}

    def section_leakage(self) -> dict:
        blocks = []
        n_leak = (self.dedup or {}).get("n_leaked_test")
        if n_leak is not None:
            blocks.append(_p(f"{n_leak} test images have an exact or near duplicate in the training set. Clean "
                             "accuracy is reported on the whole test set and without those images."))
        s = self.summary
        if s is None or "clean_acc_no_leak" not in s or s["clean_acc_no_leak"].isna().all():
            blocks.append(_note("Not available: no accuracy without leaked test images "
                                + ("(model summary missing)." if s is None else "(column clean_acc_no_leak empty).")))
            return {"id": "leakage", "title": "Train/test leakage", "blocks": blocks}
        s = _with_shared_zero(s)
        blocks.append(self.figure("leakage", "Clean accuracy with and without leaked test images",
                                  "Clean test accuracy (%) on all test images and on the test set without images "
                                  "that have a duplicate in training; bands: 95 % CI over seeds.",
                                  figs.leak_effect, s))
        once = _each_model_once(self.summary)
        gain = once.assign(gain=once["clean_acc"] - once["clean_acc_no_leak"]).dropna(subset=["gain"])
        rows = []
        for trainer, g in gain.groupby("trainer"):
            # models of one seed share their test images and initialisation: one value per seed
            per_seed = g.groupby("seed")["gain"].mean().to_numpy(float)
            rows.append([trainer, _fmt_ci(*t_interval(per_seed), unit=" pp"), len(g), len(per_seed)])
        blocks.append(_table(["trainer", "all − without leaked (mean [95 % CI] over seeds)", "models", "seeds"], rows,
                             caption="Accuracy gained from leaked test images (each model counted once; the mean "
                                     "over a seed's models is one value)"))
        return {"id": "leakage", "title": "Train/test leakage", "blocks": blocks}

    # ------------------------------------------------------------------ Gaussian

    def section_gaussian(self) -> dict:
        title = "The 2-D Gaussian study"
        if self.gauss is None:
            return {"id": "gaussian", "title": title, "blocks": [self.unavailable("Gaussian study")]}
        meta = self.gauss.get("meta", {})
        st = meta.get("settings", {}) or dict(self.params.get("gaussian", {}))
        seeds = st.get("seeds")
        n_seeds = len(seeds) if isinstance(seeds, list) else seeds
        bayes = self.gauss["bayes_acc"]
        blocks = [_p(
            _sentences(_said("gauss_setup"))
            + f" Here the same distributions, {st.get('n_per_class', '–')} training samples per class, SVM with RBF "
            f"kernel (C = {st.get('svm_c', '–')}, gamma = 'scale'). D-rate r = added copies / 2·n_per_class. "
            f"Uniform: copies drawn uniformly from all training samples; biased: exactly a share "
            f"{st.get('favoured_share', '–')} of the copies from class +1 (rounded), as in the image variants. "
            + _sentences(_said("gauss_weights"), _said("gauss_label"))
            + f" Rerun over {n_seeds} seeds, each evaluated on {st.get('test_samples', '–')} independent test "
            "points; the model without duplicates uses the same seed's training data and test points, so changes are "
            "paired."),
            _p(f"Bayes-optimal accuracy Φ(Δ/2) = {bayes:.4f} (Δ = Mahalanobis distance between the means = "
               f"{2 * stats.norm_ppf(bayes):.4f}). No classifier exceeds it in expectation; the paper's "
               f"{FIGURES['gauss_biased_40_without'].value} does, because of how it is measured. "
               + _sentences(_said("gauss_train_acc")))]
        gs = self.gauss["summary"]
        blocks.append(self.figure("gaussian_accuracy", "Gaussian study: accuracy vs D-rate",
                                  "Top: accuracy (%) per class and overall, with duplicates (solid, 95 % t-interval "
                                  "bands) and without (dashed); dotted: Bayes-optimal. Bottom: change vs no duplicates "
                                  "(pp, paired by seed).",
                                  figs.gaussian_accuracy, gs, bayes))
        blocks.append(self.figure("gaussian_d_ratio", "Gaussian study: D-ratio +1",
                                  "Share of the added copies that come from class +1 (%), mean and 95 % CI over seeds.",
                                  figs.gaussian_d_ratio, gs, st.get("favoured_share")))
        if self.gauss.get("grids"):
            grids = self.gauss["grids"]
            blocks.append(self.figure("gaussian_boundaries", "Gaussian study: decision boundaries",
                                      f"Seed {grids.get('seed', 0)}: training points, copied points (circle size = "
                                      "number of copies) and the SVM boundary without and with duplicates; dotted: "
                                      "Bayes-optimal boundary. Axes in feature units.",
                                      figs.gaussian_boundaries, grids, meta.get("bayes_boundary")))
        rows = []
        piv = gs.pivot_table(index=["scheme", "rate"], columns="metric", values=["mean", "ci_low", "ci_high"])
        for (scheme, rate) in piv.index:
            def cell(metric, scale=100.0, unit="", scheme=scheme, rate=rate):
                try:
                    return _fmt_ci(scale * piv.loc[(scheme, rate), ("mean", metric)],
                                   scale * piv.loc[(scheme, rate), ("ci_low", metric)],
                                   scale * piv.loc[(scheme, rate), ("ci_high", metric)], unit=unit)
                except KeyError:
                    return "–"
            rows.append([scheme, _rate_str(rate), cell("acc_neg"), cell("acc_pos"), cell("acc_all"),
                         cell("base_acc_all"), cell("delta_acc_all"), cell("d_ratio_pos")])
        blocks.append(_table(["scheme", "D-rate", "class −1 %", "class +1 %", "overall %", "overall, no duplicates %",
                              "overall change pp", "D-ratio +1 %"], rows,
                             caption="Gaussian study: mean [95 % t-interval] over seeds"))
        return {"id": "gaussian", "title": title, "blocks": blocks}

    # ------------------------------------------------------------------ provenance

    def section_provenance(self, provenance: dict, seconds: float) -> dict:
        rows = _flatten({k: v for k, v in provenance.items() if k != "stage_times"}) if provenance else []
        source = (self.meta or {}).get("source")
        rows = _flatten({"dataset_source": source}) + rows if source else rows
        blocks = []
        if rows:
            blocks.append(_table(["key", "value"], [[k, v] for k, v in rows], caption="Provenance", css="provenance"))
        else:
            blocks.append(_note("Not available: no provenance was given."))
        stage_times = (provenance or {}).get("stage_times") or []
        if stage_times:
            order = {name: i for i, name in enumerate(STAGE_ORDER)}
            rows = [[t["stage"], t["jobs"], f"{t['total_s']:.1f}", f"{t['mean_s']:.2f}", f"{t['max_s']:.1f}"]
                    for t in sorted(stage_times, key=lambda t: order.get(t["stage"], len(order)))]
            blocks.append(_table(["stage", "jobs", "total s", "mean s per job", "max s"], rows,
                                 caption="Wall time per stage (latest run of each job, from logs/stage_times.jsonl; "
                                         "jobs ran in parallel, so totals are compute time, not elapsed time)"))
        else:
            blocks.append(_note("Not available: no stage times were recorded (logs/stage_times.jsonl)."))
        blocks.append(_p(f"Report built in {seconds:.1f} s."))
        if self.missing:
            blocks.append(_table(["input", "status"], [[k, v] for k, v in sorted(self.missing.items())],
                                 caption="Inputs that were not available"))
        return {"id": "provenance", "title": "Provenance", "blocks": blocks}


def _recipe_text(train: dict) -> str:
    """The training recipe in a few words (train.recipe; onecycle when absent)."""
    if train.get("recipe") == "airbench":
        return (f"airbench94's recipe (Nesterov SGD at lr {train.get('airbench', {}).get('lr', '–')} per 1024 "
                "examples, triangular schedule, lookahead)")
    return f"SGD lr {train.get('lr', '–')}, one-cycle schedule"
