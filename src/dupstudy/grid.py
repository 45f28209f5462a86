"""The study's grid, written once: its axes, how a cell is spelled in paths, and its cells.

Every other place that names an axis (the stage declarations, Snakemake's wildcards, the stage
scripts' arguments, aggregation, timings, `dupstudy validate`) imports it from here, and
tests/test_one_home.py fails when an axis list is spelled out anywhere else. Adding an axis is
an edit here, plus the code that gives the axis its meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product


@dataclass(frozen=True)
class Axis:
    name: str       # wildcard and CLI flag
    key: str        # its list under `grid:` in params.yaml
    pattern: str    # what a value may look like in a path (Snakemake's wildcard constraint)
    help: str
    type: type = str


AXES: tuple[Axis, ...] = (
    Axis("budget", "budgets", "epochs|steps",
         "epochs: train.epochs passes over the variant; steps: train.steps optimizer steps (auto: D-rate 0's count)"),
    Axis("scheme", "schemes", "[a-z_]+", "how the copies are drawn (variants.py)"),
    Axis("rate", "rates", "[0-9.]+", "D-rate: added copies / deduplicated training size"),
    Axis("trainer", "trainers", "[a-z_]+", "training method (train.py)"),
    Axis("seed", "seeds", "[0-9]+", "random seed of the variant and the training run", int),
)
BY_NAME = {a.name: a for a in AXES}
NAMES = tuple(a.name for a in AXES)
MODEL_GROUP = tuple(n for n in NAMES if n != "seed")  # a cell less its seed: what seeds are pooled over

# Paths of one cell, with the axes as `{name}` placeholders (Snakemake wildcards, DVC `${item.name}`).
CELL = "{budget}/{scheme}/r{rate}/{trainer}/s{seed}"
VARIANT = "{scheme}/r{rate}/s{seed}"


def allowed(axis: str) -> list | None:
    """The values an axis may take, from the params schema (their one home), or None when free."""
    from .params import schema

    items = schema()["properties"]["grid"]["properties"][BY_NAME[axis].key].get("items", {})
    return items.get("enum")


def rate_tag(rate) -> str:
    """The one spelling of a rate in paths and wildcards (Snakemake and DVC alike)."""
    return str(rate)


def rate_dir(rate) -> str:
    """A rate's folder name, as in CELL and VARIANT."""
    return f"r{rate_tag(rate)}"


def spell(cell: dict) -> dict:
    """A cell's values as they are written in paths."""
    return {k: rate_tag(v) if k == "rate" else str(v) for k, v in cell.items()}


def cell_path(cell: dict, pattern: str = CELL) -> str:
    return pattern.format(**spell(cell))


def cells(grid: dict, axes: tuple[str, ...] = NAMES) -> Iterator[dict]:
    """Every cell over the given axes, in grid order, with the values as params.yaml holds them."""
    lists = [grid[BY_NAME[a].key] for a in axes]
    for combo in product(*lists):
        yield dict(zip(axes, combo))


def label(cell: dict) -> str:
    """`budget=epochs/scheme=uniform/...`: a cell named in logs (only the axes it has)."""
    return "/".join(f"{a}={cell[a]}" for a in NAMES if cell.get(a) is not None)
