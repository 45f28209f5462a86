"""`dupstudy snapshot`: keep a finished run as a dated folder under reports/, to commit.

It holds what a reader needs to check the run, and no model weights: the HTML report and its
figures, the results tables and DVC metrics, the dedup summary and the review decisions it
applied, the params the run used, the stage timings log, and RUN.md with the commit, the machine
and the wall time. Paths come from the pipeline description, so a snapshot holds the same files
whichever tool ran the study.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from .errors import BadInput
from .pipeline import STAGES


def files(root: Path) -> dict[str, Path]:
    """Name in the snapshot -> file or folder of the run; the report is required, the rest optional."""
    report = STAGES["report"].outputs
    agg = STAGES["aggregate"].outputs
    return {"index.html": root / report["out"], "figures": root / report["figures"],
            **{Path(agg[k]).name: root / agg[k] for k in ("summary", "per_class", "curves", "metrics")},
            "dedup_summary.json": root / STAGES["dedup"].outputs["out"] / "summary.json",
            "dedup_decisions.csv": root / STAGES["dedup"].outputs["out"] / "decisions.csv",  # the review's, if any
            "dataset_meta.json": root / STAGES["ingest"].outputs["out"] / "meta.json",
            "params.yaml": root / "params.yaml", "stage_times.jsonl": root / "logs/stage_times.jsonl"}


def relink(html: str, sources: dict[str, Path]) -> str:
    """The report links its inputs relative to its own folder in the run (../results/summary.csv);
    in the snapshot each copied input sits beside it under its snapshot name, and a link to an
    input that was not copied would lead nowhere, so it keeps its text and loses its target."""
    here = sources["index.html"].parent
    copied = {os.path.relpath(src, here): name for name, src in sources.items() if src.exists()}
    if sources["dedup_summary.json"].exists():  # the report links the dedup folder; its summary is what is kept
        copied[os.path.relpath(sources["dedup_summary.json"].parent, here)] = "dedup_summary.json"

    def target(match: re.Match) -> str:
        href = match.group(1)
        if not href.startswith("../"):
            return match.group(0)
        return f'<a href="{copied[href]}">' if href in copied else "<a>"
    return re.sub(r'<a href="([^"]*)">', target, html)


def wall_seconds(log: Path) -> float | None:
    """From the first job's start to the last job's end, from the stage timings log (timings.py)."""
    spans = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []:
        try:
            e = json.loads(line)
            end = datetime.fromisoformat(e["finished"]).timestamp()
            spans.append((end - float(e["seconds"]), end))
        except (ValueError, KeyError, TypeError):
            continue
    return max(e for _, e in spans) - min(s for s, _ in spans) if spans else None


def take(root: Path, dest: Path, note: str = "") -> Path:
    from . import provenance, timings
    from .io import atomic_path
    from .presets import matching
    from .summary import one_line

    sources = files(root)
    if not sources["index.html"].exists():
        raise BadInput(f"{sources['index.html']}: no report to keep; finish a run first (snakemake --cores all)")
    prov = provenance.collect(root / "dvc.lock")
    preset = matching(root / "params.yaml", root)
    wall = wall_seconds(sources["stage_times.jsonl"])
    stages = timings.summarise(sources["stage_times.jsonl"])
    with atomic_path(dest, is_dir=True) as tmp:
        for name, src in sources.items():
            if src.is_dir():
                shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns(".*"))  # markers, stamps
            elif src.exists():
                shutil.copy2(src, tmp / name)
        html = tmp / "index.html"
        html.write_text(relink(html.read_text(encoding="utf-8"), sources), encoding="utf-8")
        lines = [f"# Snapshot of a run ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
                 f"- preset: {preset.name if preset else 'none (params.yaml edited)'}",
                 f"- commit: {prov['git_commit']}" + (" (with uncommitted changes)" if prov["git_dirty"] else ""),
                 f"- machine: {_cpu_name()}, {os.cpu_count()} cores, GPU: {prov['gpu']}; {prov['platform']}; "
                 f"Python {prov['python']}, torch {prov['packages'].get('torch', '?')}",
                 "- wall time of the stage jobs, first start to last end: "
                 + (f"{wall / 60:.1f} min" if wall is not None else "unknown (no stage timings log)"),
                 f"- summary: {one_line(root)}", ""]
        if note:
            lines += [note, ""]
        if stages:
            lines += ["| stage | jobs | job s, summed | mean s | max s |", "|---|---|---|---|---|"]
            lines += [f"| {s['stage']} | {s['jobs']} | {s['total_s']} | {s['mean_s']} | {s['max_s']} |" for s in stages]
            lines.append("")
        lines.append("No model weights are kept. Links from the report to the dedup review pages point into the "
                     "run's data/ folder and do not resolve here.")
        (tmp / "RUN.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_dest(root: Path) -> Path:
    from .presets import matching

    preset = matching(root / "params.yaml", root)
    try:
        name = json.loads(files(root)["dataset_meta.json"].read_text())["dataset"]
    except (OSError, ValueError, KeyError):
        name = "run"
    return root / "reports" / f"{datetime.now(UTC):%Y-%m-%d}-{preset.name if preset else name}"
