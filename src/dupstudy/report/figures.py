"""Figures of the report: seaborn, colour-blind-safe, saved as PNG and SVG, embedded as base64 PNG.

Every plotting function takes tidy data (accuracies already in percent, D-rates as fractions)
and returns a matplotlib Figure; `save` writes it atomically as PNG and SVG and returns a
`Figure` record the HTML template uses. Nothing here reads files.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .. import stats  # noqa: E402
from ..grid import NAMES  # noqa: E402
from ..io import atomic_path  # noqa: E402

PALETTE = "colorblind"
RATE_LABEL = "D-rate r (% added copies)"
ACC_LABEL = "accuracy (%)"
CI_NOTE = "bands: 95% CI over seeds"


def _acc_band(values) -> tuple[float, float]:
    """Bands are the tables' 95 % t-intervals over seeds, clipped to [0, 100] % (a bootstrap over 3 seeds
    covers far less than 95 %)."""
    return stats.t_band(values)


def _loss_band(values) -> tuple[float, float]:
    return stats.t_band(values, -np.inf, np.inf)


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    png: Path
    svg: Path
    b64: str


def setup() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "savefig.bbox": "tight",
        "svg.hashsalt": "dupstudy",   # stable ids: the same figure gives the same SVG bytes
        "svg.fonttype": "path",        # no fonts needed to view the SVG
        "axes.titlesize": "medium",
    })


def save(fig, figures_dir: Path, name: str, title: str, caption: str) -> Figure:
    """Write `name`.png and `name`.svg atomically into figures_dir and close the figure."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    png_bytes = buf.getvalue()
    png, svg = figures_dir / f"{name}.png", figures_dir / f"{name}.svg"
    with atomic_path(png) as tmp:
        tmp.write_bytes(png_bytes)
    with atomic_path(svg) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(fig)
    return Figure(name, title, caption, png, svg, base64.b64encode(png_bytes).decode("ascii"))


def _colors(n: int) -> list:
    return sns.color_palette(PALETTE, n) if n <= 10 else sns.color_palette("viridis", n)


def _order(values, preferred) -> list:
    """Known names in their usual order (standard before pgd, uniform before biased), then the rest sorted."""
    values = list(pd.unique(pd.Series(list(values))))
    return [v for v in preferred if v in values] + sorted(v for v in values if v not in preferred)


TRAINERS = ("standard", "pgd", "fgsm_rs", "trades")
SCHEMES = ("uniform", "biased", "concentrated")


def _rate_axis(ax) -> None:
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:g}"))


def _finish(grid, xlabel: str, ylabel: str) -> None:
    grid.set_axis_labels(xlabel, ylabel)
    for ax in grid.axes.flat:
        if xlabel == RATE_LABEL:
            _rate_axis(ax)


# ------------------------------------------------------------------------- CIFAR-like grid

def accuracy_vs_rate(summary: pd.DataFrame):
    """Clean and PGD accuracy vs D-rate: columns = trainer, rows = metric, hue = scheme."""
    long = summary.melt(id_vars=["scheme", "rate", "trainer", "seed"],
                        value_vars=[c for c in ("clean_acc", "robust_acc") if c in summary],
                        var_name="metric", value_name="acc").dropna(subset=["acc"])
    long["metric"] = long["metric"].map({"clean_acc": "clean", "robust_acc": "PGD (robust)"})
    grid = sns.relplot(data=long, kind="line", x="rate", y="acc", hue="scheme", style="scheme", markers=True,
                       dashes=False, col="trainer", row="metric", errorbar=_acc_band,
                       col_order=_order(long["trainer"], TRAINERS), hue_order=_order(long["scheme"], SCHEMES),
                       style_order=_order(long["scheme"], SCHEMES),
                       row_order=["clean", "PGD (robust)"][:long["metric"].nunique()]
                       if set(long["metric"]) == {"clean", "PGD (robust)"} else None,
                       palette=_colors(long["scheme"].nunique()), height=3.2, aspect=1.25,
                       facet_kws={"sharey": False, "margin_titles": True})
    _finish(grid, RATE_LABEL, ACC_LABEL)
    return grid.figure


def budget_comparison(summary: pd.DataFrame):
    """Accuracy vs D-rate under equal epochs and under equal optimizer steps: columns = trainer,
    rows = metric, hue = budget, style = scheme."""
    long = summary.melt(id_vars=list(NAMES),
                        value_vars=[c for c in ("clean_acc", "robust_acc") if c in summary],
                        var_name="metric", value_name="acc").dropna(subset=["acc"])
    long["metric"] = long["metric"].map({"clean_acc": "clean", "robust_acc": "PGD (robust)"})
    long["budget"] = long["budget"].map({"epochs": "equal epochs", "steps": "equal steps"}).fillna(long["budget"])
    grid = sns.relplot(data=long, kind="line", x="rate", y="acc", hue="budget", style="scheme", markers=True,
                       dashes=False, col="trainer", row="metric", errorbar=_acc_band,
                       col_order=_order(long["trainer"], TRAINERS),
                       hue_order=_order(long["budget"], ("equal epochs", "equal steps")),
                       style_order=_order(long["scheme"], SCHEMES), palette=_colors(long["budget"].nunique()),
                       height=3.2, aspect=1.25, facet_kws={"sharey": False, "margin_titles": True})
    _finish(grid, RATE_LABEL, ACC_LABEL)
    return grid.figure


def leak_effect(summary: pd.DataFrame):
    """Clean accuracy on the whole test set vs without test images leaked into training."""
    long = summary.melt(id_vars=["scheme", "rate", "trainer", "seed"], value_vars=["clean_acc", "clean_acc_no_leak"],
                        var_name="test set", value_name="acc").dropna(subset=["acc"])
    long["test set"] = long["test set"].map({"clean_acc": "all test images",
                                             "clean_acc_no_leak": "without leaked test images"})
    grid = sns.relplot(data=long, kind="line", x="rate", y="acc", hue="test set", style="scheme", markers=True,
                       col="trainer", errorbar=_acc_band, palette=_colors(2), height=3.2, aspect=1.25,
                       col_order=_order(long["trainer"], TRAINERS), style_order=_order(long["scheme"], SCHEMES),
                       facet_kws={"sharey": False})
    _finish(grid, RATE_LABEL, "clean " + ACC_LABEL)
    return grid.figure


def per_class_heatmap(per_class: pd.DataFrame, classes: list[str] | None = None, favoured: list | None = None,
                      max_classes: int = 20):
    """Change of per-class accuracy vs D-rate 0 (percentage points), one panel per
    (trainer, metric) row and scheme column. Favoured classes of the biased scheme are starred."""
    favoured = {str(f) for f in (favoured or [])}
    pc = per_class.copy()
    pc["class"] = pc["class"].astype(str)
    metrics = [(t, m) for t in _order(pc["trainer"], TRAINERS) for m in ("clean_acc", "robust_acc")
               if m in pc and pc.loc[pc["trainer"] == t, m].notna().any()
               and not (t == "standard" and m == "robust_acc")]
    schemes = _order(pc.loc[pc["rate"] > 0, "scheme"], SCHEMES) or _order(pc["scheme"], SCHEMES)
    base = pc[pc["rate"] == 0].groupby(["trainer", "class"])[["clean_acc", "robust_acc"]].mean(numeric_only=True)
    mean = pc.groupby(["trainer", "scheme", "rate", "class"])[["clean_acc", "robust_acc"]].mean(numeric_only=True)
    names = _class_names(sorted(pc["class"].unique(), key=_natural), classes)
    # with many classes, show those that move most
    order = list(names)
    if len(order) > max_classes:
        delta = (mean.reset_index().merge(base.reset_index(), on=["trainer", "class"], suffixes=("", "_0")))
        delta["d"] = (delta["clean_acc"] - delta["clean_acc_0"]).abs()
        order = list(delta.groupby("class")["d"].max().sort_values(ascending=False).index[:max_classes])
        order.sort(key=_natural)
    fig, axes = plt.subplots(len(metrics), len(schemes), squeeze=False,
                             figsize=(3.2 + 2.4 * len(schemes), 0.9 + (0.28 * len(order) + 0.8) * len(metrics)))
    vmax = 1.0
    panels = []
    for (trainer, metric) in metrics:
        for scheme in schemes:
            try:
                m = mean.loc[(trainer, scheme)][metric].unstack("rate")
            except KeyError:
                panels.append(None)
                continue
            b = base.loc[trainer][metric] if trainer in base.index.get_level_values(0) else None
            d = m.sub(b, axis=0) if b is not None else m * np.nan
            d = d.reindex(order)
            d = d[[r for r in d.columns if r > 0]] if (d.columns > 0).any() else d
            panels.append(d)
            if np.isfinite(d.to_numpy(float)).any():
                vmax = max(vmax, float(np.nanmax(np.abs(d.to_numpy(float)))))
    k = 0
    for i, (trainer, metric) in enumerate(metrics):
        for j, scheme in enumerate(schemes):
            ax, d = axes[i][j], panels[k]
            k += 1
            if d is None or d.empty:
                ax.set_axis_off()
                continue
            labels = [f"{names.get(c, c)}{' *' if c in favoured else ''}" for c in d.index]
            with warnings.catch_warnings():  # seaborn 0.13 calls a deprecated colormap method
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                sns.heatmap(d.to_numpy(float), ax=ax, cmap="PuOr", center=0, vmin=-vmax, vmax=vmax,
                            annot=d.shape[0] * d.shape[1] <= 120, fmt=".1f", annot_kws={"size": 7},
                            xticklabels=[f"{100 * r:g}" for r in d.columns], yticklabels=labels,
                            cbar_kws={"label": "change vs r = 0 (pp)"})
            ax.set_title(f"{trainer} / {scheme}: {'clean' if metric == 'clean_acc' else 'PGD'}")
            ax.set_xlabel(RATE_LABEL)
            ax.set_ylabel("class" if j == 0 else "")
    fig.tight_layout()
    return fig


def _natural(v):
    s = str(v)
    return (0, int(s), "") if s.lstrip("-").isdigit() else (1, 0, s)


def _class_names(labels: list[str], classes: list[str] | None) -> dict[str, str]:
    out = {}
    for c in labels:
        if classes and c.lstrip("-").isdigit() and 0 <= int(c) < len(classes):
            out[c] = f"{c}: {classes[int(c)]}"
        else:
            out[c] = c
    return out


def _bin_steps(curves: pd.DataFrame, n_bins: int = 60) -> pd.DataFrame:
    """Average each run's curve into at most n_bins step bins, so CIs stay cheap on long runs."""
    if curves["step"].nunique() <= n_bins:
        return curves
    edges = np.linspace(curves["step"].min(), curves["step"].max(), n_bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    c = curves.copy()
    c["step"] = centers[np.clip(np.searchsorted(edges, c["step"], side="right") - 1, 0, n_bins - 1)]
    keys = ["scheme", "rate", "trainer", "seed", "step"]
    return c.groupby(keys, as_index=False)[["loss", "train_acc"]].mean()


def convergence(curves: pd.DataFrame, x: str = "step", y: str = "loss"):
    """Training curves per D-rate: rows = trainer, columns = scheme, hue = D-rate."""
    c = _bin_steps(curves) if x == "step" else (
        curves.sort_values("step").groupby(["scheme", "rate", "trainer", "seed", "epoch"], as_index=False)[[y]].last())
    rates = sorted(c["rate"].unique())
    c = c.assign(**{"D-rate (%)": c["rate"].map(lambda r: f"{100 * r:g}")})
    hue_order = [f"{100 * r:g}" for r in rates]
    scale = 100.0 if y == "train_acc" and c[y].max() <= 1.0 else 1.0
    c[y] = c[y] * scale
    grid = sns.relplot(data=c, kind="line", x=x, y=y, hue="D-rate (%)", hue_order=hue_order, col="scheme",
                       col_order=_order(c["scheme"], SCHEMES), row_order=_order(c["trainer"], TRAINERS),
                       row="trainer", errorbar=_loss_band, palette=_colors(len(rates)),
                       height=3.0, aspect=1.3, facet_kws={"sharey": "row", "sharex": False, "margin_titles": True})
    grid.set_axis_labels("optimizer steps" if x == "step" else "epoch",
                         "training loss (cross-entropy)" if y == "loss" else "training accuracy (%)")
    return grid.figure


# ------------------------------------------------------------------------- Gaussian study

_G_METRICS = {"acc_neg": "class -1", "acc_pos": "class +1", "acc_all": "overall"}


def gaussian_accuracy(summary: pd.DataFrame, bayes_acc: float | None):
    """Top: accuracy with duplicates (CI bands) and without (dashed), Bayes-optimal (dotted).
    Bottom: paired change vs no duplicates, percentage points."""
    schemes = _order(summary["scheme"], SCHEMES)
    colors = dict(zip(_G_METRICS, _colors(3)))
    fig, axes = plt.subplots(2, len(schemes), figsize=(5.2 * len(schemes), 7.2), squeeze=False, sharex=True)
    for j, scheme in enumerate(schemes):
        s = summary[summary["scheme"] == scheme]
        top, bottom = axes[0][j], axes[1][j]
        for metric, label in _G_METRICS.items():
            for ax, name, style, lab in ((top, metric, "-", f"{label}, with duplicates"),
                                         (top, f"base_{metric}", "--", f"{label}, no duplicates"),
                                         (bottom, f"delta_{metric}", "-", label)):
                d = s[s["metric"] == name].sort_values("rate")
                if d.empty:
                    continue
                ax.plot(d["rate"], 100 * d["mean"], style, color=colors[metric], marker="o" if style == "-" else None,
                        ms=4, label=lab)
                if style == "-":
                    ax.fill_between(d["rate"], 100 * d["ci_low"], 100 * d["ci_high"], color=colors[metric],
                                    alpha=0.25 if metric == "acc_all" else 0.12, lw=0)
        if bayes_acc is not None:
            top.axhline(100 * bayes_acc, color="black", ls=":", lw=1.5, label=f"Bayes-optimal ({100 * bayes_acc:.1f}%)")
        bottom.axhline(0, color="black", lw=0.8)
        top.set_title(f"{scheme} duplication")
        top.set_ylabel(ACC_LABEL)
        bottom.set_ylabel("change vs no duplicates (pp)")
        bottom.set_xlabel(RATE_LABEL)
        _rate_axis(bottom)
        rates = sorted(s["rate"].unique())
        if len(rates) <= 12:
            bottom.set_xticks(rates)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    axes[1][-1].legend(fontsize=7, loc="lower left", title="paired by seed", title_fontsize=7)
    fig.tight_layout()
    return fig


def gaussian_d_ratio(summary: pd.DataFrame, favoured_share: float | None):
    s = summary[summary["metric"] == "d_ratio_pos"].sort_values("rate")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    schemes = _order(s["scheme"], SCHEMES)
    for scheme, color in zip(schemes, _colors(len(schemes))):
        d = s[s["scheme"] == scheme]
        ax.plot(d["rate"], 100 * d["mean"], "-o", ms=4, color=color, label=scheme)
        ax.fill_between(d["rate"], 100 * d["ci_low"], 100 * d["ci_high"], color=color, alpha=0.2, lw=0)
    ax.axhline(50, color="grey", ls="--", lw=1, label="50 % (balanced)")
    if favoured_share is not None:
        ax.axhline(100 * favoured_share, color="black", ls=":", lw=1,
                   label=f"favoured share {100 * favoured_share:g} %")
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("D-ratio +1: copies from class +1 (%)")
    _rate_axis(ax)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gaussian_boundaries(grids: dict, bayes_boundary: dict | None):
    """Training points, copies and SVM boundaries for one seed: without duplicates and per scheme."""
    panels = [("no duplicates", 0.0, grids["z_base"], np.zeros(0, int))]
    for scheme, p in grids["schemes"].items():
        panels.append((f"{scheme}, r = {100 * p['rate']:g} %", p["rate"], p["z"], np.asarray(p["copy_idx"], int)))
    X, y = np.asarray(grids["train_X"]), np.asarray(grids["train_y"])
    xs, ys = np.asarray(grids["xs"]), np.asarray(grids["ys"])
    c_neg, c_pos = _colors(2)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.4), squeeze=False, sharey=True)
    for ax, (title, _, z, idx) in zip(axes[0], panels):
        ax.contourf(xs, ys, z > 0, levels=[-0.5, 0.5, 1.5], colors=[c_neg, c_pos], alpha=0.08)
        ax.scatter(X[y == -1, 0], X[y == -1, 1], s=10, color=c_neg, marker="o", label="class -1")
        ax.scatter(X[y == 1, 0], X[y == 1, 1], s=12, color=c_pos, marker="^", label="class +1")
        if len(idx):
            counts = np.bincount(idx, minlength=len(y))
            hit = np.flatnonzero(counts)
            ax.scatter(X[hit, 0], X[hit, 1], s=30 + 25 * counts[hit], facecolors="none", edgecolors="black", lw=0.7,
                       label="copied (size = copies)")
            ax.contour(xs, ys, grids["z_base"], levels=[0], colors="grey", linewidths=1, linestyles="--")
        ax.contour(xs, ys, z, levels=[0], colors="black", linewidths=1.6)
        if bayes_boundary:
            w, b = np.asarray(bayes_boundary["w"], float), float(bayes_boundary["b"])
            if abs(w[1]) > 1e-12:
                ax.plot(xs, -(w[0] * xs + b) / w[1], ls=":", color="black", lw=1.2)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_title(title)
        ax.set_xlabel("x1 (feature units)")
    axes[0][0].set_ylabel("x2 (feature units)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    handles += [matplotlib.lines.Line2D([], [], color="black", lw=1.6),
                matplotlib.lines.Line2D([], [], color="grey", ls="--"),
                matplotlib.lines.Line2D([], [], color="black", ls=":")]
    labels += ["SVM boundary", "boundary without duplicates", "Bayes-optimal boundary"]
    axes[0][-1].legend(handles, labels, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- deduplication

def dedup_counts(by_kind: dict, by_scope: dict):
    items = [("by kind", by_kind), ("by scope", by_scope)]
    items = [(t, d) for t, d in items if d]
    fig, axes = plt.subplots(1, len(items), figsize=(4.6 * len(items), 3.4), squeeze=False)
    for ax, (title, d) in zip(axes[0], items):
        frame = pd.DataFrame({"group": list(map(str, d)), "pairs": [float(v) for v in d.values()]})
        sns.barplot(data=frame, x="group", y="pairs", hue="group", palette=_colors(len(frame)), ax=ax, legend=False)
        for cont in ax.containers:
            ax.bar_label(cont, fmt="%d", fontsize=8)
        ax.set_title(f"duplicate pairs {title}")
        ax.set_xlabel("")
        ax.set_ylabel("pairs (count)")
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def dedup_per_class(per_class: pd.DataFrame, classes: list[str] | None = None):
    pc = per_class.copy()
    pc["class"] = pc["class"].astype(str)
    names = _class_names(list(pc["class"]), classes)
    pc["label"] = pc["class"].map(names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(pc) + 2), 3.4))
    sns.barplot(data=pc, x="label", y="removed", color=_colors(1)[0], ax=ax)
    ax.set_xlabel("class")
    ax.set_ylabel("training images removed (count)")
    ax.tick_params(axis="x", rotation=45 if len(pc) > 6 else 0)
    fig.tight_layout()
    return fig


def dedup_gallery(images, pairs: pd.DataFrame, per_kind: int):
    """Pairs per kind, spread evenly over the distance range (borderline ones included)."""
    rows = []
    for kind, group in pairs.groupby("kind", sort=True):
        g = group.sort_values("distance", kind="stable")
        take = np.unique(np.linspace(0, len(g) - 1, min(per_kind, len(g))).round().astype(int))
        rows.append((kind, g.iloc[take]))
    n_cols = 6  # pairs per row
    layout = []
    for kind, g in rows:
        for start in range(0, len(g), n_cols):
            layout.append((kind, g.iloc[start:start + n_cols]))
    fig, axes = plt.subplots(len(layout), 2 * n_cols, figsize=(2 * n_cols * 0.85, len(layout) * 1.15), squeeze=False)
    for r, (kind, chunk) in enumerate(layout):
        for c in range(2 * n_cols):
            axes[r][c].set_axis_off()
        for k, (_, pair) in enumerate(chunk.iterrows()):
            for side, key in enumerate(("a", "b")):
                ax = axes[r][2 * k + side]
                img = np.asarray(images[int(pair[key])])
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                          interpolation="nearest")
                ax.set_title(f"{pair[key]}" if side == 0 else f"{pair[key]}  d={pair['distance']:g}", fontsize=6)
        axes[r][0].text(-0.1, 0.5, str(kind), transform=axes[r][0].transAxes, ha="right", va="center", fontsize=8,
                        rotation=90)
    fig.tight_layout(pad=0.3)
    return fig
