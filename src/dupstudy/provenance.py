"""Where a report's numbers came from: code version, lock file, packages, hardware."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from . import timings

PACKAGES = ("dupstudy", "torch", "torchvision", "numpy", "faiss-cpu", "imagehash", "scikit-learn", "snakemake", "dvc")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def collect(lock_file: str | Path = "dvc.lock") -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    lock = Path(lock_file)
    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD") or "not a git checkout",
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "dvc_lock_sha256": (hashlib.sha256(lock.read_bytes()).hexdigest()[:16] if lock.exists()
                            else "no dvc.lock (run by Snakemake)"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "packages": versions,
        "stage_times": timings.summarise(),
    }
