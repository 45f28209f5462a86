"""Switching presets on a real tiny project: DVC and Snakemake see the same params.yaml and rerun
only the stages whose declared params changed; the steps budget's D-rate 0 cell is trained once."""

import json

import pandas as pd
import pytest
import yaml
from pipeline_project import BIN, TINY, dvc_stages_run, make, merge, run, snakemake_jobs

pytestmark = pytest.mark.slow
# Both budgets, so the steps budget's D-rate 0 cell is the epochs run; one scheme and trainer keep
# it short: 4 cells, 3 trained models.
TINY_A = merge(TINY, {"grid": {"budgets": ["epochs", "steps"], "schemes": ["uniform"], "trainers": ["standard"]}})
# Preset B changes what evaluation and the report read, nothing that training reads.
TINY_B = merge(TINY_A, {"attack": {"eval_steps": 6}, "report": {"title": "Preset B"}})
ALIAS = "steps/uniform/r0.0/standard/s0"
RERUN = {"evaluate", "aggregate", "report"}  # the stages that read what B changes, and what follows them


def preset_text(name: str, values: dict) -> str:
    return f"# {name}: a tiny study for tests\n" + yaml.safe_dump(values, sort_keys=False)


def dupstudy(root, *args):
    return run([str(BIN / "dupstudy"), *args], root)


def base_names(names) -> set[str]:
    return {n.split(":")[-1].split("@")[0] for n in names}


def with_presets(root):
    """Presets tiny-a and tiny-b in the project, params.yaml holding tiny-a."""
    a = yaml.safe_load((root / "params.yaml").read_text())
    b = merge(a, {k: v for k, v in TINY_B.items() if k in ("attack", "report")})
    (root / "presets").mkdir()
    (root / "presets/tiny-a.yaml").write_text(preset_text("tiny-a", a))
    (root / "presets/tiny-b.yaml").write_text(preset_text("tiny-b", b))
    dupstudy(root, "preset", "tiny-a", "--force")  # make()'s params.yaml has the values, not the text
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny presets"], root)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = with_presets(make(tmp_path_factory.mktemp("presets_dvc"), overrides=TINY_A))
    first = run([str(BIN / "dvc"), "repro"], root)
    return root, first.stdout + first.stderr


@pytest.fixture(scope="module")
def smk_project(tmp_path_factory):
    """Snakemake keeps its own record of the params each output was made with: a project it ran."""
    root = with_presets(make(tmp_path_factory.mktemp("presets_smk"), overrides=TINY_A, dvc=False))
    run([str(BIN / "snakemake"), "--cores", "2"], root)
    return root


def test_the_steps_budget_d_rate_0_cell_is_trained_once(project):
    root, log = project
    trained = [n for n in dvc_stages_run(log) if n.startswith("train@")]
    assert len(trained) == 4  # every cell has its job, under both tools ...
    assert (root / f"results/models/{ALIAS}/same_as.json").is_file()  # ... but this one trains nothing
    assert not (root / f"results/models/{ALIAS}/model.pt").exists()
    assert (root / "results/models/epochs/uniform/r0.0/standard/s0/model.pt").is_file()
    assert json.loads((root / f"results/metrics/{ALIAS}.json").read_text())["same_as"] == "epochs"
    s = pd.read_csv(root / "results/summary.csv")
    assert len(s) == 4
    r0 = s[s["rate"] == 0].set_index("budget")
    assert r0.loc["steps", "same_run_as"] == "epochs" and pd.isna(r0.loc["epochs", "same_run_as"])
    for col in ("clean_acc", "robust_acc", "steps", "train_seconds"):
        assert r0.loc["steps", col] == r0.loc["epochs", col]
    html = (root / "reports/index.html").read_text()
    assert "3 trained models" in html and "trained and evaluated once" in html


def test_switching_presets_reruns_only_what_changed_under_dvc(project):
    root, _ = project
    listed = dupstudy(root, "preset").stdout
    assert "* tiny-a " in listed and "  tiny-b " in listed
    dupstudy(root, "preset", "tiny-b")
    status = json.loads(run([str(BIN / "dvc"), "status", "--json"], root).stdout)
    assert base_names(status) == {"evaluate", "report"}  # aggregate follows once the metrics change
    out = run([str(BIN / "dvc"), "repro"], root)
    assert base_names(dvc_stages_run(out.stdout + out.stderr)) == RERUN
    assert "Preset B" in (root / "reports/index.html").read_text()
    # Back to preset A: training is still not touched.
    dupstudy(root, "preset", "tiny-a")
    back = run([str(BIN / "dvc"), "repro"], root)
    assert "train" not in base_names(dvc_stages_run(back.stdout + back.stderr))
    assert "Preset B" not in (root / "reports/index.html").read_text()


def test_snakemake_reruns_the_same_stages(smk_project):
    root = smk_project
    dupstudy(root, "preset", "tiny-b")
    dry = run([str(BIN / "snakemake"), "-n", "--cores", "1"], root)
    assert set(snakemake_jobs(dry.stdout + dry.stderr)) == RERUN | {"all"}
    run([str(BIN / "snakemake"), "--cores", "2"], root)
    assert "Preset B" in (root / "reports/index.html").read_text()
    dupstudy(root, "preset", "tiny-a")
    back = run([str(BIN / "snakemake"), "-n", "--cores", "1"], root)
    assert set(snakemake_jobs(back.stdout + back.stderr)) == RERUN | {"all"}
