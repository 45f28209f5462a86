"""Grid cells that are one and the same training run.

At D-rate 0 a variant is the deduplicated training set itself, and with `train.steps: auto` the
steps budget gives it exactly the optimizer steps that `train.epochs` epochs take: the steps
budget's D-rate 0 cell is the epochs budget's run (same images, steps, seed and settings).
Snakemake and DVC both keep the job of every cell (DVC's matrix is a full product), but that
cell's train job only writes a record saying whose run it is (same_as.json where its model would
be), its evaluate job passes the record on, and aggregate reads the epochs cell's results for it,
marking the row, so the model is trained and evaluated once and counted once.
"""

from __future__ import annotations

from .grid import cell_path

SAME_AS = "same_as.json"  # in a cell's model folder instead of model.pt


def same_run_as(budget: str, rate, train: dict) -> str | None:
    """The budget whose run this cell is, or None when the cell trains its own model."""
    if budget == "steps" and float(rate) == 0 and train.get("steps") == "auto":
        return "epochs"
    return None


def record(budget: str, scheme: str, rate, trainer: str, seed, owner: str) -> dict:
    """What an alias cell writes in place of a model, curve or metrics."""
    cell = dict(budget=budget, scheme=scheme, rate=rate, trainer=trainer, seed=seed)
    return {"same_as": owner, "cell": cell_path({**cell, "budget": owner}),
            "why": f"at D-rate 0 the {budget} budget (train.steps: auto) trains the {owner} budget's model: same "
                   f"images, optimizer steps, seed and settings; it was trained and evaluated once, as {owner}"}


def check_grid(params: dict) -> str | None:
    """Why the grid cannot be run as configured, or None: an alias cell needs its owner in the grid."""
    g = params["grid"]
    if any(float(r) == 0 for r in g["rates"]) and params["train"].get("steps") == "auto":
        missing = {same_run_as(b, 0, params["train"]) for b in g["budgets"]} - set(g["budgets"]) - {None}
        if missing:
            return (f"grid.budgets: {g['budgets']} with D-rate 0 and train.steps: auto: the steps budget's D-rate 0 "
                    f"model is the {', '.join(sorted(missing))} budget's run and is trained only there; add "
                    f"{', '.join(sorted(missing))} to grid.budgets, or give train.steps a number")
    return None


def trained_once(frame):
    """Rows of a summary table that are their own run (alias rows dropped), for statistics that pool
    rows of several budgets."""
    if frame is None or "same_run_as" not in frame:
        return frame
    return frame[frame["same_run_as"].isna() | (frame["same_run_as"].astype(str) == "")]
