"""The one-line summary a finished run prints."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def one_line(root: str | Path = ".") -> str:
    root = Path(root)
    parts = [f"report: {root / 'reports/index.html'}"]
    dedup = root / "data/dedup/summary.json"
    if dedup.exists():
        s = json.loads(dedup.read_text())
        parts.append(f"dedup kept {s['n_train_after']}/{s['n_train_before']} train images, "
                     f"{s['n_leaked_test']} test images leaked")
    summary = root / "results/summary.csv"
    if summary.exists():
        df = pd.read_csv(summary)
        parts.append(f"{len(df)} models")
        if "budget" in df and (df["budget"] == "epochs").any():
            df = df[df["budget"] == "epochs"]  # the paper's protocol; the report has the equal-steps view
        for trainer, g in df.groupby("trainer"):
            lo, hi = g[g.rate == g.rate.min()], g[g.rate == g.rate.max()]
            parts.append(f"{trainer}: clean {lo.clean_acc.mean():.3f} at r={lo.rate.iloc[0]:g} -> "
                         f"{hi.clean_acc.mean():.3f} at r={hi.rate.iloc[0]:g}")
    return "; ".join(parts)
