"""Snakemake and DVC run one DAG: dvc.yaml is rendered from the pipeline description,
and both tools expand it to the same commands on the same files."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dupstudy.pipeline import RULES_FILE, STAGES, render_dvc_yaml, render_rules

BIN = Path(sys.executable).parent


def test_committed_dvc_yaml_is_generated(project_root):
    assert (project_root / "dvc.yaml").read_text() == render_dvc_yaml(), "run `dupstudy dag --write`"


def test_committed_snakemake_rules_are_generated(project_root):
    assert (project_root / RULES_FILE).read_text() == render_rules(), "run `dupstudy dag --write`"
    assert sorted((project_root / "workflow/rules").glob("*.smk")) == sorted(
        [project_root / "workflow/rules/common.smk", project_root / RULES_FILE]), "every rule is rendered from STAGES"


def snakemake_commands(root: Path) -> list[str]:
    """The shell command of every job in a dry run of the default target."""
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "-p", "--forceall", "--cores", "1"], cwd=root,
                          capture_output=True, text=True, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    cmds = [line.split("Shell command: ", 1)[1] for line in lines if line.startswith("Shell command: python ")]
    return sorted(re.sub(r" > logs/\S+ 2>&1$", "", c) for c in cmds)


def dvc_commands(root: Path) -> list[str]:
    from dvc.repo import Repo

    repo = Repo(str(root), uninitialized=True)
    return sorted(stage.cmd for stage in repo.index.stages)


@pytest.mark.slow
def test_snakemake_and_dvc_expand_to_the_same_jobs(project_root):
    smk = snakemake_commands(project_root)
    dvc = dvc_commands(project_root)
    params = yaml.safe_load((project_root / "params.yaml").read_text())
    g = params["grid"]
    n_cells = len(g["schemes"]) * len(g["rates"]) * len(g["seeds"])
    expected = 5 + n_cells + 2 * n_cells * len(g["trainers"]) * len(g["budgets"])
    assert len(dvc) == expected
    assert smk == dvc


def test_dvc_params_are_the_declared_ones(project_root):
    dvc = yaml.safe_load((project_root / "dvc.yaml").read_text())["stages"]
    for name, stage in STAGES.items():
        assert dvc[name].get("params", []) == list(stage.params)


def test_a_stage_sees_only_its_declared_params(project_root):
    from dupstudy.params import load
    from dupstudy.stage import declared

    full = load(project_root / "params.yaml")
    seen = declared(full, "evaluate")
    assert set(seen) == {"attack", "train", "evaluate"}
    assert set(seen["attack"]) == {"eps", "eval_step", "eval_steps", "eval_restarts", "eval_n", "autoattack",
                                   "autoattack_n"}
    assert seen["evaluate"] == {"tta": 0}
    with pytest.raises(KeyError):
        seen["train"]["epochs"]  # undeclared: changing it must not rerun evaluation
