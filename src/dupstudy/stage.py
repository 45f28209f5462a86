"""What every stage entry point shares: argument parsing, params loading, exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from . import grid, runlock, timings
from .errors import run_guarded
from .params import load


def parser(stage: str, doc: str | None = None) -> argparse.ArgumentParser:
    """The stage script's arguments, built from its declaration in pipeline.STAGES: a flag per
    input, gathered folder and output (their help says what the path holds) and one per grid axis
    (choices from the params schema)."""
    from .pipeline import HOLDS, STAGES

    st = STAGES[stage]
    p = argparse.ArgumentParser(prog=st.script, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"The pipeline runs: {st.cmd()}")
    p.add_argument("--params", default="params.yaml", help="the study's params file (default: params.yaml)")
    for role, flags in (("input", st.inputs), ("input", st.gather), ("output", st.outputs)):
        for flag, path in flags.items():
            p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, required=True, metavar="PATH",
                           help=f"{role}: {HOLDS.get(path, path)}")
    for name in st.grid:
        axis = grid.BY_NAME[name]
        p.add_argument(f"--{name}", required=True, type=axis.type, choices=grid.allowed(name), help=axis.help)
    return p


def declared(params: dict, stage: str) -> dict:
    """Only the params keys the stage declares in the pipeline description.

    DVC and Snakemake rerun a stage when its declared keys change; handing the stage
    nothing else makes an undeclared read fail loudly instead of going stale silently.
    """
    from .pipeline import STAGES

    picked: dict = {}
    for key in STAGES[stage].params:
        *parents, leaf = key.split(".")
        src, dst = params, picked
        for part in parents:
            src, dst = src[part], dst.setdefault(part, {})
        dst[leaf] = src[leaf]
    return picked


def run(main: Callable[[argparse.Namespace, dict], str | None], stage: str, doc: str | None = None,
        argv=None) -> None:
    """Parse the stage's arguments (parser), validate params, run with the stage's declared params;
    print a one-line summary. Every failure is one line (errors.run_guarded): bad params or input
    exit with code 2, another run holding the project lock (runlock.py) with code 3."""
    args = parser(stage, doc).parse_args(argv)
    t0 = time.perf_counter()

    def body() -> None:
        params = declared(load(args.params), stage)
        with runlock.for_stage(command=f"{stage} stage"):
            summary = main(args, params)
        seconds = time.perf_counter() - t0
        timings.record(stage, {k: getattr(args, k, None) for k in grid.NAMES}, seconds)
        print(f"[{stage}] {summary or 'done'} ({seconds:.1f} s)", flush=True)

    code = run_guarded(body, prog=f"{stage} stage")
    if code:
        sys.exit(code)
