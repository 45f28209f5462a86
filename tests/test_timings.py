"""Stage wall times: recorded by every stage run, summarised for the report's provenance."""

import json

from dupstudy import stage, timings
from dupstudy.report import build_report


def _run_stage(tmp_path, monkeypatch, seed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((_repo_params()).read_text())
    argv = ["--prepared", "p", "--dedup", "d", "--out", "o", "--scheme", "uniform", "--rate", "0.3",
            "--seed", str(seed)]
    stage.run(lambda args, params: "ok", "variant", argv=argv)


def _repo_params():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "params.yaml"


def test_stage_run_records_its_time(tmp_path, monkeypatch):
    _run_stage(tmp_path, monkeypatch, 0)
    _run_stage(tmp_path, monkeypatch, 1)
    _run_stage(tmp_path, monkeypatch, 1)  # a rerun replaces, not adds
    lines = [json.loads(x) for x in (tmp_path / "logs/stage_times.jsonl").read_text().splitlines()]
    assert [x["cell"] for x in lines] == [f"scheme=uniform/rate=0.3/seed={s}" for s in (0, 1, 1)]
    assert all(x["stage"] == "variant" and x["seconds"] >= 0 for x in lines)
    (summary,) = timings.summarise(tmp_path / "logs/stage_times.jsonl")
    assert summary["stage"] == "variant" and summary["jobs"] == 2


def test_summary_skips_torn_lines_and_keeps_latest(tmp_path):
    log = tmp_path / "t.jsonl"
    log.write_text('{"stage": "train", "cell": "seed=0", "seconds": 5}\n'
                   '{"stage": "train", "cell": "seed=0", "seconds": 7}\n'
                   '{"stage": "train", "cell": "seed=1", "seconds": 3}\n'
                   '{"stage": "evaluate", "cell": "seed=0", "sec')
    (train,) = timings.summarise(log)
    assert train == {"stage": "train", "jobs": 2, "total_s": 10.0, "mean_s": 5.0, "max_s": 7.0}


def test_unwritable_log_does_not_fail_the_job(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    timings.record("train", {"seed": 0}, 1.0, path=blocker / "sub" / "t.jsonl")  # parent is a file


def test_report_shows_stage_times(tmp_path):
    prov = {"git_commit": "abc", "stage_times": [{"stage": "train", "jobs": 4, "total_s": 12.5, "mean_s": 3.12,
                                                  "max_s": 4.0}]}
    out = tmp_path / "index.html"
    build_report(out, tmp_path / "figures", params={}, summary_csv=None, curves_csv=None, per_class_csv=None,
                 gaussian_dir=None, dedup_dir=None, prepared_meta=None, provenance=prov)
    html = out.read_text()
    assert "Wall time per stage" in html and "12.5" in html and "3.12" in html
    assert "<td>stage_times" not in html  # shown as a table, not flattened into the key/value list
