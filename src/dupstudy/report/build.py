"""Build the study report: one self-contained HTML file (figures embedded as base64 PNG).

Every input other than params is optional: a missing or unreadable file becomes a short
"not available" note in its section, never an exception. Figures are also written as PNG and
SVG into figures_dir. All outputs are written atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ..io import atomic_path
from ..params import section_defaults, with_defaults
from . import figures as figs
from . import paper
from .claims import _Claims
from .html import _note, _render
from .inputs import CURVE_COLUMNS, PER_CLASS_COLUMNS, SUMMARY_COLUMNS, _Inputs
from .paper import FACTS
from .sections import _Sections

# ============================================================================ entry point

def build_report(out_html: Path, figures_dir: Path, *, params: dict, summary_csv: Path | None, curves_csv: Path | None,
                 per_class_csv: Path | None, gaussian_dir: Path | None, dedup_dir: Path | None,
                 prepared_meta: Path | None, provenance: dict | None, preset: str | None = None) -> None:
    """Render the report to out_html and its figures (PNG + SVG) to figures_dir."""
    start = time.perf_counter()
    figs.setup()
    b = _Builder(Path(out_html), Path(figures_dir), with_defaults(params or {}))
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
    html = _render(title=b.params.get("report", section_defaults("report"))["title"],
                   sections=sections, problems=b.problems, scope=b.scope("models"),
                   generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")


# ============================================================================ the builder

class _Builder(_Inputs, _Claims, _Sections):
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
                               if "dataset" in self.params and self.params["dataset"]["train_share"] != 1 else "")
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
