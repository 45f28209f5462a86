"""The steps budget's D-rate 0 cell is the epochs budget's run: recorded, not trained again, and
read back by aggregate under its own key, marked."""

import copy

import numpy as np
import pytest
import yaml

from dupstudy import runs
from dupstudy.aggregate import collect
from dupstudy.io import write_json, write_npy
from dupstudy.params import ParamsError, validate


@pytest.mark.parametrize("budget, rate, steps, owner", [
    ("steps", "0.0", "auto", "epochs"),
    ("steps", 0, "auto", "epochs"),
    ("steps", "0.3", "auto", None),      # larger variant: fewer steps than its epochs run
    ("epochs", "0.0", "auto", None),     # the run itself
    ("steps", "0.0", 500, None),         # a fixed step count is its own run
])
def test_same_run_as(budget, rate, steps, owner):
    assert runs.same_run_as(budget, rate, {"epochs": 3, "steps": steps}) == owner


def test_a_steps_only_grid_with_d_rate_0_is_refused(project_root):
    p = yaml.safe_load((project_root / "params.yaml").read_text())
    p["grid"]["budgets"] = ["steps"]
    with pytest.raises(ParamsError, match=r"grid.budgets: \['steps'\].*add epochs to grid.budgets"):
        validate(p)
    for fix in ({"train": {**p["train"], "steps": 300}}, {"grid": {**p["grid"], "rates": [0.3, 0.6]}}):
        validate({**copy.deepcopy(p), **fix})


def test_aggregate_reads_the_owner_run_for_the_alias_cell(tmp_path):
    grid = {"budgets": ["epochs", "steps"], "schemes": ["uniform"], "rates": [0.0], "trainers": ["pgd"], "seeds": [0]}
    labels = np.array([0, 1, 0, 1])
    write_npy(tmp_path / "variants/uniform/r0.0/s0.npy", np.arange(4))
    owner = "epochs/uniform/r0.0/pgd/s0"
    metrics = {"clean_acc": 0.8, "robust_acc": 0.4, "clean_acc_no_leak": 0.8, "robust_acc_no_leak": 0.4, "n_test": 10,
               "n_leaked": 0, "per_class": [{"class": "a", "clean_acc": 0.8, "robust_acc": 0.4}]}
    write_json(tmp_path / f"metrics/{owner}.json", metrics)
    write_json(tmp_path / f"curves/{owner}.json", {"curve": [{"epoch": 1, "step": 7, "loss": 1.0, "seconds": 2.0,
                                                              "train_acc": 0.5}]})
    note = runs.record("steps", "uniform", "0.0", "pgd", 0, "epochs")
    assert note["cell"] == owner
    write_json(tmp_path / "metrics/steps/uniform/r0.0/pgd/s0.json", {**note, "budget": "steps"})
    write_json(tmp_path / "curves/steps/uniform/r0.0/pgd/s0.json", {**note, "budget": "steps"})
    summary, per_class, curves = collect(grid, tmp_path / "metrics", tmp_path / "curves", tmp_path / "variants",
                                         labels, ["a", "b"], [1])
    assert list(summary["budget"]) == ["epochs", "steps"] and list(summary["same_run_as"]) == ["", "epochs"]
    assert summary["clean_acc"].tolist() == [0.8, 0.8] and summary["steps"].tolist() == [7, 7]
    assert len(per_class) == 2 and list(curves["budget"]) == ["epochs", "steps"]
    assert len(runs.trained_once(summary)) == 1  # counted once wherever budgets are pooled
