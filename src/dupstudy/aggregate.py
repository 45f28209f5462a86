"""Collect every cell's metrics and curve into tables, and mean +- 95 % CI over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .grid import MODEL_GROUP, VARIANT, cell_path, cells, rate_dir
from .io import read_json, read_npy
from .stats import mean_ci
from .variants import describe

METRICS = ["clean_acc", "robust_acc", "clean_acc_no_leak", "robust_acc_no_leak"]
# only in cells evaluated with attack.autoattack; a column or metric that no cell has stays absent
OPTIONAL_METRICS = ["autoattack_acc", "autoattack_acc_no_leak"]


def collect(grid: dict, metrics_dir: Path, curves_dir: Path, variants_dir: Path, labels: np.ndarray,
            classes: list[str], favoured_classes) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary: one row per cell, per_class: one row per cell and class, curves: one row per epoch).

    A cell that is another cell's run (runs.py) gets that run's results and names its budget in
    `same_run_as` (empty for a cell that trained its own model)."""
    rows, per_class, curves = [], [], []
    for key in cells(grid):
        cell = cell_path(key)
        m = read_json(Path(metrics_dir) / f"{cell}.json")
        owner = m.get("same_as", "")
        if owner:  # another cell's run (runs.py): its results, under this cell's key, marked
            cell = m["cell"]
            m = read_json(Path(metrics_dir) / f"{cell}.json")
        c = read_json(Path(curves_dir) / f"{cell}.json")
        v = describe(read_npy(Path(variants_dir) / f"{cell_path(key, VARIANT)}.npy"), labels, favoured_classes)
        last = c["curve"][-1]
        rows.append({**key, "same_run_as": owner, "n_train": v["n_train"], "n_unique": v["n_unique"],
                     "n_copies": v["n_copies"],
                     "copies_share_favoured": v["copies_share_favoured"],
                     **{k: m[k] for k in METRICS}, "n_test": m["n_test"], "n_leaked": m["n_leaked"],
                     **{k: m[k] for k in [*OPTIONAL_METRICS, "autoattack_n_test", "robust_n_test"] if k in m},
                     "epochs": last["epoch"], "steps": last["step"], "train_seconds": last["seconds"]})
        per_class += [{**key, "class": pc["class"], "clean_acc": pc["clean_acc"], "robust_acc": pc["robust_acc"]}
                      for pc in m["per_class"]]
        curves += [{**key, **point} for point in c["curve"]]
    return pd.DataFrame(rows), pd.DataFrame(per_class), pd.DataFrame(curves)


def metrics_tree(summary: pd.DataFrame) -> dict:
    """Nested {budget: {trainer: {scheme: {r<rate>: {metric: mean, metric_ci95: half}}}}} for `dvc metrics show`."""
    tree: dict = {}
    for (budget, scheme, rate, trainer), group in summary.groupby(list(MODEL_GROUP), sort=True):
        node = (tree.setdefault(budget, {}).setdefault(trainer, {}).setdefault(scheme, {})
                .setdefault(rate_dir(rate), {}))
        for metric in METRICS + [k for k in OPTIONAL_METRICS if k in group]:
            mean, half = mean_ci(group[metric].to_numpy())
            if metric in OPTIONAL_METRICS and np.isnan(mean):
                continue  # no seed of this cell has it
            node[metric] = round(mean, 5)
            node[f"{metric}_ci95"] = None if np.isnan(half) else round(half, 5)
        node["seeds"] = int(len(group))
    return tree
