import os
import sys
from pathlib import Path

from dupstudy import params as study_params
from dupstudy.grid import AXES
from dupstudy.pipeline import (
    STAGES,
    expand as expand_grid,
    file_inputs,
    is_dir,
    smk_settings,
    smk_shell,
)


envvars:
    "PATH",


# Jobs run `python`: make it the interpreter Snakemake runs in, activated or not.
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)

# params.yaml is read by the project's loader, not Snakemake's `configfile:`: that renders a
# config holding `__use_yte__: true` as a YTE template and runs its Python (SECURITY.md). Every
# stage reads params.yaml itself, so a --config/--configfile override would reach the DAG only.
if config:
    print(
        "error: --config/--configfile: not supported (every stage reads params.yaml); "
        "edit params.yaml instead",
        file=sys.stderr,
    )
    sys.exit(2)
# Stop before any work on a bad params.yaml, naming the key and what is allowed.
try:
    config.update(study_params.load("params.yaml"))
except study_params.ParamsError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


wildcard_constraints:
    **{axis.name: axis.pattern for axis in AXES},


def stage_outputs(name):
    return {
        k: directory(v) if is_dir(v) else v for k, v in STAGES[name].outputs.items()
    }


def stage_inputs(name):
    st = STAGES[name]
    inputs = {**st.inputs, **file_inputs(st, config)}
    for source in st.gathered:
        src = STAGES[source]
        for key, pattern in src.outputs.items():
            if pattern.endswith((".json", ".npy")):
                inputs[f"{source}_{key}"] = expand_grid(pattern, src, config)
    return inputs


def stage_gpus(name):
    """GPUs one job of the stage asks for: from Stage.gpu in the pipeline description."""
    return 1 if STAGES[name].gpu else 0


def stage_log(name):
    st = STAGES[name]
    cell = "_".join("{%s}" % w for w in st.grid)
    return f"logs/{name}/{cell or name}.log"
