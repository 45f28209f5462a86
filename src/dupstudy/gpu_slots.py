"""One GPU per job on a multi-GPU workstation.

`snakemake --cores N --resources gpu=K` starts up to K training (or evaluation) jobs at once,
but Snakemake does not say which GPU each should use: left alone, every job would run on GPU 0.
`claim()` picks a free one among the visible GPUs, holds an exclusive `fcntl` lock on a file
named after it for the rest of the process (the OS releases it when the process ends, crash or
not), and sets CUDA_VISIBLE_DEVICES to it. Call it before anything initialises CUDA.

Nothing is done where there is no choice to make: no GPU, one GPU, or a SLURM job (SLURM sets
CUDA_VISIBLE_DEVICES to the GPU it allocated). DUPSTUDY_GPU_COUNT simulates that many GPUs
(for tests on CPU); DUPSTUDY_GPU_LOCK_DIR moves the lock files (default: a folder per user in
the system temporary directory, shared by every project on the machine).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

_held: list = []  # open lock files: the locks last as long as the process


def visible() -> list[str]:
    """Ids of the GPUs this process may use, as CUDA_VISIBLE_DEVICES would name them."""
    simulated = os.environ.get("DUPSTUDY_GPU_COUNT")
    if simulated is not None:
        return [str(i) for i in range(int(simulated))]
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def lock_dir() -> Path:
    d = Path(os.environ.get("DUPSTUDY_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / f"dupstudy-gpus-{os.getuid()}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _try_lock(path: Path):
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def claim(wait_s: float = 24 * 3600, poll_s: float = 0.5) -> str | None:
    """Hold a free GPU for this process and make it the only one CUDA sees; its id, or None
    when there is nothing to choose. Waits (up to wait_s) while every GPU is held by others."""
    if _held:
        return os.environ.get("CUDA_VISIBLE_DEVICES")
    if os.environ.get("SLURM_JOB_ID") and "DUPSTUDY_GPU_COUNT" not in os.environ:
        return None
    gpus = visible()
    if len(gpus) <= 1:
        return None
    folder = lock_dir()
    deadline = time.monotonic() + wait_s
    while True:
        for gpu in gpus:
            f = _try_lock(folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}.lock")
            if f is not None:
                _held.append(f)
                f.seek(0), f.truncate(), f.write(f"{os.getpid()}\n"), f.flush()
                os.environ["CUDA_VISIBLE_DEVICES"] = gpu
                return gpu
        if time.monotonic() > deadline:
            raise TimeoutError(f"all {len(gpus)} GPUs stayed held by other jobs (locks in {folder})")
        time.sleep(poll_s)
