"""Tiny inputs and real stage processes for the reliability tests (tests/test_reliability_*.py).

Stage scripts run as subprocesses in a scratch folder (their working directory, as under
Snakemake or DVC). `start_hooked` runs one under a wrapper that stops it at a chosen point
(half-way through writing an array, just before the final rename, right after a training
checkpoint) and touches a marker file, so a test can SIGKILL it exactly there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"

SMALL = {  # small but real: every stage does its actual work on these
    "train": {"epochs": 3, "batch_size": 64, "threads": 1},
    "attack": {"train_steps": 2, "eval_steps": 3},
}

HOOK = r"""
import os, runpy, sys, time

mode, marker, target = os.environ["KILL_HOOK"], os.environ["KILL_MARKER"], os.environ.get("KILL_TARGET", "")


def stop_here():
    open(marker, "w").close()
    time.sleep(600)  # until the test kills us


if mode == "before_rename":  # the output is complete in its temporary path, not renamed yet
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith(target):
            stop_here()
        return real_replace(src, dst, *a, **k)

    os.replace = replace
elif mode == "mid_write":  # half of an array's bytes are on disk
    import io
    import numpy as np

    real_save = np.save

    def save(file, arr, *a, **k):
        buf = io.BytesIO()
        real_save(buf, arr, *a, **k)
        data = buf.getvalue()
        f = open(file, "wb") if isinstance(file, (str, os.PathLike)) else file
        f.write(data[: len(data) // 2])
        f.flush()
        stop_here()

    np.save = save
elif mode == "after_checkpoint":  # the first epoch's checkpoint is on disk
    import dupstudy.train as tr

    real_ckpt = tr._save_checkpoint

    def ckpt(*a, **k):
        real_ckpt(*a, **k)
        stop_here()

    tr._save_checkpoint = ckpt
else:
    raise SystemExit(f"unknown hook {mode}")

script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def write_params(dest: Path, overrides: dict = SMALL) -> Path:
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest / "params.yaml"


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if k != "DUPSTUDY_RUN_LOCK"}
    return {**e, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONHASHSEED": "0", **extra}


def stage(name: str, cwd: Path, *args: str, check: bool = True, extra_env: dict | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args], cwd=cwd, env=env(**(extra_env or {})),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def kill_at(hook: str, name: str, cwd: Path, *args: str, target: str = "", timeout: float = 120) -> None:
    """Run stage `name` until it reaches `hook`, then SIGKILL it (the whole process group)."""
    marker = cwd / f".hook-{hook}-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", HOOK, str(SCRIPTS / f"{name}.py"), *args], cwd=cwd,
                            env=env(KILL_HOOK=hook, KILL_MARKER=str(marker), KILL_TARGET=target),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"{name} ended ({proc.returncode}) before reaching {hook}:\n"
                                     f"{proc.stdout.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not reach {hook} in {timeout} s")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        marker.unlink(missing_ok=True)


def tiny_data(dest: Path, n_train: int = 300, n_test: int = 100) -> None:
    """data/prepared (real digits, a subset), data/dedup (nothing removed, nothing leaked) and one
    variant at data/variants/uniform/r0.5/s0.npy, written without running the earlier stages."""
    import pandas as pd
    from sklearn.datasets import load_digits

    from dupstudy.datasets.prepared import from_arrays
    from dupstudy.io import write_npy, write_table

    d = load_digits()
    n = n_train + n_test
    images = np.rint(d.images[:n] * (255 / 16)).astype(np.uint8)
    labels = d.target[:n].astype(np.int64)
    splits = ["train"] * n_train + ["test"] * n_test
    from_arrays("digits", [str(i) for i in range(10)], images, labels, splits,
                [f"digits/{i}" for i in range(n)]).save(dest / "data" / "prepared")
    write_npy(dest / "data" / "dedup" / "kept_train_ids.npy", np.arange(n_train, dtype=np.int64))
    write_table(dest / "data" / "dedup" / "leakage.parquet",
                pd.DataFrame({"test_id": np.array([], np.int64), "train_id": np.array([], np.int64)}))
    rng = np.random.default_rng(0)
    variant = np.concatenate([np.arange(n_train), rng.choice(n_train, n_train // 2)]).astype(np.int64)
    write_npy(dest / "data" / "variants" / "uniform" / "r0.5" / "s0.npy", variant)


def train_args(trainer: str = "pgd", seed: int = 0) -> list[str]:
    cell = f"epochs/uniform/r0.5/{trainer}/s{seed}"
    return ["--prepared", "data/prepared", "--dedup", "data/dedup", "--variant", "data/variants/uniform/r0.5/s0.npy",
            "--model", f"results/models/{cell}", "--curve", f"results/curves/{cell}.json",
            "--budget", "epochs", "--scheme", "uniform", "--rate", "0.5", "--trainer", trainer, "--seed", str(seed)]


def evaluate_args(trainer: str = "pgd", seed: int = 0) -> list[str]:
    cell = f"epochs/uniform/r0.5/{trainer}/s{seed}"
    return ["--prepared", "data/prepared", "--dedup", "data/dedup", "--model", f"results/models/{cell}",
            "--out", f"results/metrics/{cell}.json", "--budget", "epochs", "--scheme", "uniform", "--rate", "0.5",
            "--trainer", trainer, "--seed", str(seed)]


def without_times(obj):
    """JSON with wall-clock fields (seconds, *_seconds) removed: everything else must match exactly."""
    if isinstance(obj, dict):
        return {k: without_times(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [without_times(v) for v in obj]
    return obj


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def leftovers(folder: Path) -> list[str]:
    """Temporary siblings (.<name>.tmp-*) anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp-*"))


PROBE = r"""
import json, resource, sys
from dupstudy.datasets.folder import load_folder

p = load_folder(sys.argv[1], workers=2, progress=False)  # as `dupstudy dedup` and the ingest stage load it
# This process's peak from VmHWM: ru_maxrss survives exec, so it would report the forking parent's size.
main = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # workers are forked from this process
print(json.dumps({"main": main, "worker": worker, "shape": p.images.shape, "sources": list(p.manifest["source"]),
                  "rejected": dict(zip(p.rejected["source"], p.rejected["reason"]))}))
"""


def peak_rss_self() -> int:
    """This process's peak resident set in bytes (VmHWM). Not ru_maxrss: it survives exec, so in a
    process started from a large one (a test runner) it reports the parent's size."""
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))


def load_measured(folder: Path, timeout: float = 300) -> dict:
    """Load an image folder or archive in a fresh process with two decoding workers, as the tool
    does; returns what it loaded and rejected, and `peak`: an upper bound of the bytes all its
    processes held at once (the main process's peak RSS plus twice the largest worker's)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, str(folder)], env=env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"loading {folder} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.splitlines()[-1])
    return {**out, "peak": out["main"] + 2 * out["worker"]}
