"""AutoAttack through the optional torchattacks package: stronger than PGD on real digits, a clear
error when the package is missing, and carried into the aggregate tables only where present."""

import importlib.util
import math
import sys
from argparse import Namespace

import numpy as np
import pandas as pd
import pytest

from dupstudy import models
from dupstudy.aggregate import collect, metrics_tree
from dupstudy.evaluate import evaluate
from dupstudy.io import write_json
from dupstudy.params import ParamsError, load, section_defaults, validate
from dupstudy.train import fit

SETTINGS = {"budget": "epochs", "epochs": 5, "steps": 10, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
            "weight_decay": 5e-4, "label_smoothing": 0.0, "augment": {"crop_padding": 0, "flip": False}, "threads": 1}
SETTINGS = section_defaults("train", SETTINGS)  # the keys left out take the schema's defaults
MODEL = {"arch": "small_cnn", "width": 8}
MODEL = section_defaults("model", MODEL)  # the keys left out take the schema's defaults
EPS = 0.15
ATTACK = {"eps": EPS, "eval_step": EPS / 5, "eval_steps": 20, "eval_restarts": 1, "autoattack": True,
          "autoattack_n": 200}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults
CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def undefended(digits, tmp_path_factory):
    x, y, _, _ = digits
    model, spec, _ = fit(x, y, classes=10, trainer="standard", seed=0, model_settings=MODEL, settings=SETTINGS,
                         attack={}, progress=False)
    path = tmp_path_factory.mktemp("aa") / "model.pt"
    models.save(path, model, spec)
    return path


@pytest.mark.slow
def test_autoattack_is_stronger_than_pgd_on_an_undefended_model(undefended, digits):
    pytest.importorskip("torchattacks", reason="the autoattack extra: pip install 'dupstudy[autoattack]'")
    _, _, xt, yt = digits
    leaked = np.zeros(len(yt), bool)
    leaked[::4] = True
    m = evaluate(undefended, xt, yt, classes=CLASSES, attack=ATTACK, leaked=leaked, threads=1)
    assert m["autoattack_n_test"] == m["autoattack"]["n"] == 200 and m["n_test"] == len(yt)
    pgd_same = m["autoattack"]["robust_acc_same_images"]
    assert m["clean_acc"] > 0.9
    assert m["autoattack_acc"] <= pgd_same <= m["clean_acc"]
    assert m["robust_acc"] <= m["clean_acc"]
    assert m["autoattack_acc"] < 0.1  # near 0 on an undefended model (PGD-20 leaves ~0.11 here)
    assert 0 <= m["autoattack_acc_no_leak"] <= 1 and not math.isnan(m["autoattack_acc_no_leak"])


def test_autoattack_off_reports_nothing_and_needs_no_package(undefended, digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    _, _, xt, yt = digits
    m = evaluate(undefended, xt[:50], yt[:50], classes=CLASSES, attack={**ATTACK, "autoattack": False}, threads=1)
    assert not any(k.startswith("autoattack") for k in m)


def test_missing_torchattacks_names_param_and_install_command(undefended, digits, monkeypatch, project_root):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # `import torchattacks` now raises ImportError
    _, _, xt, yt = digits
    import dupstudy.attacks as attacks

    def no_pgd(*args, **kwargs):
        raise AssertionError("the PGD evaluation ran before the missing package was reported")

    monkeypatch.setattr(attacks, "robust_correct", no_pgd)
    with pytest.raises(RuntimeError) as err:
        evaluate(undefended, xt, yt, classes=CLASSES, attack=ATTACK, threads=1)
    assert "attack.autoattack" in str(err.value) and "pip install 'dupstudy[autoattack]'" in str(err.value)

    # The stage script reports it as a params error (exit code 2) before it reads any data.
    spec = importlib.util.spec_from_file_location("evaluate_stage", project_root / "workflow/scripts/evaluate.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    args = Namespace(prepared="does/not/exist", dedup="does/not/exist", model=str(undefended), out="unused.json",
                     budget="epochs", scheme="uniform", rate="0.0", trainer="standard", seed=0)
    with pytest.raises(ParamsError, match=r"pip install 'dupstudy\[autoattack\]'"):
        stage.main(args, {"attack": ATTACK, "train": {"threads": 1}})


def test_params_accept_autoattack_keys(project_root):
    params = load(project_root / "params.yaml")
    assert params["attack"]["autoattack"] is False  # off by default: slow, and an optional package
    params["attack"].update(autoattack=True, autoattack_n=500)
    validate(params)
    params["attack"]["autoattack_n"] = 0
    with pytest.raises(ParamsError, match="attack.autoattack_n"):
        validate(params)
    params["attack"].update(autoattack_n=None, autoattack="yes")
    with pytest.raises(ParamsError, match="attack.autoattack"):
        validate(params)


def _cell_files(root, seeds_with_aa, seeds=(0, 1, 2)):
    labels = np.arange(20) % 10
    for seed in seeds:
        cell = f"epochs/uniform/r0.1/pgd/s{seed}"
        m = {"clean_acc": 0.9, "robust_acc": 0.5 + seed / 100, "clean_acc_no_leak": 0.9, "robust_acc_no_leak": 0.5,
             "n_test": 20, "n_leaked": 0, "per_class": [{"class": "0", "clean_acc": 1.0, "robust_acc": 0.5}]}
        if seed in seeds_with_aa:
            m.update(autoattack_acc=0.4 + seed / 100, autoattack_acc_no_leak=0.4, autoattack_n_test=20)
        write_json(root / "metrics" / f"{cell}.json", m)
        write_json(root / "curves" / f"{cell}.json", {"curve": [{"epoch": 1, "step": 1, "loss": 1.0, "seconds": 1.0}]})
        (root / "variants" / "uniform/r0.1").mkdir(parents=True, exist_ok=True)
        np.save(root / "variants" / f"uniform/r0.1/s{seed}.npy", np.r_[np.arange(20), [0, 1]])
    grid = {"budgets": ["epochs"], "schemes": ["uniform"], "rates": [0.1], "trainers": ["pgd"], "seeds": list(seeds)}
    return collect(grid, root / "metrics", root / "curves", root / "variants", labels, CLASSES, [1])[0]


def test_aggregate_carries_autoattack_with_ci(tmp_path):
    summary = _cell_files(tmp_path, seeds_with_aa=(0, 1, 2))
    assert list(summary["autoattack_acc"]) == pytest.approx([0.40, 0.41, 0.42])
    node = metrics_tree(summary)["epochs"]["pgd"]["uniform"]["r0.1"]
    assert node["autoattack_acc"] == pytest.approx(0.41)
    assert node["autoattack_acc_ci95"] > 0 and node["autoattack_acc_no_leak"] == pytest.approx(0.4)


def test_aggregate_without_autoattack_has_no_such_columns(tmp_path):
    summary = _cell_files(tmp_path, seeds_with_aa=())
    assert not any(c.startswith("autoattack") for c in summary.columns)
    node = metrics_tree(summary)["epochs"]["pgd"]["uniform"]["r0.1"]
    assert not any(k.startswith("autoattack") for k in node) and node["robust_acc"] == pytest.approx(0.51)
    # Some seeds with it, some without: the mean is over those that have it.
    mixed = _cell_files(tmp_path / "mixed", seeds_with_aa=(1,))
    assert isinstance(mixed, pd.DataFrame) and mixed["autoattack_acc"].isna().sum() == 2
    assert metrics_tree(mixed)["epochs"]["pgd"]["uniform"]["r0.1"]["autoattack_acc"] == pytest.approx(0.41)
