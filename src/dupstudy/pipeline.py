"""The one description of the pipeline's DAG.

The Snakefile's rules and dvc.yaml are both rendered from STAGES below, so the two
orchestrators run the same commands on the same files with the same params. Paths
use `{budget}`, `{scheme}`, `{rate}`, `{trainer}` and `{seed}` for grid cells; Snakemake reads
them as wildcards and DVC as `${item.*}` of a `matrix:` over the `grid:` lists of
params.yaml, so editing the grid needs no regeneration of dvc.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

GRID_KEYS = {"budget": "budgets", "scheme": "schemes", "rate": "rates", "trainer": "trainers", "seed": "seeds"}
CELL = "{budget}/{scheme}/r{rate}/{trainer}/s{seed}"
VARIANT = "data/variants/{scheme}/r{rate}/s{seed}.npy"


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: dict[str, str] = field(default_factory=dict)   # CLI flag -> path
    outputs: dict[str, str] = field(default_factory=dict)  # CLI flag -> path
    params: tuple[str, ...] = ()     # params.yaml keys the stage reads
    code: tuple[str, ...] = ()       # library modules the stage runs (DVC reruns when they change)
    grid: tuple[str, ...] = ()       # wildcards of one job
    gather: dict[str, str] = field(default_factory=dict)  # CLI flag -> folder holding every cell of a grid stage
    gathered: tuple[str, ...] = ()   # (stage name) whose grid outputs `gather` collects
    metrics: tuple[str, ...] = ()    # outputs that are DVC metrics (small JSON, kept in git)
    gpu: bool = False

    @property
    def script(self) -> str:
        return f"workflow/scripts/{self.name}.py"

    def args(self) -> str:
        flags = {**self.inputs, **self.gather, **self.outputs}
        parts = [f"--{k.replace('_', '-')} {v}" for k, v in flags.items()]
        parts += [f"--{w} {{{w}}}" for w in self.grid]
        return " ".join(parts)

    def cmd(self) -> str:
        return f"python {self.script} {self.args()}"


STAGES: dict[str, Stage] = {s.name: s for s in [
    Stage("ingest", outputs={"out": "data/prepared"}, params=("dataset",), code=("datasets",)),
    Stage("dedup", inputs={"prepared": "data/prepared"}, outputs={"out": "data/dedup"},
          params=("dedup",), code=("dedup",)),
    Stage("variant", inputs={"prepared": "data/prepared", "dedup": "data/dedup"}, outputs={"out": VARIANT},
          params=("variants",), code=("variants.py",), grid=("scheme", "rate", "seed")),
    Stage("train", inputs={"prepared": "data/prepared", "dedup": "data/dedup", "variant": VARIANT},
          # a folder: model.pt, or same_as.json where the cell is another cell's run (runs.py)
          outputs={"model": f"results/models/{CELL}", "curve": f"results/curves/{CELL}.json"},
          params=("model", "train", "attack.eps", "attack.train_step", "attack.train_steps", "attack.fgsm_step",
                  "attack.fgsm_guard", "attack.trades_beta"),
          code=("train.py", "recipes.py", "models.py", "attacks.py", "device.py", "runs.py"),
          grid=("budget", "scheme", "rate", "trainer", "seed"),
          gpu=True),
    Stage("evaluate", inputs={"prepared": "data/prepared", "dedup": "data/dedup",
                              "model": f"results/models/{CELL}"},
          outputs={"out": f"results/metrics/{CELL}.json"},
          params=("attack.eps", "attack.eval_step", "attack.eval_steps", "attack.eval_restarts", "attack.eval_n",
                  "attack.autoattack", "attack.autoattack_n", "train.threads", "evaluate.tta"),
          code=("evaluate.py", "attacks.py", "models.py", "runs.py"), grid=("budget", "scheme", "rate", "trainer", "seed"),
          gpu=True),
    Stage("aggregate", inputs={"prepared": "data/prepared"},
          gather={"metrics_dir": "results/metrics", "curves_dir": "results/curves", "variants_dir": "data/variants"},
          gathered=("evaluate", "train", "variant"),
          outputs={"summary": "results/summary.csv", "per_class": "results/per_class.csv",
                   "curves": "results/curves.csv", "metrics": "results/metrics.json"},
          params=("grid", "variants.biased"), code=("aggregate.py", "variants.py", "runs.py"), metrics=("results/metrics.json",)),
    Stage("gaussian", outputs={"out": "results/gaussian"}, params=("gaussian",), code=("gaussian.py",)),
    Stage("report", inputs={"prepared": "data/prepared", "dedup": "data/dedup", "summary": "results/summary.csv",
                            "per_class": "results/per_class.csv", "curves": "results/curves.csv",
                            "gaussian": "results/gaussian"},
          outputs={"out": "reports/index.html", "figures": "reports/figures"},
          params=("report", "grid", "variants", "dataset", "dedup", "model", "train", "attack"), code=("report",)),
]}


def cells(stage: Stage, params: dict) -> list[dict]:
    """Every grid cell of a stage, as wildcard values spelled as in paths."""
    lists = [[str(v) for v in params["grid"][GRID_KEYS[w]]] for w in stage.grid]
    return [dict(zip(stage.grid, combo)) for combo in product(*lists)]


def expand(pattern: str, stage: Stage, params: dict) -> list[str]:
    return [pattern.format(**c) for c in cells(stage, params)]


# ---- DVC ---------------------------------------------------------------------------

def _dvc_path(s: str) -> str:
    return re.sub(r"\{(\w+)\}", r"${item.\1}", s)


def _code_paths(stage: Stage) -> list[str]:
    return [f"src/dupstudy/{c}" for c in stage.code]


def dvc_yaml() -> dict:
    """dvc.yaml as a dict: one stage per entry of STAGES, grid stages as a matrix."""
    stages = {}
    for st in STAGES.values():
        entry: dict = {}
        if st.grid:
            entry["matrix"] = {w: f"${{grid.{GRID_KEYS[w]}}}" for w in st.grid}
        entry["cmd"] = _dvc_path(st.cmd())
        deps = [st.script, *_code_paths(st), *st.inputs.values(), *st.gather.values()]
        entry["deps"] = [_dvc_path(d) for d in deps]
        if st.params:
            entry["params"] = list(st.params)
        outs = [_dvc_path(o) for o in st.outputs.values() if o not in st.metrics]
        if outs:
            entry["outs"] = outs
        if st.metrics:
            entry["metrics"] = [{m: {"cache": False}} for m in st.metrics]
        stages[st.name] = entry
    return {"stages": stages, "plots": PLOTS}


# `dvc plots show` / `dvc plots diff`: accuracy against D-rate and training curves, from the
# aggregate stage's tables (one point per model; DVC draws them, the report adds CI bands).
PLOTS = [
    {"clean accuracy vs D-rate": {"template": "scatter", "x": "rate", "y": {"results/summary.csv": "clean_acc"},
                                  "x_label": "D-rate r (added copies / training size)", "y_label": "clean accuracy"}},
    {"PGD accuracy vs D-rate": {"template": "scatter", "x": "rate", "y": {"results/summary.csv": "robust_acc"},
                                "x_label": "D-rate r (added copies / training size)", "y_label": "PGD accuracy"}},
    {"training loss": {"x": "step", "y": {"results/curves.csv": "loss"}, "x_label": "optimizer step",
                       "y_label": "training loss"}},
]


def render_dvc_yaml() -> str:
    import yaml

    header = "# Generated from src/dupstudy/pipeline.py by `dupstudy dag --write`; do not edit by hand.\n"
    return header + yaml.safe_dump(dvc_yaml(), sort_keys=False, width=10**6)


# ---- Snakemake ---------------------------------------------------------------------

def is_dir(path: str) -> bool:
    """Outputs without a file suffix are directories."""
    return "." not in path.rsplit("/", 1)[-1]


def smk_shell(stage: Stage) -> str:
    """Shell command with Snakemake's placeholders; the log gets the stage's output."""
    cmd = re.sub(r"\{(budget|scheme|rate|trainer|seed)\}", r"{wildcards.\1}", stage.cmd())
    return cmd + " > {log} 2>&1"


def smk_settings(stage: Stage, params: dict) -> str:
    """The params a stage reads, as a string: Snakemake's params trigger reruns a job when it changes."""
    import json

    picked = {}
    for key in stage.params:
        node = params
        for part in key.split("."):
            node = node[part]
        picked[key] = node
    return json.dumps(picked, sort_keys=True)
