import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_snakemake_lint_is_clean(project_root):
    proc = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=project_root, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


@pytest.mark.slow
def test_rules_are_snakefmt_formatted(project_root):
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"], cwd=project_root,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_lint_is_clean(project_root):
    """ruff, with the rules in pyproject.toml, over the whole project."""
    proc = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=project_root, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_broad_except_says_why(project_root):
    """A `noqa: BLE001` (catching every exception) must say, on its line, why nothing narrower will do."""
    bare = [f"{path.relative_to(project_root)}:{n}"
            for folder in ("src", "workflow", "benchmarks", "tests") for path in (project_root / folder).rglob("*.py")
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if "noqa: BLE001" in line and not line.split("noqa: BLE001", 1)[1].strip(" -")]
    assert not bare, "unexplained broad excepts: " + ", ".join(bare)


def test_help_explains_every_subcommand():
    out = subprocess.run([str(BIN / "dupstudy"), "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("validate", "dag", "dedup", "snakemake --cores all"):
        assert word in out
