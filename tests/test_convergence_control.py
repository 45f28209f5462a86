"""The control run behind the convergence verdict, on real digits: a model trained without copies
but on the longer schedule a duplicated variant gets under equal epochs. Compared at the baseline's
last step (the old rule) the control differs significantly from the baseline, though it has no
copies at all: that rule measures the schedule, not the duplicates. The report compares at equal
steps (the steps budget) or at equal fractions of each schedule, and never calls the control slower."""

import pandas as pd
import pytest

from dupstudy.params import section_defaults
from dupstudy.report.build import _Builder
from dupstudy.report.verdicts import _diff
from dupstudy.train import fit

MODEL = {"arch": "small_cnn", "width": 8}
MODEL = section_defaults("model", MODEL)  # the keys left out take the schema's defaults
BASE = {"budget": "epochs", "epochs": 4, "steps": "auto", "batch_size": 64, "lr": 0.05, "momentum": 0.9,
        "weight_decay": 5e-4, "label_smoothing": 0.0, "augment": {"crop_padding": 0, "flip": False}, "threads": 1,
        "recipe": "onecycle"}


def _curves(x, y):
    rows = []
    base_steps = BASE["epochs"] * -(-len(x) // BASE["batch_size"])
    for seed in range(3):
        for rate, settings in ((0.0, BASE), (0.9, {**BASE, "budget": "steps", "steps": int(1.9 * base_steps)})):
            _, _, curve = fit(x, y, classes=10, trainer="standard", seed=seed, model_settings=MODEL,
                              settings=settings, attack={}, progress=False)
            rows += [{"scheme": "uniform", "rate": rate, "trainer": "standard", "seed": seed, **r} for r in curve]
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_a_control_without_copies_is_not_called_slower(digits, tmp_path):
    x, y, _, _ = digits
    curves = _curves(x[:512], y[:512])  # "rate 0.9" is the control: no copies, the longer schedule

    # the old rule: mean loss over the last 10 % of the baseline's steps, for both runs
    common = curves.groupby(["rate", "seed"])["step"].max().min()
    window = curves[(curves["step"] <= common) & (curves["step"] > 0.9 * common)]
    old = _diff(window.groupby(["scheme", "rate", "seed"], as_index=False)["loss"].mean().assign(trainer="standard"),
                "loss", "standard", "uniform", 0.9)
    assert old["lo"] > 0 or old["hi"] < 0  # a "duplication effect" on loss, though the control has no copies

    b = _Builder(tmp_path / "index.html", tmp_path / "figures", {})
    b.curves = b.curves_all = curves
    b.budget = "epochs"
    d, text, how = b._convergence_diff("standard")
    assert "equal fractions" in how
    assert not d["lo"] > 0, text  # at equal fractions of the schedule the control is not slower
