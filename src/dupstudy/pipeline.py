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

from . import grid as cellgrid
from .grid import CELL

VARIANT = f"data/variants/{cellgrid.VARIANT}.npy"
# The folder for files people write for the pipeline (the review's decisions). A stage reading one
# through a param depends on it: DVC hashes the whole folder (its deps cannot follow a param that may
# be null), Snakemake takes the file the param names. Edits, not only a new name, rerun the stage.
REVIEWS = "reviews"


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: dict[str, str] = field(default_factory=dict)   # CLI flag -> path
    outputs: dict[str, str] = field(default_factory=dict)  # CLI flag -> path
    params: tuple[str, ...] = ()     # params.yaml keys the stage reads
    grid: tuple[str, ...] = ()       # wildcards of one job
    gather: dict[str, str] = field(default_factory=dict)  # CLI flag -> folder holding every cell of a grid stage
    gathered: tuple[str, ...] = ()   # (stage name) whose grid outputs `gather` collects
    metrics: tuple[str, ...] = ()    # outputs that are DVC metrics (small JSON, kept in git)
    gpu: bool = False
    env: str = "data"                # envs/<env>.yaml: the conda environment of `snakemake --use-conda`
    threads: int = 1                 # cores one job takes under Snakemake
    file_params: tuple[str, ...] = ()  # params naming a file in REVIEWS that the stage reads (or null)

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
    Stage("ingest", outputs={"out": "data/prepared"}, params=("dataset",), threads=2),
    Stage("dedup", inputs={"prepared": "data/prepared"}, outputs={"out": "data/dedup"},
          params=("dedup",), file_params=("dedup.decisions",), threads=2),
    Stage("variant", inputs={"prepared": "data/prepared", "dedup": "data/dedup"}, outputs={"out": VARIANT},
          params=("variants",), grid=("scheme", "rate", "seed")),
    Stage("train", inputs={"prepared": "data/prepared", "dedup": "data/dedup", "variant": VARIANT},
          # a folder: model.pt, or same_as.json where the cell is another cell's run (runs.py)
          outputs={"model": f"results/models/{CELL}", "curve": f"results/curves/{CELL}.json"},
          params=("model", "train", "attack.eps", "attack.train_step", "attack.train_steps", "attack.fgsm_step",
                  "attack.fgsm_guard", "attack.trades_beta"),
          grid=cellgrid.NAMES, gpu=True, env="models"),
    Stage("evaluate", inputs={"prepared": "data/prepared", "dedup": "data/dedup",
                              "model": f"results/models/{CELL}"},
          outputs={"out": f"results/metrics/{CELL}.json"},
          params=("attack.eps", "attack.eval_step", "attack.eval_steps", "attack.eval_restarts", "attack.eval_n",
                  "attack.autoattack", "attack.autoattack_n", "train.threads", "evaluate.tta"), grid=cellgrid.NAMES,
          gpu=True, env="models"),
    Stage("aggregate", inputs={"prepared": "data/prepared"},
          gather={"metrics_dir": "results/metrics", "curves_dir": "results/curves", "variants_dir": "data/variants"},
          gathered=("evaluate", "train", "variant"),
          outputs={"summary": "results/summary.csv", "per_class": "results/per_class.csv",
                   "curves": "results/curves.csv", "metrics": "results/metrics.json"},
          params=("grid", "variants.biased"), metrics=("results/metrics.json",), env="report"),
    Stage("gaussian", outputs={"out": "results/gaussian"}, params=("gaussian",), env="report"),
    Stage("report", inputs={"prepared": "data/prepared", "dedup": "data/dedup", "summary": "results/summary.csv",
                            "per_class": "results/per_class.csv", "curves": "results/curves.csv",
                            "gaussian": "results/gaussian"},
          outputs={"out": "reports/index.html", "figures": "reports/figures"},
          params=("report", "grid", "variants", "dataset", "dedup", "model", "train", "attack"), env="report"),
]}

# What each path holds: the help of the flag that passes it to a stage script (stage.parser).
HOLDS = {
    "data/prepared": "prepared dataset folder (images, labels, manifest)",
    "data/dedup": "dedup results folder (kept_train_ids.npy: the deduplicated training set, D-rate 0)",
    VARIANT: "variant index file (.npy): training-set ids, copies included",
    f"results/models/{CELL}": "model folder (model.pt, or same_as.json where the cell is another cell's run: runs.py)",
    f"results/curves/{CELL}.json": "training curve (JSON)",
    f"results/metrics/{CELL}.json": "one model's metrics (JSON)",
    "results/metrics": "folder of every model's metrics", "results/curves": "folder of every training curve",
    "data/variants": "folder of every variant index",
    "results/summary.csv": "one row per model", "results/per_class.csv": "one row per model and class",
    "results/curves.csv": "one row per model and epoch", "results/metrics.json": "DVC metrics: mean and CI per cell",
    "results/gaussian": "the Gaussian study's tables", "reports/index.html": "the HTML report",
    "reports/figures": "the report's figures",
}


def cells(stage: Stage, params: dict) -> list[dict]:
    """Every grid cell of a stage, as wildcard values spelled as in paths."""
    return [cellgrid.spell(c) for c in cellgrid.cells(params["grid"], stage.grid)]


def expand(pattern: str, stage: Stage, params: dict) -> list[str]:
    return [pattern.format(**c) for c in cells(stage, params)]


# ---- DVC ---------------------------------------------------------------------------

def _dvc_path(s: str) -> str:
    return re.sub(r"\{(\w+)\}", r"${item.\1}", s)


def _code_paths(stage: Stage) -> list[str]:
    """The library files the stage's script imports (codedeps.py): DVC reruns the stage when they change."""
    from .codedeps import SRC, code_files

    return code_files(stage.script, SRC.parent)


def dvc_yaml() -> dict:
    """dvc.yaml as a dict: one stage per entry of STAGES, grid stages as a matrix."""
    stages = {}
    for st in STAGES.values():
        entry: dict = {}
        if st.grid:
            entry["matrix"] = {w: f"${{grid.{cellgrid.BY_NAME[w].key}}}" for w in st.grid}
        entry["cmd"] = _dvc_path(st.cmd())
        deps = [st.script, *_code_paths(st), *st.inputs.values(), *st.gather.values(),
                *([REVIEWS] if st.file_params else [])]
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
    cmd = re.sub(r"\{(" + "|".join(cellgrid.NAMES) + r")\}", r"{wildcards.\1}", stage.cmd())
    return cmd + " > {log} 2>&1"


RULES_FILE = "workflow/rules/stages.smk"


def render_rules() -> str:
    """workflow/rules/stages.smk: one Snakemake rule per entry of STAGES. The rule bodies call the
    helpers of workflow/rules/common.smk, which read STAGES when Snakemake runs; what differs from
    rule to rule (environment, threads, GPU) is written in from the declaration."""
    out = ["# Generated from src/dupstudy/pipeline.py by `dupstudy dag --write`; do not edit by hand.\n"]
    for st in STAGES.values():
        q = f'"{st.name}"'
        lines = [f"rule {st.name}:"]
        if st.inputs or st.gathered or st.file_params:
            lines += ["    input:", f"        **stage_inputs({q}),"]
        lines += ["    output:", f"        **stage_outputs({q}),", "    log:", f"        stage_log({q}),",
                  "    conda:", f'        "../../envs/{st.env}.yaml"', f"    threads: {st.threads}"]
        if st.gpu:
            lines += ["    resources:", f"        gpu=stage_gpus({q}),"]
        lines += ["    params:", f"        settings=smk_settings(STAGES[{q}], config),",
                  "    shell:", f"        smk_shell(STAGES[{q}])"]
        out.append("\n" + "\n".join(lines) + "\n")
    return "\n".join(out).rstrip("\n") + "\n"


def param(params: dict, key: str):
    """The value of a dotted params key ("dedup.decisions")."""
    node = params
    for part in key.split("."):
        node = node[part]
    return node


def smk_settings(stage: Stage, params: dict) -> str:
    """The params a stage reads, as a string: Snakemake's params trigger reruns a job when it changes."""
    import json

    return json.dumps({key: param(params, key) for key in stage.params}, sort_keys=True)


def file_inputs(stage: Stage, params: dict) -> dict[str, str]:
    """The files in REVIEWS the stage's params name, as Snakemake inputs: an edit reruns the job."""
    return {key.replace(".", "_"): param(params, key) for key in stage.file_params if param(params, key)}


def check_file_params(params: dict) -> str | None:
    """Why a file param of some stage cannot be tracked (it lies outside REVIEWS), or None."""
    from pathlib import PurePosixPath

    for st in STAGES.values():
        for key in st.file_params:
            value = param(params, key)
            if not value:
                continue
            path = PurePosixPath(str(value).replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or path.parts[:1] != (REVIEWS,) or len(path.parts) < 2:
                example = f"{REVIEWS}/{path.name if path.suffix else 'decisions.csv'}"
                return (f"{key}: {value!r} is not inside {REVIEWS}/; the pipeline reruns {st.name} when a file "
                        f"there changes, so save the file in {REVIEWS}/ (e.g. {example}) and name it so")
    return None
