"""Wall time of every stage job, for the report's provenance.

Each finished job appends one JSON line to logs/stage_times.jsonl (override with the
DUPSTUDY_TIMINGS environment variable). Lines are small single writes to a file opened
for appending, so parallel jobs do not interleave them. The log is a record, not a
pipeline output: a rerun of a job adds a line and the summary keeps the latest one.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from .grid import label

DEFAULT = Path("logs/stage_times.jsonl")


def log_path() -> Path:
    return Path(os.environ.get("DUPSTUDY_TIMINGS") or DEFAULT)


def record(stage: str, cell: dict, seconds: float, path: Path | None = None) -> None:
    path = path or log_path()
    entry = {"stage": stage, "cell": label(cell),
             "seconds": round(seconds, 3), "finished": datetime.now(UTC).isoformat(timespec="seconds"),
             "host": platform.node()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError:
        pass  # timing is a record for the report; a read-only log folder must not fail the job


def summarise(path: Path | None = None) -> list[dict]:
    """Per stage: jobs, total, mean and max seconds, from the latest line of each (stage, cell)."""
    path = path or log_path()
    if not path.exists():
        return []
    latest: dict[tuple[str, str], dict] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            e = json.loads(line)
            latest[(e["stage"], e["cell"])] = e
        except (ValueError, KeyError, TypeError):
            continue  # a torn line from a killed job
    by_stage: dict[str, list[float]] = {}
    for (stage, _), e in latest.items():
        by_stage.setdefault(stage, []).append(float(e["seconds"]))
    return [{"stage": s, "jobs": len(v), "total_s": round(sum(v), 1), "mean_s": round(sum(v) / len(v), 2),
             "max_s": round(max(v), 1)} for s, v in by_stage.items()]
