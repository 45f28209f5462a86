"""Grid cells that are one and the same training run.

At D-rate 0 a variant is the deduplicated training set itself, whatever the scheme (no copies are
drawn), and with `train.steps: auto` the steps budget gives it exactly the optimizer steps that
`train.epochs` epochs take. So every D-rate 0 cell of a trainer and seed is one run: the one of the
grid's first scheme (under the epochs budget when the steps budget is `auto`). Snakemake and DVC
both keep the job of every cell (DVC's matrix is a full product), but another cell's train job only
writes a record saying whose run it is (same_as.json where its model would be), its evaluate job
passes the record on, and aggregate reads the owner's results for it, marking the row, so the model
is trained and evaluated once and counted once.
"""

from __future__ import annotations

from .grid import cell_path

SAME_AS = "same_as.json"  # in a cell's model folder instead of model.pt


def owner(cell: dict, params: dict) -> dict | None:
    """The cell whose run this cell is, or None when the cell trains its own model."""
    if float(cell["rate"]) != 0:
        return None
    budget = "epochs" if cell["budget"] == "steps" and params["train"].get("steps") == "auto" else cell["budget"]
    scheme = params["grid"]["schemes"][0]
    if (budget, scheme) == (cell["budget"], cell["scheme"]):
        return None
    return {**cell, "budget": budget, "scheme": scheme}


def record(cell: dict, owner_cell: dict) -> dict:
    """What an alias cell writes in place of a model, curve or metrics."""
    path = cell_path(owner_cell)
    why = ["at D-rate 0 every scheme's variant is the deduplicated training set"]
    if owner_cell["budget"] != cell["budget"]:
        why.append(f"the {cell['budget']} budget (train.steps: auto) gives it the {owner_cell['budget']} budget's "
                   "optimizer steps")
    return {"same_as": path, "cell": path,
            "why": "; ".join(why) + f": same images, steps, seed and settings, trained and evaluated once, as {path}"}


def check_grid(params: dict) -> str | None:
    """Why the grid cannot be run as configured, or None: an alias cell needs its owner in the grid."""
    g = params["grid"]
    if any(float(r) == 0 for r in g["rates"]) and params["train"].get("steps") == "auto" \
            and "steps" in g["budgets"] and "epochs" not in g["budgets"]:
        return (f"grid.budgets: {g['budgets']} with D-rate 0 and train.steps: auto: the steps budget's D-rate 0 "
                "model is the epochs budget's run and is trained only there; add epochs to grid.budgets, or give "
                "train.steps a number")
    return None


def trained_once(frame):
    """Rows of a summary table that are their own run (alias rows dropped), for statistics that pool
    rows of several budgets or schemes."""
    if frame is None or "same_run_as" not in frame:
        return frame
    return frame[frame["same_run_as"].isna() | (frame["same_run_as"].astype(str) == "")]
