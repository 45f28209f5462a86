"""What every stage entry point shares: argument parsing, params loading, exit codes."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from .params import ParamsError, load


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="the study's params file (default: params.yaml)")
    return p


def run(main: Callable[[argparse.Namespace, dict], str | None], p: argparse.ArgumentParser, argv=None) -> None:
    """Parse, validate params, run; print a one-line summary. Bad params exit with code 2."""
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        params = load(args.params)
        summary = main(args, params)
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    name = p.prog.removesuffix(".py")
    print(f"[{name}] {summary or 'done'} ({time.perf_counter() - t0:.1f} s)", flush=True)
