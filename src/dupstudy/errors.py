"""What a user sees when something goes wrong: one line and an exit code, never a traceback.

BadInput (exit 2): an input or setting the user can fix; the message names it and says what to
do. Busy (exit 3): another run holds what this one needs. Anything else is a bug: one line that
says so and names a file holding the traceback for the report.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Callable

EXIT_BAD_INPUT, EXIT_BUSY, EXIT_BUG, EXIT_INTERRUPTED = 2, 3, 1, 130


class BadInput(Exception):
    """An input, file or setting the user can fix."""


class Busy(Exception):
    """Another run holds a lock this one needs."""


def user_facing(err: BaseException) -> tuple[int, str] | None:
    """(exit code, line) for errors that are the user's to fix or wait out; None for bugs."""
    from .params import ParamsError
    from .runlock import RunLocked

    if isinstance(err, (BadInput, ParamsError)):
        return EXIT_BAD_INPUT, str(err)
    if isinstance(err, (Busy, RunLocked)):
        return EXIT_BUSY, str(err)
    return None


def one_line(text) -> str:
    return "; ".join(" ".join(line.split()) for line in str(text).splitlines() if line.strip())


def run_guarded(fn: Callable[[], int | None], prog: str = "dupstudy") -> int:
    """Call fn; turn any exception into one line on stderr and an exit code."""
    try:
        return fn() or 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written was kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the last line of defence: any bug becomes one line and a traceback file
        known = user_facing(err)
        if known:
            code, text = known
            print(f"error: {one_line(text)}", file=sys.stderr)
            return code
        with tempfile.NamedTemporaryFile("w", prefix=f"{prog}-crash-", suffix=".txt", delete=False) as f:
            traceback.print_exc(file=f)
        print(f"{prog}: internal error ({type(err).__name__}: {one_line(err)}); this is a bug, please report it "
              f"with the traceback in {f.name}", file=sys.stderr)
        return EXIT_BUG
