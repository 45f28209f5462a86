"""The paper's two-dimensional Gaussian study (Figs. 1-2), rerun over many seeds with error bars.

Setup, exactly as in the paper:
  class -1 ~ N([0, 0], S), class +1 ~ N([1, 1], S), S = [[1, 0.5], [0.5, 1]],
  n_per_class training samples per class, SVC(kernel='rbf', C=svm_c, gamma='scale').
D-rate r = added copies / original training-set size (N = 2 * n_per_class); round(r * N)
copies are ADDED to the training set.
  uniform: each copy is drawn uniformly (with replacement) from all N training samples;
  biased:  each copy comes from class +1 with probability favoured_share, else from class -1,
           uniformly within the class.
Every model is evaluated on an independent test sample (half per class) drawn once per seed,
so the model with duplicates and the model without them (same seed, same training data,
same test points) form a paired comparison.

Randomness is split into independent streams keyed by (seed, purpose, scheme, rate), so a
cell's result depends only on its own seed, scheme and rate, not on which other rates are run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .io import atomic_path, json_default, read_json
from .stats import t_interval

MEAN_NEG = np.array([0.0, 0.0])
MEAN_POS = np.array([1.0, 1.0])
COV = np.array([[1.0, 0.5], [0.5, 1.0]])
SCHEMES = ("uniform", "biased")
METRICS = ("acc_neg", "acc_pos", "acc_all")

_STREAM_TRAIN, _STREAM_TEST, _STREAM_COPIES = 0, 1, 2


# ----------------------------------------------------------------------------- pieces

def bayes_accuracy(mean_neg=MEAN_NEG, mean_pos=MEAN_POS, cov=COV) -> float:
    """Exact Bayes-optimal accuracy for two Gaussians with shared covariance and equal priors.

    The optimal rule is linear and errs with probability Phi(-Delta/2) on each class, so the
    accuracy is Phi(Delta/2), Delta = Mahalanobis distance between the means.
    """
    diff = np.asarray(mean_pos, float) - np.asarray(mean_neg, float)
    delta = float(np.sqrt(diff @ np.linalg.solve(np.asarray(cov, float), diff)))
    return float(stats.norm.cdf(delta / 2.0))


def bayes_boundary(mean_neg=MEAN_NEG, mean_pos=MEAN_POS, cov=COV) -> tuple[np.ndarray, float]:
    """(w, b) of the Bayes-optimal boundary w.x + b = 0 (positive side = class +1)."""
    mean_neg, mean_pos = np.asarray(mean_neg, float), np.asarray(mean_pos, float)
    w = np.linalg.solve(np.asarray(cov, float), mean_pos - mean_neg)
    b = -float(w @ (mean_neg + mean_pos) / 2.0)
    return w, b


def sample(n_neg: int, n_pos: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n_neg points of class -1 followed by n_pos points of class +1; labels in {-1, +1}."""
    x_neg = rng.multivariate_normal(MEAN_NEG, COV, size=n_neg)
    x_pos = rng.multivariate_normal(MEAN_POS, COV, size=n_pos)
    X = np.concatenate([x_neg, x_pos])
    y = np.concatenate([-np.ones(n_neg, dtype=np.int64), np.ones(n_pos, dtype=np.int64)])
    return X, y


def n_copies(rate: float, n_train: int) -> int:
    """Number of added copies for D-rate `rate` on a training set of n_train samples."""
    if rate < 0:
        raise ValueError(f"D-rate must be >= 0, got {rate}")
    return int(round(rate * n_train))


def copy_indices(y: np.ndarray, count: int, scheme: str, favoured_share: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Indices into the training set of the `count` samples to copy (with replacement)."""
    y = np.asarray(y)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if scheme == "uniform":
        return rng.integers(0, len(y), size=count).astype(np.int64)
    if scheme == "biased":
        # Exactly round(share * count) copies from class +1, as the image variants do (variants.py), so the
        # D-ratio is the stated share and not a binomial draw around it.
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y == -1)
        n_pos = int(round(favoured_share * count))
        return np.concatenate([pos[rng.integers(0, len(pos), size=n_pos)],
                               neg[rng.integers(0, len(neg), size=count - n_pos)]]).astype(np.int64)
    raise ValueError(f"unknown duplication scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, key)]))


def _rate_key(rate: float) -> int:
    return int(round(rate * 1_000_000))


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        return list(range(int(seeds)))
    return [int(s) for s in seeds]


def _fit(X: np.ndarray, y: np.ndarray, svm_c: float):
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=svm_c, gamma="scale").fit(X, y)


def decision_values(model, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The fitted binary RBF SVC's decision function, vectorised (same values as
    model.decision_function to ~1e-13, several times faster than libsvm's per-sample loop)."""
    sv = model.support_vectors_
    coef = model.dual_coef_[0]
    sv_sq = (sv ** 2).sum(1)
    out = np.empty(len(X))
    for start in range(0, len(X), chunk):
        xb = X[start:start + chunk]
        d2 = (xb ** 2).sum(1)[:, None] + sv_sq[None, :] - 2.0 * (xb @ sv.T)
        np.maximum(d2, 0.0, out=d2)
        np.multiply(d2, -model._gamma, out=d2)
        np.exp(d2, out=d2)
        out[start:start + chunk] = d2 @ coef
    return out + model.intercept_[0]


def _accuracies(model, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    # decision > 0 means classes_[1] = +1, as in SVC.predict
    correct = np.where(decision_values(model, X) > 0, 1, -1) == y
    return {
        "acc_neg": float(correct[y == -1].mean()),
        "acc_pos": float(correct[y == 1].mean()),
        "acc_all": float(correct.mean()),
    }


def _settings(settings: dict) -> dict:
    s = {
        "n_per_class": int(settings["n_per_class"]),
        "rates": [float(r) for r in settings["rates"]],
        "favoured_share": float(settings["favoured_share"]),
        "seeds": settings["seeds"],
        "test_samples": int(settings["test_samples"]),
        "svm_c": float(settings["svm_c"]),
    }
    return s


def _train_test(seed: int, s: dict):
    X, y = sample(s["n_per_class"], s["n_per_class"], _rng(seed, _STREAM_TRAIN))
    n_test_neg = s["test_samples"] // 2
    X_test, y_test = sample(n_test_neg, s["test_samples"] - n_test_neg, _rng(seed, _STREAM_TEST))
    return X, y, X_test, y_test


def _copies(seed: int, scheme: str, rate: float, y: np.ndarray, s: dict) -> np.ndarray:
    rng = _rng(seed, _STREAM_COPIES, SCHEMES.index(scheme), _rate_key(rate))
    return copy_indices(y, n_copies(rate, len(y)), scheme, s["favoured_share"], rng)


# ----------------------------------------------------------------------------- the study

def run_seed(seed: int, settings: dict) -> list[dict]:
    """All (scheme, rate) cells of one seed, as rows of the per_seed table."""
    s = _settings(settings)
    X, y, X_test, y_test = _train_test(seed, s)
    base = _accuracies(_fit(X, y, s["svm_c"]), X_test, y_test)
    rows = []
    for scheme in SCHEMES:
        for rate in s["rates"]:
            idx = _copies(seed, scheme, rate, y, s)
            X_dup = np.concatenate([X, X[idx]])
            y_dup = np.concatenate([y, y[idx]])
            acc = _accuracies(_fit(X_dup, y_dup, s["svm_c"]), X_test, y_test) if len(idx) else dict(base)
            rows.append({
                "seed": seed, "scheme": scheme, "rate": rate,
                "n_train": len(y), "n_copies": len(idx),
                **acc,
                **{f"base_{k}": v for k, v in base.items()},
                "d_ratio_pos": float(np.mean(y[idx] == 1)) if len(idx) else float("nan"),
            })
    return rows


def summarize(per_seed: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval over seeds per scheme, rate and metric (long format).

    Metrics: acc_*, base_acc_*, delta_acc_* (= with minus without duplicates, paired by seed)
    and d_ratio_pos.
    """
    frame = per_seed.copy()
    for m in METRICS:
        frame[f"delta_{m}"] = frame[m] - frame[f"base_{m}"]
    metrics = [*METRICS, *(f"base_{m}" for m in METRICS), *(f"delta_{m}" for m in METRICS), "d_ratio_pos"]
    rows = []
    for (scheme, rate), group in frame.groupby(["scheme", "rate"], sort=True):
        for metric in metrics:
            values = group[metric].to_numpy(float)
            mean, lo, hi = t_interval(values, level)
            rows.append({
                "scheme": scheme, "rate": float(rate), "metric": metric,
                "mean": mean,
                "sd": float(np.nanstd(values, ddof=1)) if np.sum(~np.isnan(values)) > 1 else float("nan"),
                "n": int(np.sum(~np.isnan(values))),
                "ci_low": lo, "ci_high": hi,
            })
    return pd.DataFrame(rows, columns=["scheme", "rate", "metric", "mean", "sd", "n", "ci_low", "ci_high"])


def run_study(settings: dict, *, grids: bool = True, n_jobs: int = 1) -> dict[str, Any]:
    """Run every (seed, scheme, rate) cell.

    Returns {"per_seed": DataFrame, "summary": DataFrame, "bayes_acc": float,
    "settings": dict, "seconds": float, "grids": dict | None}.
    """
    s = _settings(settings)
    seeds = _seed_list(s["seeds"])
    start = time.perf_counter()
    if n_jobs == 1:
        chunks = [run_seed(seed, s) for seed in seeds]
    else:
        from joblib import Parallel, delayed

        chunks = Parallel(n_jobs=n_jobs)(delayed(run_seed)(seed, s) for seed in seeds)
    per_seed = pd.DataFrame([row for chunk in chunks for row in chunk])
    per_seed = per_seed.sort_values(["scheme", "rate", "seed"], kind="stable").reset_index(drop=True)
    result = {
        "per_seed": per_seed,
        "summary": summarize(per_seed),
        "bayes_acc": bayes_accuracy(),
        "settings": {**s, "seeds": seeds},
        "grids": decision_grids(s, seed=seeds[0]) if grids and seeds else None,
    }
    result["seconds"] = time.perf_counter() - start
    return result


def default_grid_rate(rates: list[float]) -> float:
    """The rate shown in the boundary plots: the paper's example 0.4 if run, else the middle rate."""
    for r in rates:
        if abs(r - 0.4) < 1e-9:
            return r
    return sorted(rates)[len(rates) // 2]


def decision_grids(settings: dict, seed: int = 0, rates: dict[str, float] | None = None,
                   resolution: int = 161, extent: tuple[float, float, float, float] = (-3.0, 4.0, -3.0, 4.0)) -> dict:
    """Decision-function values on a grid for one seed: without duplicates and per scheme.

    Returns {"xs", "ys" (1-D grid axes), "train_X", "train_y", "z_base" (ys x xs),
    "schemes": {scheme: {"rate", "z", "copy_idx"}}}. The boundary is the zero level of z;
    z > 0 means class +1. Copies are the same ones run_seed uses for that seed and rate.
    """
    s = _settings(settings)
    rates = rates or {scheme: default_grid_rate(s["rates"]) for scheme in SCHEMES}
    X, y, _, _ = _train_test(seed, s)
    xs = np.linspace(extent[0], extent[1], resolution)
    ys = np.linspace(extent[2], extent[3], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    out = {
        "seed": seed, "xs": xs, "ys": ys, "train_X": X, "train_y": y,
        "z_base": _fit(X, y, s["svm_c"]).decision_function(grid).reshape(gx.shape),
        "schemes": {},
    }
    for scheme, rate in rates.items():
        idx = _copies(seed, scheme, rate, y, s)
        model = _fit(np.concatenate([X, X[idx]]), np.concatenate([y, y[idx]]), s["svm_c"])
        out["schemes"][scheme] = {"rate": float(rate), "z": model.decision_function(grid).reshape(gx.shape),
                                  "copy_idx": idx}
    return out


# ----------------------------------------------------------------------------- files

def save_study(result: dict, out_dir: str | Path) -> None:
    """Write per_seed.csv, summary.csv, summary.json (and grids.npz when present), atomically.

    The whole directory is built beside `out_dir` and renamed into place at the end.
    """
    w, b = bayes_boundary()
    summary = result["summary"]
    meta = {
        "bayes_acc": float(result["bayes_acc"]),
        "bayes_boundary": {"w": w.tolist(), "b": b},
        "settings": result.get("settings", {}),
        "seconds": result.get("seconds"),
        "setup": {
            "mean_neg": MEAN_NEG.tolist(), "mean_pos": MEAN_POS.tolist(), "cov": COV.tolist(),
            "classifier": "SVC(kernel='rbf', gamma='scale')",
            "d_rate": "added copies / original training-set size (2 * n_per_class)",
            "ci": "95% t-interval over seeds",
        },
        "summary": json.loads(summary.to_json(orient="records")),
    }
    grids = result.get("grids")
    with atomic_path(out_dir, is_dir=True) as tmp:
        result["per_seed"].to_csv(tmp / "per_seed.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=json_default) + "\n")
        if grids:
            arrays = {"xs": grids["xs"], "ys": grids["ys"], "train_X": grids["train_X"],
                      "train_y": grids["train_y"], "z_base": grids["z_base"],
                      "seed": np.array(grids["seed"]),
                      "schemes": np.array(list(grids["schemes"]), dtype=str),
                      "rates": np.array([p["rate"] for p in grids["schemes"].values()], float)}
            for scheme, panel in grids["schemes"].items():
                arrays[f"z_{scheme}"] = panel["z"]
                arrays[f"copy_idx_{scheme}"] = panel["copy_idx"]
            with open(tmp / "grids.npz", "wb") as f:
                np.savez_compressed(f, **arrays)


def load_study(out_dir: str | Path) -> dict:
    """Read what save_study wrote; `grids` is None when grids.npz is absent."""
    out_dir = Path(out_dir)
    meta = read_json(out_dir / "summary.json")
    result = {
        "per_seed": pd.read_csv(out_dir / "per_seed.csv"),
        "summary": pd.read_csv(out_dir / "summary.csv"),
        "bayes_acc": meta["bayes_acc"],
        "meta": meta,
        "grids": None,
    }
    if (out_dir / "grids.npz").is_file():
        with np.load(out_dir / "grids.npz", allow_pickle=False) as z:
            schemes = [str(s) for s in z["schemes"]]
            result["grids"] = {
                "seed": int(z["seed"]), "xs": z["xs"], "ys": z["ys"], "train_X": z["train_X"],
                "train_y": z["train_y"], "z_base": z["z_base"],
                "schemes": {s: {"rate": float(r), "z": z[f"z_{s}"], "copy_idx": z[f"copy_idx_{s}"]}
                            for s, r in zip(schemes, z["rates"])},
            }
    return result
