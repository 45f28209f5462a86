"""Named presets: complete, valid params files that `dupstudy preset NAME` writes into params.yaml
without ever losing a user's edits silently."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dupstudy import presets
from dupstudy.params import load
from dupstudy.pipeline import STAGES
from dupstudy.stage import declared

BIN = Path(sys.executable).parent
NAMES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "presets").glob("*.yaml"))


def test_the_issue_presets_exist():
    assert {"digits", "cifar10-cpu", "cifar10-gpu"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_is_valid_complete_and_described(project_root, name):
    path = project_root / "presets" / f"{name}.yaml"
    values = load(path)  # the schema and the rules it cannot say
    for stage in STAGES:
        declared(values, stage)  # every key a stage declares is there (DVC and Snakemake read them)
    first = path.read_text().split("\n", 1)[0]
    assert first.startswith(f"# {name}: ") and len(first) > len(name) + 20


def test_committed_params_yaml_is_the_digits_preset(project_root):
    proc = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=project_root, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    assert proc.stdout == (project_root / "presets/digits.yaml").read_text()


def test_cifar10_cpu_is_the_issue_protocol(project_root):
    p = load(project_root / "presets/cifar10-cpu.yaml")
    g, a = p["grid"], p["attack"]
    assert p["dataset"]["name"] == "cifar10" and p["dataset"]["folder"].endswith("cifar10-jpg.tar.gz")
    assert g["rates"] == [0.0, 0.3, 0.6] and g["schemes"] == ["uniform"]
    assert set(g["trainers"]) == {"standard", "pgd"} and len(g["seeds"]) >= 3
    assert set(g["budgets"]) == {"epochs", "steps"} and p["train"]["steps"] == "auto"  # D-rate 0 trained once
    assert a["eps"] == pytest.approx(8 / 255) and a["eval_steps"] >= 20 and a["eval_n"] >= 1000


@pytest.fixture
def project(tmp_path):
    """A folder with two presets and params.yaml holding the first."""
    (tmp_path / "presets").mkdir()
    for name, epochs in (("small", 2), ("large", 9)):
        text = (Path(__file__).resolve().parents[1] / "presets/digits.yaml").read_text()
        text = text.replace("# digits:", f"# {name}:", 1).replace("  epochs: 6 ", f"  epochs: {epochs} ", 1)
        (tmp_path / "presets" / f"{name}.yaml").write_text(text)
    (tmp_path / "params.yaml").write_text((tmp_path / "presets/small.yaml").read_text())
    return tmp_path


def test_switching_writes_the_preset_text(project):
    assert presets.apply("large", project / "params.yaml", root=project) is None
    assert (project / "params.yaml").read_text() == (project / "presets/large.yaml").read_text()
    assert presets.matching(project / "params.yaml", root=project).name == "large"
    assert load(project / "params.yaml")["train"]["epochs"] == 9


def test_edits_are_never_overwritten_without_force(project):
    params = project / "params.yaml"
    edited = params.read_text().replace("  lr: 0.05", "  lr: 0.2")
    params.write_text(edited)
    with pytest.raises(presets.PresetError) as err:
        presets.apply("large", params, root=project)
    message = str(err.value)
    assert "train.lr: 0.05 -> 0.2" in message and "preset small" in message and "--force" in message
    assert params.read_text() == edited  # untouched
    backup = presets.apply("large", params, force=True, root=project)
    assert backup == project / "params.yaml.bak" and backup.read_text() == edited
    assert params.read_text() == (project / "presets/large.yaml").read_text()


def test_comment_only_edits_are_named_as_such(project):
    params = project / "params.yaml"
    params.write_text(params.read_text() + "# my note\n")
    with pytest.raises(presets.PresetError, match="values of preset small but not its text"):
        presets.apply("large", params, root=project)


def test_a_missing_params_yaml_is_simply_written(project):
    (project / "params.yaml").unlink()
    presets.apply("small", project / "params.yaml", root=project)
    assert presets.matching(project / "params.yaml", root=project).name == "small"


def test_invalid_preset_is_refused_before_params_yaml_changes(project):
    bad = (project / "presets/small.yaml").read_text().replace("  eps: 0.1 ", "  eps: -1 ", 1)
    (project / "presets/broken.yaml").write_text(bad.replace("# small:", "# broken:", 1))
    before = (project / "params.yaml").read_text()
    with pytest.raises(presets.PresetError, match=r"attack\.eps.*-1"):
        presets.apply("broken", project / "params.yaml", root=project)
    assert (project / "params.yaml").read_text() == before


def test_unknown_name_lists_the_presets(project):
    with pytest.raises(presets.PresetError, match="no preset named 'huge'; presets: large, small"):
        presets.apply("huge", project / "params.yaml", root=project)


def test_differences_name_every_changed_leaf():
    a = {"train": {"lr": 0.05, "epochs": 6}, "grid": {"seeds": [0, 1]}}
    b = {"train": {"lr": 0.1, "epochs": 6}, "grid": {"seeds": [0]}, "extra": 1}
    assert presets.differences(a, b) == ["train.lr: 0.05 -> 0.1", "grid.seeds: [0, 1] -> [0]",
                                         "extra: (absent) -> 1"]


def dupstudy(*args, cwd):
    return subprocess.run([str(BIN / "dupstudy"), *args], cwd=cwd, capture_output=True, text=True)


def test_cli_lists_switches_and_refuses(project):
    listing = dupstudy("preset", cwd=project)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("  large ") and lines[1].startswith("* small ")  # *: what params.yaml holds
    assert dupstudy("preset", "large", cwd=project).returncode == 0
    assert presets.matching(project / "params.yaml", root=project).name == "large"
    (project / "params.yaml").write_text((project / "params.yaml").read_text().replace("  lr: 0.05", "  lr: 0.3"))
    refused = dupstudy("preset", "small", cwd=project)
    assert refused.returncode == 2 and "train.lr: 0.05 -> 0.3" in refused.stderr
    assert dupstudy("preset", "small", "--force", cwd=project).returncode == 0
    assert (project / "params.yaml.bak").is_file()


def test_help_lists_every_preset(project_root):
    out = dupstudy("--help", cwd=project_root).stdout
    assert "dupstudy preset cifar10-cpu && snakemake --cores all" in out
    for name in NAMES:
        assert f"\n  {name} " in out
    assert "preset" in dupstudy("preset", "--help", cwd=project_root).stdout


def test_presets_differ_only_in_values_and_keep_the_same_keys(project_root):
    """Every preset spells out the same keys, so switching never leaves a key to a default."""
    def keys(tree, prefix=""):
        out = set()
        for k, v in tree.items():
            out |= keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
        return out

    trees = {n: yaml.safe_load((project_root / "presets" / f"{n}.yaml").read_text()) for n in NAMES}
    reference = keys(trees["digits"])
    for name, tree in trees.items():
        assert keys(tree) == reference, name
