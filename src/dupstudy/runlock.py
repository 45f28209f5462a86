"""One run per working tree: the project run lock `.dupstudy.lock`.

Snakemake and DVC each lock their own runs, but not each other: a `snakemake` and a
`dvc repro` on one tree would write the same outputs at once. So

* an orchestrator takes the lock for its whole run (the Snakefile's `onstart`, i.e. real runs
  only, never dry runs or lint) and hands its token to its jobs in $DUPSTUDY_RUN_LOCK, so the
  many jobs of that one run, in parallel, never refuse each other;
* every stage script (stage.run) that is not such a job takes the lock for its own duration:
  each stage of a `dvc repro`, or a script run by hand.

The lock is an advisory `flock` on the file: the kernel releases it when its holder exits,
however it exits, so a killed run leaves no lock behind. The file's text only says who holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".dupstudy.lock"
ENV = "DUPSTUDY_RUN_LOCK"
EXIT_LOCKED = 3

_held: list[RunLock] = []  # locks held for the life of this process (orchestrators)


class RunLocked(RuntimeError):
    """Another run holds the project lock."""


class RunLock:
    def __init__(self, fd: int, path: Path, token: str):
        self.fd, self.path, self.token = fd, path, token

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def _describe(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "holder unknown"
    return (f"pid {info.get('pid')} on {info.get('host')}, `{info.get('command')}`, "
            f"since {info.get('started')}")


def message(path: Path) -> str:
    return (f"another dupstudy run holds the project run lock {path} ({_describe(path)}). "
            f"Wait for it to finish, or stop it. The lock is released when that process exits; "
            f"if no such process is running (a stale lock, e.g. on a network file system), "
            f"delete {path} and run again.")


def acquire(root: str | os.PathLike = ".", command: str | None = None) -> RunLock:
    """Take the lock without waiting; RunLocked (naming the holder and the fix) if it is held."""
    import fcntl

    path = Path(root).resolve() / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunLocked(message(path)) from None
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    info = {"token": token, "pid": os.getpid(), "host": socket.gethostname(),
            "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return RunLock(fd, path, token)


def _token_in_file(path: Path) -> str | None:
    try:
        return json.loads(path.read_text() or "{}").get("token")
    except (OSError, ValueError):
        return None


def inside_run(root: str | os.PathLike = ".") -> bool:
    """True in a job of the run that holds the lock (its token is in our environment)."""
    token = os.environ.get(ENV)
    return bool(token) and token == _token_in_file(Path(root).resolve() / LOCK_NAME)


def hold_for_run(root: str | os.PathLike = ".", command: str | None = None) -> str:
    """Take the lock for the rest of this process (an orchestrator) and export its token to jobs.
    Prints the refusal and exits with EXIT_LOCKED if another run holds it."""
    if inside_run(root):  # e.g. a Snakefile parsed again inside one of our own jobs
        return os.environ[ENV]
    try:
        lock = acquire(root, command)
    except RunLocked as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(EXIT_LOCKED)
    _held.append(lock)
    os.environ[ENV] = lock.token
    return lock.token


@contextlib.contextmanager
def for_stage(root: str | os.PathLike = ".", command: str | None = None) -> Iterator[None]:
    """A stage's hold on the lock: none inside an orchestrated run, else the lock for its duration."""
    if inside_run(root):
        yield
        return
    lock = acquire(root, command)
    try:
        yield
    finally:
        lock.release()
