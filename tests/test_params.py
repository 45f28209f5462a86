import copy
import subprocess
import sys

import pytest
import yaml

from dupstudy.params import ParamsError, load, validate


@pytest.fixture
def params(project_root):
    return yaml.safe_load((project_root / "params.yaml").read_text())


def test_committed_params_are_valid(project_root):
    p = load(project_root / "params.yaml")
    assert p["dataset"]["name"] == "digits"


@pytest.mark.parametrize("path, value, words", [
    (("grid", "rates"), [0.1, 1.5], ["grid.rates.1", "1.5", "<= 1"]),
    (("attack", "eps"), -0.1, ["attack.eps", "-0.1", "> 0"]),
    (("dataset", "name"), "imagenet", ["dataset.name", "'imagenet'", "'digits'", "'cifar10'"]),
    (("dedup", "hash"), "md5", ["dedup.hash", "'phash'"]),
    (("train", "epochs"), "ten", ["train.epochs", "'ten'", "number", "> 0"]),  # fractional allowed (airbench: 9.9)
    (("grid", "trainers"), ["standard", "mart"], ["grid.trainers.1", "'pgd'"]),
])
def test_bad_value_names_key_value_and_allowed(params, path, value, words):
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError) as err:
        validate(params)
    for word in words:
        assert word in str(err.value)


def test_unknown_key_is_named(params):
    params["train"]["epoch"] = 3
    with pytest.raises(ParamsError, match=r"train: unknown key\(s\) epoch; allowed keys: .*epochs"):
        validate(params)


def test_fixed_protocol_rejects_rate_one(params):
    params["variants"]["protocol"] = "fixed"
    params["grid"]["rates"] = [0.0, 1.0]
    with pytest.raises(ParamsError, match="grid.rates"):
        validate(params)


def test_folder_dataset_needs_a_folder(params):
    params["dataset"]["name"] = "folder"
    with pytest.raises(ParamsError, match="dataset.folder"):
        validate(params)


@pytest.mark.parametrize("path", ["decisions.csv", "/home/me/decisions.csv", "reviews/../decisions.csv", "reviews",
                                  "reviewsx/decisions.csv"])
def test_decisions_outside_reviews_are_refused_naming_the_folder(params, path):
    """No tool would notice an edit to a decisions file outside reviews/, which DVC hashes as a whole."""
    params["dedup"]["decisions"] = path
    with pytest.raises(ParamsError, match=r"dedup.decisions: .* not inside reviews/.*reviews/decisions.csv"):
        validate(params)


@pytest.mark.parametrize("path", ["reviews/decisions.csv", "reviews/2026/round 2.csv", None])
def test_decisions_in_reviews_or_none_pass(params, path):
    params["dedup"]["decisions"] = path
    validate(params)


def test_stage_exits_2_on_bad_params_and_writes_nothing(params, tmp_path, project_root):
    bad = copy.deepcopy(params)
    bad["grid"]["seeds"] = [0, 0]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    out = tmp_path / "variant.npy"
    proc = subprocess.run([sys.executable, str(project_root / "workflow/scripts/variant.py"), "--params",
                           str(tmp_path / "params.yaml"), "--prepared", "x", "--dedup", "y", "--out", str(out),
                           "--scheme", "uniform", "--rate", "0.1", "--seed", "0"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "grid.seeds" in proc.stderr and "no repeated items" in proc.stderr
    assert not out.exists()


def test_cli_validate_exit_codes(params, tmp_path, project_root):
    from dupstudy.cli import main

    with pytest.raises(SystemExit) as ok:
        main(["validate", "--params", str(project_root / "params.yaml")])
    assert ok.value.code == 0
    params["variants"]["protocol"] = "doubling"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(SystemExit) as bad:
        main(["validate", "--params", str(tmp_path / "p.yaml")])
    assert bad.value.code == 2


def test_fgsm_step_beyond_wong_et_al_is_refused_unless_forced(params):
    params["attack"].update(eps=8 / 255, fgsm_step=4 * 8 / 255)  # FGSM at the corner of the ball
    with pytest.raises(ParamsError, match=r"attack\.fgsm_step: .* more than 1\.25 x attack\.eps"):
        validate(params)
    params["attack"]["allow_large_fgsm_step"] = True
    validate(params)
    params["attack"].update(fgsm_step=1.25 * 8 / 255, allow_large_fgsm_step=False)
    validate(params)  # exactly Wong et al.'s step
