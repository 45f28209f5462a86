"""The whole pipeline on the embedded digits, run for real by DVC and by Snakemake."""

import json

import pandas as pd
import pytest
from pipeline_project import BIN, TINY, dvc_stages_run, edit_params, make, merge, run, snakemake_jobs

pytestmark = pytest.mark.slow
N_MODELS = 8  # 2 schemes x 2 rates x 2 trainers x 1 seed
# The DVC project trains both budgets on one scheme (the Snakemake one covers both schemes).
BOTH_BUDGETS = merge(TINY, {"grid": {"budgets": ["epochs", "steps"], "schemes": ["uniform"]}})
N_DVC = 8  # 2 budgets x 1 scheme x 2 rates x 2 trainers x 1 seed
N_VARIANTS_DVC = 2


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory):
    root = make(tmp_path_factory.mktemp("dvc_project"), overrides=BOTH_BUDGETS)
    first = run([str(BIN / "dvc"), "repro"], root)
    return root, first.stdout + first.stderr


def test_dvc_repro_runs_every_stage_and_writes_the_report(dvc_project):
    root, log = dvc_project
    ran = dvc_stages_run(log)
    assert len(ran) == 5 + N_VARIANTS_DVC + 2 * N_DVC  # ingest dedup aggregate gaussian report + variants + train/eval
    html = (root / "reports/index.html").read_text()
    assert "<html" in html.lower() and len(html) > 5000
    assert (root / "reports/figures/budgets.png").is_file()  # equal epochs vs equal steps
    summary = pd.read_csv(root / "results/summary.csv")
    assert len(summary) == N_DVC
    # Equal steps: every variant gets the optimizer steps of D-rate 0; equal epochs: larger variants get more.
    steps = summary.groupby(["budget", "rate"])["steps"].agg(["min", "max"])
    assert steps.loc[("steps", 0.5), "min"] == steps.loc[("steps", 0.5), "max"] == steps.loc[("epochs", 0.0), "max"]
    assert steps.loc[("epochs", 0.5), "min"] > steps.loc[("epochs", 0.0), "max"]
    assert summary["clean_acc"].between(0.3, 1).all()  # trained, well above the 0.1 of chance
    assert (summary["robust_acc"] <= summary["clean_acc"]).all()
    metrics = json.loads((root / "results/metrics.json").read_text())
    assert set(metrics) == {"epochs", "steps"} and set(metrics["epochs"]) == {"standard", "pgd"}
    assert (root / "dvc.lock").exists()


def test_second_dvc_repro_runs_nothing(dvc_project):
    root, _ = dvc_project
    again = run([str(BIN / "dvc"), "repro"], root)
    assert dvc_stages_run(again.stdout + again.stderr) == []
    assert run([str(BIN / "dvc"), "status"], root).stdout.strip().endswith("up to date.")


def test_snakemake_after_dvc_repro_has_nothing_to_do(dvc_project):
    root, _ = dvc_project
    dry = run([str(BIN / "snakemake"), "-n", "--cores", "1"], root)
    assert snakemake_jobs(dry.stdout + dry.stderr) == [], dry.stdout[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_dvc_metrics_show_reads_the_aggregate(dvc_project):
    root, _ = dvc_project
    shown = run([str(BIN / "dvc"), "metrics", "show"], root).stdout
    assert "results/metrics.json" in shown and "clean_acc" in shown
    table = run([str(BIN / "dvc"), "exp", "show", "--no-pager", "--csv"], root).stdout
    assert "clean_acc" in table and "train.epochs" in table


def test_dvc_plots_show_renders_the_declared_plots(dvc_project):
    root, _ = dvc_project
    run([str(BIN / "dvc"), "plots", "show", "-o", "plots_out"], root)
    html = (root / "plots_out/index.html").read_text()
    for title in ("clean accuracy vs D-rate", "PGD accuracy vs D-rate", "training loss"):
        assert title in html


def test_editing_a_training_value_reruns_only_what_depends_on_it(dvc_project):
    root, _ = dvc_project
    edit_params(root, {"train": {"epochs": TINY["train"]["epochs"] + 1}})
    out = run([str(BIN / "dvc"), "repro"], root)
    ran = {name.split("@")[0] for name in dvc_stages_run(out.stdout + out.stderr)}
    assert ran == {"train", "evaluate", "aggregate", "report"}
    # steps: auto follows the epochs of D-rate 0, so both budgets retrain
    assert len([n for n in dvc_stages_run(out.stdout + out.stderr) if n.startswith("train@")]) == N_DVC


def test_editing_the_decisions_file_reruns_dedup_in_both_tools(dvc_project):
    """The review's decisions reach the pipeline through reviews/: setting dedup.decisions, then
    editing the same file in place, reruns dedup under DVC (which hashes the folder) and Snakemake
    (which takes the file as an input), not only a change of the file's name."""
    root, _ = dvc_project
    pairs = pd.read_parquet(root / "data/dedup/pairs.parquet")
    train = pairs[(pairs["scope"] == "train") & (pairs["kind"] != "flat")]
    assert len(train) >= 2
    lines = [f"{r.path_a},{r.path_b},keep_both" for r in train.head(2).itertuples()]
    decisions = root / "reviews/decisions.csv"

    def stale() -> tuple[str, set[str]]:
        status = run([str(BIN / "dvc"), "status", "dedup"], root).stdout
        dry = run([str(BIN / "snakemake"), "-n", "--cores", "1", "data/dedup"], root)
        return status, set(snakemake_jobs(dry.stdout + dry.stderr))

    def repro_dedup() -> dict:
        out = run([str(BIN / "dvc"), "repro", "dedup"], root)
        assert dvc_stages_run(out.stdout + out.stderr) == ["dedup"]
        return json.loads((root / "data/dedup/summary.json").read_text())["decisions"]

    decisions.write_text("a,b,decision\n" + lines[0] + "\n")
    edit_params(root, {"dedup": {"decisions": "reviews/decisions.csv"}})
    assert repro_dedup()["keep_both_removed"] == 1
    status, jobs = stale()
    assert "up to date" in status and jobs == set(), (status, jobs)
    # the same file, edited in place
    decisions.write_text("a,b,decision\n" + "\n".join(lines) + "\n")
    status, jobs = stale()
    assert "modified:" in status and "reviews" in status, status
    assert "dedup" in jobs, jobs
    assert repro_dedup()["keep_both_removed"] == 2


def test_snakemake_runs_the_same_pipeline(tmp_path):
    root = make(tmp_path, dvc=False)
    full = run([str(BIN / "snakemake"), "--cores", "2"], root)
    assert (root / "reports/index.html").exists()
    assert len(pd.read_csv(root / "results/summary.csv")) == N_MODELS
    jobs = snakemake_jobs(full.stdout + full.stderr)
    assert jobs.count("train") == N_MODELS and jobs.count("ingest") == 1
    assert "report: reports/index.html; dedup kept" in full.stdout + full.stderr  # the closing one-line summary
    again = run([str(BIN / "snakemake"), "-n", "--cores", "1"], root)
    assert "Nothing to be done" in again.stdout + again.stderr
    # An edit to the attack used in evaluation reruns evaluation and what reads it, not training.
    edit_params(root, {"attack": {"eval_steps": 6}})
    dry = run([str(BIN / "snakemake"), "-n", "--cores", "1"], root)
    assert set(snakemake_jobs(dry.stdout + dry.stderr)) == {"evaluate", "aggregate", "report", "all"}


def test_bad_params_stop_snakemake_with_exit_2_before_any_work(tmp_path):
    root = make(tmp_path, overrides={**TINY, "attack": {"eps": -0.5}}, dvc=False)
    proc = run([str(BIN / "snakemake"), "--cores", "1"], root, check=False)
    assert proc.returncode == 2
    assert "attack.eps" in proc.stderr and "-0.5" in proc.stderr
    assert not (root / "data").exists()
