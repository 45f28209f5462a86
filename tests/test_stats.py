"""The one home of the project's intervals and tests (stats.py), checked against known values."""

import numpy as np
import pytest
from scipy import stats as sp

from dupstudy import stats


def test_t_interval():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, lo, hi = stats.t_interval(values)
    half = sp.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (mean, lo, hi) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    assert np.isnan(stats.t_interval([1.0])[1])
    assert stats.mean_ci(values) == pytest.approx((2.5, half))


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = stats.wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == pytest.approx(1.0)
    assert stats.wilson_interval(0, 10)[0] == 0.0
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)


def test_accuracy_intervals_stay_in_0_100():
    # three seeds near the ceiling: the plain t-interval leaves [0, 100] (the report once showed 101.00)
    seeds = [99.9, 98.6, 99.3]
    assert stats.t_interval(seeds)[2] > 100
    m, lo, hi = stats.bounded(stats.t_interval(seeds))
    assert hi == 100.0 and lo == pytest.approx(stats.t_interval(seeds)[1]) and m == pytest.approx(np.mean(seeds))
    assert stats.t_band(seeds) == (lo, 100.0)
    assert stats.t_band([42.0]) == (42.0, 42.0)  # one seed: no band


def test_equivalence_needs_the_90_percent_interval_inside_the_margin():
    assert stats.tost([0.1, -0.1, 0.05, 0.0], margin=1.0)
    assert not stats.tost([1.0, 2.0, 3.0], margin=1.0)        # a real gain
    assert not stats.tost([0.5, -0.5, 1.4, -1.2], margin=1.0)  # too noisy to claim equivalence
    assert not stats.tost([0.0], margin=1.0)


def test_min_detectable_effect_known_value():
    # sd 1, n 3: (t_.975,2 + t_.80,2) / sqrt(3)
    expected = (sp.t.ppf(0.975, 2) + sp.t.ppf(0.8, 2)) / np.sqrt(3)
    assert stats.min_detectable([-1.0, 0.0, 1.0]) == pytest.approx(expected)
    assert expected == pytest.approx(3.097, abs=1e-3)


def test_welch_interval_matches_scipy():
    a, b = np.array([1.0, 2.0, 4.0, 3.5]), np.array([0.5, 0.7, 1.9])
    m, lo, hi, dof = stats.welch_interval(a, b)
    res = sp.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high)) and m == pytest.approx(a.mean() - b.mean())
