"""The one-line summary of a finished run: `dupstudy summary`, printed after `snakemake` (the
Snakefile's onsuccess) and after `dupstudy dvc repro`. Paths come from the pipeline description."""

from __future__ import annotations

import json
from pathlib import Path

from .pipeline import STAGES


def one_line(root: str | Path = ".") -> str:
    root = Path(root)
    report = root / STAGES["report"].outputs["out"]
    if not report.exists():
        return f"no report yet ({report}): run `snakemake --cores all` or `dupstudy dvc repro`"
    parts = [f"report: {report}"]
    dedup = root / STAGES["dedup"].outputs["out"] / "summary.json"
    if dedup.exists():
        s = json.loads(dedup.read_text())
        parts.append(f"dedup kept {s['n_train_after']}/{s['n_train_before']} train images, "
                     f"{s['n_leaked_test']} test images leaked")
    summary = root / STAGES["aggregate"].outputs["summary"]
    if summary.exists():
        import pandas as pd

        df = pd.read_csv(summary)
        parts.append(f"{len(df)} models")
        if "budget" in df and (df["budget"] == "epochs").any():
            df = df[df["budget"] == "epochs"]  # the paper's protocol; the report has the equal-steps view
        for trainer, g in df.groupby("trainer"):
            lo, hi = g[g.rate == g.rate.min()], g[g.rate == g.rate.max()]
            parts.append(f"{trainer}: clean {lo.clean_acc.mean():.3f} at r={lo.rate.iloc[0]:g} -> "
                         f"{hi.clean_acc.mean():.3f} at r={hi.rate.iloc[0]:g}")
    return "; ".join(parts)
