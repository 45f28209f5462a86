"""Every interval and test the project reports, in one place.

Seeds are few (often 3), so intervals are t-intervals, differences are paired by seed where the
seeds match, and a claim of "no effect" is an equivalence test (TOST) against a stated margin,
never the mere absence of a significant change.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVEL = 0.95
POWER = 0.80  # power at which the minimum detectable effect is stated


def _clean(values) -> np.ndarray:
    v = np.asarray(values, float)
    return v[~np.isnan(v)]


def t_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of a t-interval for the mean; low/high are NaN with fewer than 2 values."""
    v = _clean(values)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval (NaN half-width for one value)."""
    m, lo, hi = t_interval(values)
    return m, (hi - m) if np.isfinite(hi) else float("nan")


def bounded(interval: tuple[float, float, float], low: float = 0.0, high: float = 100.0) -> tuple[float, float, float]:
    """An interval of a bounded quantity (an accuracy in %) clipped to its range; the report says so."""
    m, lo, hi = interval
    return m, (max(lo, low) if np.isfinite(lo) else lo), (min(hi, high) if np.isfinite(hi) else hi)


def t_band(values, low: float = 0.0, high: float = 100.0) -> tuple[float, float]:
    """(low, high) of the clipped t-interval, for figure bands; the mean itself where undefined."""
    m, lo, hi = bounded(t_interval(values), low, high)
    return (lo, hi) if np.isfinite(lo) else (m, m)


def welch_interval(a, b, level: float = LEVEL) -> tuple[float, float, float, float]:
    """(mean(a) - mean(b), low, high, degrees of freedom) by Welch's t-interval."""
    a, b = _clean(a), _clean(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    m = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.5 + level / 2, dof) * se)
    return m, m - half, m + half, float(dof)


def tost(diffs, margin: float, level: float = LEVEL) -> bool:
    """Two one-sided tests: True when the mean of the paired differences lies within (-margin, margin)
    at the given level, i.e. the (1 - 2 alpha) interval lies inside the margin."""
    v = _clean(diffs)
    if len(v) < 2:
        return False
    alpha = 1 - level
    m, lo, hi = t_interval(v, level=1 - 2 * alpha)
    return bool(lo > -margin and hi < margin)


def min_detectable(diffs, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true mean difference a paired t-test on this many seeds, with this spread,
    detects with the given power: (t_{1-alpha/2} + t_{power}) * sd / sqrt(n)."""
    v = _clean(diffs)
    if len(v) < 2:
        return float("nan")
    dof = len(v) - 1
    return float((stats.t.ppf(0.5 + level / 2, dof) + stats.t.ppf(power, dof)) * v.std(ddof=1) / np.sqrt(len(v)))


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (95 % by default)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def norm_ppf(p: float) -> float:
    return float(stats.norm.ppf(p))
