"""What every stage entry point shares: argument parsing, params loading, exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from . import runlock, timings
from .errors import run_guarded
from .params import load


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="the study's params file (default: params.yaml)")
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


def run(main: Callable[[argparse.Namespace, dict], str | None], p: argparse.ArgumentParser, stage: str,
        argv=None) -> None:
    """Parse, validate params, run with the stage's declared params; print a one-line summary.
    Every failure is one line (errors.run_guarded): bad params or input exit with code 2, another
    run holding the project lock (runlock.py) with code 3."""
    args = p.parse_args(argv)
    t0 = time.perf_counter()

    def body() -> None:
        params = declared(load(args.params), stage)
        with runlock.for_stage(command=f"{stage} stage"):
            summary = main(args, params)
        seconds = time.perf_counter() - t0
        timings.record(stage, {k: getattr(args, k, None) for k in timings.CELL_KEYS}, seconds)
        print(f"[{stage}] {summary or 'done'} ({seconds:.1f} s)", flush=True)

    code = run_guarded(body, prog=f"{stage} stage")
    if code:
        sys.exit(code)
