"""A throwaway copy of the project on tiny settings, as a git + DVC repo, for end-to-end runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPY = ["Snakefile", "dvc.yaml", "workflow", "profiles", "envs", "src", "reviews"]

# Every stage does real work, on the real digits, with the smallest grid that still has
# both schemes, a non-zero rate and both trainers.
TINY = {
    "grid": {"budgets": ["epochs"], "schemes": ["uniform", "biased"], "rates": [0.0, 0.5],
             "trainers": ["standard", "pgd"], "seeds": [0]},
    "train": {"epochs": 2},
    "attack": {"train_steps": 2, "eval_steps": 5},
    "gaussian": {"seeds": 3, "rates": [0.3], "test_samples": 1000},
}


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@localhost"}


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def make(dest: Path, overrides: dict = TINY, dvc: bool = True) -> Path:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    write_params(dest, merge(params, overrides))
    shutil.copy2(ROOT / ".gitignore", dest / ".gitignore")
    run(["git", "init", "-q"], dest)
    if dvc:
        run([str(BIN / "dvc"), "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "tiny project"], dest)
    return dest


def write_params(dest: Path, params: dict) -> None:
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def edit_params(dest: Path, overrides: dict) -> None:
    write_params(dest, merge(yaml.safe_load((dest / "params.yaml").read_text()), overrides))


def dvc_stages_run(output: str) -> list[str]:
    """Names of the stages `dvc repro` ran (not the ones it skipped)."""
    return re.findall(r"Running stage '([^']+)'", output)


def snakemake_jobs(output: str) -> list[str]:
    """Rule names of the jobs a Snakemake (dry) run lists."""
    return re.findall(r"^(?:local)?rule (\w+):", output, flags=re.M)
