"""GPU slot assignment for `--resources gpu=K`, on CPU with simulated GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dupstudy import gpu_slots

# A job: claim a GPU, report it, hold it until told to finish (a file appears).
JOB = """
import os, sys, time, pathlib
from dupstudy import gpu_slots
got = gpu_slots.claim(poll_s=0.05)
print(got, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.05)
"""


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "DUPSTUDY_GPU_LOCK_DIR": str(tmp_path / "locks"), **extra}


def _start(tmp_path, env):
    return subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path / "done")], env=env, stdout=subprocess.PIPE,
                            text=True)


def _first_line(proc):
    line = proc.stdout.readline().split()
    assert line, "job ended without claiming"
    return line


@pytest.mark.slow
def test_concurrent_jobs_get_distinct_gpus_and_a_freed_gpu_is_reused(tmp_path):
    env = _env(tmp_path, DUPSTUDY_GPU_COUNT="3")
    jobs = [_start(tmp_path, env) for _ in range(3)]
    try:
        got = [_first_line(p) for p in jobs]
        assert sorted(g for g, _ in got) == ["0", "1", "2"]
        assert all(g == cvd for g, cvd in got)  # CUDA_VISIBLE_DEVICES names the claimed GPU only
        # A fourth job waits while all three are held ...
        fourth = _start(tmp_path, env)
        time.sleep(1.0)
        assert fourth.poll() is None
        # ... and gets the GPU of the first one to end (the lock goes with its process).
        jobs[1].kill(), jobs[1].wait()
        assert _first_line(fourth)[0] == got[1][0]
        jobs.append(fourth)
    finally:
        (tmp_path / "done").touch()
        for p in jobs:
            p.wait(timeout=20)


def test_claims_among_the_gpus_cuda_visible_devices_names(tmp_path):
    env = _env(tmp_path, CUDA_VISIBLE_DEVICES="4,6")
    jobs = [_start(tmp_path, env) for _ in range(2)]
    try:
        assert sorted(_first_line(p)[1] for p in jobs) == ["4", "6"]
    finally:
        (tmp_path / "done").touch()
        for p in jobs:
            p.wait(timeout=20)


@pytest.mark.parametrize("extra", [{"DUPSTUDY_GPU_COUNT": "0"}, {"DUPSTUDY_GPU_COUNT": "1"},
                                   {"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ID": "7"}])
def test_no_choice_to_make_changes_nothing(tmp_path, monkeypatch, extra):
    for k in ("DUPSTUDY_GPU_COUNT", "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID"):
        monkeypatch.delenv(k, raising=False)
    for k, v in extra.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DUPSTUDY_GPU_LOCK_DIR", str(tmp_path))
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    assert gpu_slots.claim() is None
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before and not list(tmp_path.iterdir())
