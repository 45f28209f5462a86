"""The report's HTML: the template, the blocks a section is made of, and how numbers and sentences are written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# files beside this module that the report is made of (codedeps: their edits rerun the report)
ASSETS = ("template.html",)


def _render(**ctx) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(ASSETS[0]).render(**ctx)


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


def _restarts(n) -> str:
    return "– restarts" if n is None else f"{n} restart" + ("" if n == 1 else "s")


def _pixels(v) -> str:
    """A perturbation size in [0, 1] pixel units as papers write it: 8/255 where it is whole 255ths, else 4 digits."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return "–" if v is None else str(v)
    k = v * 255
    return f"{round(k)}/255" if k >= 0.5 and abs(k - round(k)) < 1e-6 else f"{v:.4g}"


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
