"""The one-line summary both orchestrators end with (`dupstudy summary`)."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from dupstudy.summary import one_line

BIN = Path(sys.executable).parent


def test_summary_names_the_report_dedup_and_accuracy_at_both_ends(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/index.html").write_text("<html></html>")
    (tmp_path / "data/dedup").mkdir(parents=True)
    (tmp_path / "data/dedup/summary.json").write_text(json.dumps(
        {"n_train_before": 1000, "n_train_after": 990, "n_leaked_test": 7}))
    (tmp_path / "results").mkdir()
    rows = [dict(budget=b, trainer=t, rate=r, clean_acc=acc)
            for b in ("epochs", "steps") for t in ("pgd", "standard") for r, acc in ((0.0, 0.9), (0.6, 0.8))]
    rows[0]["clean_acc"] = 0.7  # epochs/pgd at r=0
    pd.DataFrame(rows).to_csv(tmp_path / "results/summary.csv", index=False)
    line = one_line(tmp_path)
    assert f"report: {tmp_path / 'reports/index.html'}" in line
    assert "dedup kept 990/1000 train images, 7 test images leaked" in line
    assert "8 models" in line
    assert "pgd: clean 0.700 at r=0 -> 0.800 at r=0.6" in line  # the epochs budget only
    assert "standard: clean 0.900 at r=0 -> 0.800 at r=0.6" in line


def test_summary_command_before_any_run(tmp_path):
    out = subprocess.run([str(BIN / "dupstudy"), "summary", str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("no report yet") and "snakemake --cores all" in out.stdout
