"""Tolerant reading of the report's inputs: a missing or unreadable file is noted, never raised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .verdicts import _percent_scale

SUMMARY_COLUMNS = ["scheme", "rate", "trainer", "seed", "clean_acc"]
CURVE_COLUMNS = ["scheme", "rate", "trainer", "seed", "step", "loss"]
PER_CLASS_COLUMNS = ["scheme", "rate", "trainer", "seed", "class", "clean_acc"]
ACC_COLUMNS = ["clean_acc", "robust_acc", "clean_acc_no_leak", "robust_acc_no_leak", "autoattack_acc",
               "autoattack_acc_no_leak"]


class _Inputs:
    """The _Builder's reading: each input into an attribute, or a reason in self.missing."""

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
        except Exception as err:  # noqa: BLE001 - pandas raises many types for a bad CSV: named in the page
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
        except Exception as err:  # noqa: BLE001 - a bad study folder is named in the page, the rest renders
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
            except Exception as err:  # noqa: BLE001 - an unreadable optional input is listed as a problem
                self.problems.append(f"deduplication per_class.csv could not be read ({err})")
        if (d / "pairs.parquet").is_file():
            try:
                pairs = pd.read_parquet(d / "pairs.parquet")
                if {"a", "b", "kind", "distance"} <= set(pairs):
                    self.pairs = pairs
            except Exception as err:  # noqa: BLE001 - an unreadable optional input is listed as a problem
                self.problems.append(f"deduplication pairs.parquet could not be read ({err})")
        if prepared_meta is not None and (Path(prepared_meta).parent / "images.npy").is_file():
            try:
                self.images = np.load(Path(prepared_meta).parent / "images.npy", mmap_mode="r", allow_pickle=False)
            except Exception as err:  # noqa: BLE001 - an unreadable optional input is listed as a problem
                self.problems.append(f"prepared images.npy could not be read ({err})")
