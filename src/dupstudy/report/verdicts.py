"""What the numbers say: which runs are compared, the differences between them and the verdicts on them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .html import _sentences


def _close(a, b) -> bool:
    return abs(float(a) - float(b)) < 1e-9


def _percent_scale(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Accuracies as percent: a table whose accuracy columns are all <= 1 is taken as fractions."""
    cols = [c for c in cols if c in frame]
    if not cols:
        return frame
    values = frame[cols].apply(pd.to_numeric, errors="coerce")
    if np.nanmax(values.to_numpy(float), initial=0.0) <= 1.0 + 1e-9:
        values = values * 100.0
    frame = frame.copy()
    frame[cols] = values
    return frame


def _with_shared_zero(frame: pd.DataFrame) -> pd.DataFrame:
    """D-rate 0 is the same training set for every scheme: give each scheme the rate-0 rows it lacks."""
    if frame is None or frame.empty:
        return frame
    schemes = sorted(frame.loc[frame["rate"] > 0, "scheme"].unique())
    zero = frame[frame["rate"] == 0]
    if zero.empty or not schemes:
        return frame
    # one source scheme per trainer, so a rate-0 run trained under several names is not counted twice
    source = zero.groupby("trainer")["scheme"].min()
    zero = zero[zero["scheme"].to_numpy() == zero["trainer"].map(source).to_numpy()]
    parts = [frame[frame["rate"] > 0]]
    for s in schemes:
        own = frame[(frame["rate"] == 0) & (frame["scheme"] == s)]
        parts.append(own if len(own) else zero.assign(scheme=s))
    return pd.concat(parts, ignore_index=True)


def _each_model_once(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with each trained model once: D-rate 0 is one training set, listed under every scheme."""
    zero = frame["rate"] == 0
    first = frame[zero].groupby("trainer")["scheme"].transform("min")
    keep = ~zero
    keep[zero] = frame.loc[zero, "scheme"] == first
    return frame[keep]


def _diff(frame: pd.DataFrame, metric: str, trainer: str, scheme: str, rate: float,
          base_rate: float = 0.0) -> dict | None:
    """Mean difference of `metric` at `rate` (scheme) minus at base_rate (any scheme), with a 95 % t-interval,
    the 90 % interval that the equivalence test (TOST) reads, and the smallest change the seeds detect.

    Paired by seed when at least two seeds have both cells, else Welch's interval."""
    if frame is None or metric not in frame:
        return None
    f = frame[frame["trainer"] == trainer]
    hi = f[(f["scheme"] == scheme) & np.isclose(f["rate"], rate)].groupby("seed")[metric].mean().dropna()
    lo = f[np.isclose(f["rate"], base_rate)].groupby("seed")[metric].mean().dropna()
    if hi.empty or lo.empty:
        return None
    common = hi.index.intersection(lo.index)
    out = {"mean_hi": float(hi.mean()), "mean_lo": float(lo.mean()), "n_hi": len(hi), "n_lo": len(lo), "rate": rate,
           "metric": metric}
    if len(common) >= 2:
        diffs = (hi[common] - lo[common]).to_numpy(float)
        m, lo_, hi_ = stats.t_interval(diffs)
        _, el, eh = stats.t_interval(diffs, level=1 - 2 * (1 - stats.LEVEL))
        out.update(diff=m, lo=lo_, hi=hi_, eq_lo=el, eq_hi=eh, mde=stats.min_detectable(diffs), n=len(common),
                   how="paired by seed")
    elif len(hi) >= 2 and len(lo) >= 2:
        m, lo_, hi_, _ = stats.welch_interval(hi, lo)
        _, el, eh, _ = stats.welch_interval(hi, lo, level=1 - 2 * (1 - stats.LEVEL))
        out.update(diff=m, lo=lo_, hi=hi_, eq_lo=el, eq_hi=eh, mde=float("nan"), n=min(len(hi), len(lo)), how="Welch")
    else:
        nan = float("nan")
        out.update(diff=float(hi.mean() - lo.mean()), lo=nan, hi=nan, eq_lo=nan, eq_hi=nan, mde=nan,
                   n=min(len(hi), len(lo)), how="single seed")
    return out


VERDICT_RULES = (
    "A claim that duplication raises (lowers) a figure is supported when the 95 % interval of the change, paired by "
    "seed, lies above (below) zero, and not supported when it lies on the other side. A claim of no effect is "
    "supported only by an equivalence test: the 90 % interval (two one-sided tests at 5 %) lies within ± the margin "
    "(report.equivalence_margin); it is not supported when the 95 % interval lies wholly beyond the margin in the "
    "claimed-absent direction. Everything else is inconclusive: the seeds cannot tell. Each verdict states the "
    "smallest change its seeds would detect with 80 % power.")


def _verdict(d: dict | None, expect: str, margin: float) -> tuple[str, str]:
    """expect: 'up' (claim: increases), 'down' (claim: decreases), 'not_up' (claim: does not increase).
    Returns (verdict, why), the verdict one of supported / not supported / inconclusive / not tested."""
    if d is None:
        return "not tested", "no matching runs in this study"
    if not (np.isfinite(d["lo"]) and np.isfinite(d["hi"])):
        return "not tested", "one seed per cell: no confidence interval, so no verdict"
    up, down = d["lo"] > 0, d["hi"] < 0
    within = d["eq_lo"] > -margin and d["eq_hi"] < margin
    power = (f"these {d['n']} seeds detect a change of {d['mde']:.2f} with 80 % power" if np.isfinite(d["mde"])
             else "")
    if expect in ("up", "down"):
        if (up, down)[expect == "down"]:
            return "supported", power
        if (down, up)[expect == "down"]:
            return "not supported", _sentences("the change goes the other way", power)
        if within:
            return "not supported", _sentences(f"the change is within ±{margin:g} (equivalence test)", power)
        return "inconclusive", _sentences("no change detectable at 95 % confidence, and none excluded", power)
    if d["lo"] > margin:
        return "not supported", _sentences(f"it increases by more than {margin:g}", power)
    if within or down:
        return "supported", _sentences(f"the change is within ±{margin:g} (equivalence test)" if within
                                       else "it decreases", power)
    return "inconclusive", _sentences(f"an increase of up to {d['hi']:.2f} is not excluded, so no effect cannot be "
                                      f"claimed at the margin ±{margin:g}", power)


def _cell_verdict(published: float, ci: tuple | None) -> str:
    """Where the published figure lies against our 95 % interval (a different protocol: see the notes)."""
    if ci is None:
        return "no verdict: no comparable runs"
    m, lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no verdict: one seed, no interval"
    if lo <= published <= hi:
        return "published value inside our interval"
    return f"published value {'above' if published > hi else 'below'} our interval by {abs(published - m):.2f} pp"
