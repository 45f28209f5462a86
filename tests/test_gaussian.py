import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dupstudy import gaussian as g

SMALL = {"n_per_class": 60, "rates": [0.1, 0.4, 0.9], "favoured_share": 0.7, "seeds": 3,
         "test_samples": 2000, "svm_c": 1.0}


@pytest.fixture(scope="module")
def small_result():
    return g.run_study(SMALL)


def test_bayes_accuracy_closed_form():
    # Delta^2 = [1,1] S^-1 [1,1]^T = 4/3 for S = [[1, .5], [.5, 1]]
    assert g.bayes_accuracy() == pytest.approx(stats.norm.cdf(np.sqrt(4 / 3) / 2), abs=1e-12)
    assert g.bayes_accuracy() == pytest.approx(0.71815, abs=1e-4)
    # identity covariance, means 2 apart -> Phi(1)
    assert g.bayes_accuracy([0, 0], [2, 0], np.eye(2)) == pytest.approx(stats.norm.cdf(1.0))


def test_bayes_accuracy_matches_monte_carlo():
    rng = np.random.default_rng(123)
    X, y = g.sample(200_000, 200_000, rng)
    w, b = g.bayes_boundary()
    acc = np.mean(np.where(X @ w + b > 0, 1, -1) == y)
    # standard error ~ sqrt(.72 * .28 / 4e5) = 7e-4
    assert acc == pytest.approx(g.bayes_accuracy(), abs=3e-3)


def test_no_classifier_beats_bayes_by_much(small_result):
    per_seed = small_result["per_seed"]
    # test-set noise with 2000 points is ~0.01; SVMs cannot beat the Bayes rule in expectation
    assert per_seed["acc_all"].mean() <= small_result["bayes_acc"] + 0.01
    assert per_seed["base_acc_all"].mean() <= small_result["bayes_acc"] + 0.01


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.3, 0.45, 0.7, 0.9, 1.5])
def test_copy_count_is_round_rate_times_size(rate):
    y = np.array([-1] * 100 + [1] * 100)
    for scheme in g.SCHEMES:
        idx = g.copy_indices(y, g.n_copies(rate, len(y)), scheme, 0.7, np.random.default_rng(0))
        assert len(idx) == round(rate * len(y))
        assert idx.min(initial=0) >= 0 and idx.max(initial=0) < len(y)


def test_copy_counts_in_study(small_result):
    per_seed = small_result["per_seed"]
    n = 2 * SMALL["n_per_class"]
    assert (per_seed["n_train"] == n).all()
    assert (per_seed["n_copies"] == [round(r * n) for r in per_seed["rate"]]).all()
    assert len(per_seed) == SMALL["seeds"] * len(SMALL["rates"]) * 2


def test_d_ratio_biased_and_uniform():
    y = np.array([-1] * 100 + [1] * 100)
    rng = np.random.default_rng(1)
    biased = g.copy_indices(y, 20_000, "biased", 0.7, rng)
    uniform = g.copy_indices(y, 20_000, "uniform", 0.7, rng)
    assert np.sum(y[biased] == 1) == 14_000  # exactly the share, as in the image variants
    for count in (1, 7, 33, 160):
        assert np.sum(y[g.copy_indices(y, count, "biased", 0.7, rng)] == 1) == round(0.7 * count)
    assert np.mean(y[uniform] == 1) == pytest.approx(0.5, abs=0.015)
    # uniform within the class: every class member gets copies
    assert set(biased[y[biased] == 1]) == set(range(100, 200))


def test_d_ratio_in_study_averages():
    settings = {**SMALL, "seeds": 8, "rates": [0.9], "test_samples": 200}
    per_seed = g.run_study(settings, grids=False)["per_seed"]
    by_scheme = per_seed.groupby("scheme")["d_ratio_pos"].mean()
    assert (per_seed.loc[per_seed["scheme"] == "biased", "d_ratio_pos"] == round(0.7 * 108) / 108).all()
    assert by_scheme["uniform"] == pytest.approx(0.5, abs=0.06)


def test_deterministic_and_independent_of_other_rates(small_result):
    again = g.run_study(SMALL, grids=False)
    pd.testing.assert_frame_equal(small_result["per_seed"], again["per_seed"])
    only = g.run_study({**SMALL, "rates": [0.4]}, grids=False)["per_seed"].reset_index(drop=True)
    same = small_result["per_seed"].query("rate == 0.4").reset_index(drop=True)
    pd.testing.assert_frame_equal(only, same)


@pytest.mark.slow
def test_parallel_matches_serial(small_result):
    par = g.run_study(SMALL, grids=False, n_jobs=2)
    pd.testing.assert_frame_equal(small_result["per_seed"], par["per_seed"])


def test_per_seed_columns_and_base_shared(small_result):
    per_seed = small_result["per_seed"]
    for col in ["seed", "scheme", "rate", "acc_neg", "acc_pos", "acc_all", "base_acc_neg", "base_acc_pos",
                "base_acc_all", "d_ratio_pos"]:
        assert col in per_seed
    assert set(per_seed["scheme"]) == {"uniform", "biased"}
    # the baseline is one model per seed
    assert (per_seed.groupby("seed")["base_acc_all"].nunique() == 1).all()
    # balanced test set: overall = mean of the per-class accuracies
    np.testing.assert_allclose(per_seed["acc_all"], (per_seed["acc_neg"] + per_seed["acc_pos"]) / 2)


def test_fast_decision_matches_sklearn():
    X, y = g.sample(80, 80, np.random.default_rng(5))
    model = g._fit(X, y, 1.0)
    Xt, _ = g.sample(3000, 3000, np.random.default_rng(6))
    np.testing.assert_allclose(g.decision_values(model, Xt), model.decision_function(Xt), atol=1e-9)
    assert (np.where(g.decision_values(model, Xt) > 0, 1, -1) == model.predict(Xt)).all()


def test_summary_shape(small_result):
    summary = small_result["summary"]
    assert set(summary.columns) >= {"scheme", "rate", "metric", "mean", "ci_low", "ci_high", "n"}
    row = summary.query("scheme == 'biased' and rate == 0.4 and metric == 'acc_all'").iloc[0]
    values = small_result["per_seed"].query("scheme == 'biased' and rate == 0.4")["acc_all"]
    assert row["mean"] == pytest.approx(values.mean())
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert {"delta_acc_all", "d_ratio_pos", "base_acc_neg"} <= set(summary["metric"])


def test_decision_grids(small_result):
    grids = small_result["grids"]
    assert grids["z_base"].shape == (len(grids["ys"]), len(grids["xs"]))
    assert set(grids["schemes"]) == {"uniform", "biased"}
    assert grids["schemes"]["biased"]["rate"] == 0.4
    n = 2 * SMALL["n_per_class"]
    assert len(grids["schemes"]["biased"]["copy_idx"]) == round(0.4 * n)
    # the same copies as the study uses for that seed
    again = g.decision_grids(SMALL, seed=grids["seed"], rates={"biased": 0.4}, resolution=11)
    np.testing.assert_array_equal(again["schemes"]["biased"]["copy_idx"], grids["schemes"]["biased"]["copy_idx"])


def test_save_and_load(small_result, tmp_path):
    out = tmp_path / "gaussian"
    g.save_study(small_result, out)
    assert {p.name for p in out.iterdir()} == {"per_seed.csv", "summary.csv", "summary.json", "grids.npz",
                                                ".dupstudy-output"}
    meta = json.loads((out / "summary.json").read_text())
    assert meta["bayes_acc"] == pytest.approx(g.bayes_accuracy())
    loaded = g.load_study(out)
    assert len(loaded["per_seed"]) == len(small_result["per_seed"])
    assert loaded["grids"]["schemes"]["uniform"]["z"].shape == small_result["grids"]["z_base"].shape
    # overwrite in place; no temporary siblings left behind
    g.save_study(small_result, out)
    assert [p.name for p in tmp_path.iterdir()] == ["gaussian"]


def test_save_failure_leaves_nothing(tmp_path):
    with pytest.raises(AttributeError):  # per_seed None has no to_csv: fails half way through
        g.save_study({"per_seed": None, "summary": pd.DataFrame(), "bayes_acc": 0.7}, tmp_path / "g")
    assert list(tmp_path.iterdir()) == []


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown duplication scheme"):
        g.copy_indices(np.array([-1, 1]), 3, "nope", 0.7, np.random.default_rng(0))
