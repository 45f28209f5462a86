"""`dupstudy snapshot`: a finished run kept under reports/ without weights, with its wall time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dupstudy.errors import BadInput
from dupstudy.snapshot import take, wall_seconds

BIN = Path(sys.executable).parent


def _run(root: Path) -> None:
    (root / "reports/figures").mkdir(parents=True)
    (root / "reports/index.html").write_text("<html>report</html>")
    (root / "reports/figures/accuracy.png").write_bytes(b"png")
    (root / "reports/figures/.snakemake_timestamp").write_text("")
    (root / "results/models/epochs/uniform/r0.0/standard/s0").mkdir(parents=True)
    (root / "results/models/epochs/uniform/r0.0/standard/s0/model.pt").write_bytes(b"weights")
    (root / "results/summary.csv").write_text("budget,trainer,rate,clean_acc\nepochs,standard,0.0,0.75\n")
    (root / "results/metrics.json").write_text("{}")
    (root / "params.yaml").write_text("dataset: {name: cifar10}\n")
    (root / "data/dedup").mkdir(parents=True)
    (root / "data/dedup/decisions.csv").write_text("a,b,decision\nx.png,y.png,keep_both\n")  # the review's
    (root / "logs").mkdir()
    lines = [{"stage": "ingest", "cell": "", "seconds": 60.0, "finished": "2026-11-27T10:01:00+00:00"},
             {"stage": "train", "cell": "seed=0", "seconds": 600.0, "finished": "2026-11-27T10:30:00+00:00"},
             {"stage": "report", "cell": "", "seconds": 30.0, "finished": "2026-11-27T10:45:00+00:00"}]
    (root / "logs/stage_times.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn')


def test_snapshot_keeps_the_report_and_tables_not_the_weights(tmp_path):
    _run(tmp_path)
    dest = take(tmp_path, tmp_path / "reports/2026-11-27-test")
    kept = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert {"index.html", "figures/accuracy.png", "summary.csv", "metrics.json", "params.yaml",
            "stage_times.jsonl", "RUN.md", "dedup_decisions.csv"} <= set(kept)
    assert not any(k.endswith(".pt") or k.startswith("figures/.") for k in kept)
    run_md = (dest / "RUN.md").read_text()
    assert "wall time of the stage jobs, first start to last end: 45.0 min" in run_md  # 10:00 to 10:45
    assert "| train | 1 | 600.0 |" in run_md and "report: " in run_md


def test_links_to_the_run_s_inputs_lead_to_the_copies_or_nowhere(tmp_path):
    _run(tmp_path)
    (tmp_path / "reports/index.html").write_text(
        '<a href="../results/summary.csv">summary</a> <a href="../results/gaussian">Gaussian study</a> '
        '<a href="figures/accuracy.png">figure</a> <a href="https://arxiv.org/abs/2504.00638">paper</a>')
    html = (take(tmp_path, tmp_path / "reports/snap") / "index.html").read_text()
    assert '<a href="summary.csv">summary</a>' in html            # copied beside the report
    assert "<a>Gaussian study</a>" in html                        # not kept: text without a target
    assert '<a href="figures/accuracy.png">' in html and '<a href="https://arxiv.org/abs/2504.00638">' in html


def test_wall_time_spans_first_start_to_last_end(tmp_path):
    _run(tmp_path)
    assert wall_seconds(tmp_path / "logs/stage_times.jsonl") == 45 * 60
    assert wall_seconds(tmp_path / "missing.jsonl") is None


def test_no_report_no_snapshot(tmp_path):
    with pytest.raises(BadInput, match="no report to keep"):
        take(tmp_path, tmp_path / "reports/x")
    out = subprocess.run([str(BIN / "dupstudy"), "snapshot", "--root", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "no report to keep" in out.stderr
