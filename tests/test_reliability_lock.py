"""Two runs on one working tree: the second is refused, naming .dupstudy.lock and how to clear a
stale one; the many jobs of one Snakemake run share its lock. All with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from reliability_tiny import SCRIPTS, env, kill_at, stage, tiny_data, write_params

from dupstudy import runlock

pytestmark = pytest.mark.slow  # runs the real stages as processes, several times

VARIANT = ["--prepared", "data/prepared", "--dedup", "data/dedup", "--out", "data/variants/biased/r0.3/s1.npy",
           "--scheme", "biased", "--rate", "0.3", "--seed", "1"]
HOLD = ("import time; from dupstudy import runlock; runlock.hold_for_run('.', command='dvc repro'); "
        "print('held', flush=True); time.sleep(600)")


def _refused(proc, holder: str):
    out = proc.stdout + proc.stderr
    assert runlock.LOCK_NAME in out and "delete" in out and "stale" in out, out[-2000:]
    assert holder in out, out[-2000:]


@pytest.fixture
def holder(tmp_path):
    """Another run (an orchestrator) holding the lock on the tree in tmp_path."""
    write_params(tmp_path)
    tiny_data(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", HOLD], cwd=tmp_path, env=env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()


def test_stage_outside_the_run_is_refused_jobs_of_the_run_are_not(tmp_path, holder):
    out = tmp_path / "data/variants/biased/r0.3/s1.npy"
    refused = stage("variant", tmp_path, *VARIANT, check=False)
    assert refused.returncode == runlock.EXIT_LOCKED
    _refused(refused, f"pid {holder.pid}")
    assert "dvc repro" in refused.stderr and not out.exists()

    # A job of the holding run (its token in the environment) runs, as do many at once.
    token = json.loads((tmp_path / runlock.LOCK_NAME).read_text())["token"]
    procs = [subprocess.Popen([sys.executable, str(SCRIPTS / "variant.py"),
                               *VARIANT[:5], f"data/variants/biased/r0.3/s{seed}.npy", *VARIANT[6:-1], str(seed)],
                              cwd=tmp_path, env=env(DUPSTUDY_RUN_LOCK=token), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for seed in (1, 2, 3)]
    for p in procs:
        text, _ = p.communicate(timeout=120)
        assert p.returncode == 0, text
    assert all((tmp_path / f"data/variants/biased/r0.3/s{s}.npy").exists() for s in (1, 2, 3))


def test_lock_goes_with_its_holder(tmp_path, holder):
    """SIGKILL the holder: the kernel drops the lock; its leftover text blocks nothing."""
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / runlock.LOCK_NAME).read_text()  # still names the dead holder
    stage("variant", tmp_path, *VARIANT)
    assert (tmp_path / "data/variants/biased/r0.3/s1.npy").exists()


def test_stale_token_in_environment_does_not_bypass(tmp_path, holder):
    """A token that is not the current holder's (e.g. left from an earlier run) counts for nothing."""
    refused = stage("variant", tmp_path, *VARIANT, check=False, extra_env={"DUPSTUDY_RUN_LOCK": "host:1:old"})
    assert refused.returncode == runlock.EXIT_LOCKED


# --- with Snakemake ----------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path):
    from pipeline_project import TINY, make, merge

    (tmp_path / "proj").mkdir()
    return make(tmp_path / "proj", merge(TINY, {"train": {"epochs": 12}, "attack": {"train_steps": 3}}), dvc=False)


def _snakemake(project, *args, **kw):
    return subprocess.run([str(os.path.dirname(sys.executable) + "/snakemake"), *args], cwd=project, env=env(),
                          capture_output=True, text=True, timeout=kw.get("timeout", 600))


def test_snakemake_refused_while_a_stage_of_another_run_works(project):
    """An ingest stage (as `dvc repro` runs it) is stopped mid-write holding the lock; Snakemake
    refuses to start and writes nothing; a dry run is still allowed."""
    paused = subprocess.Popen([sys.executable, "-c", HOLD.replace("dvc repro", "ingest stage")], cwd=project,
                              env=env(), stdout=subprocess.PIPE, text=True)
    try:
        assert paused.stdout.readline().strip() == "held"
        dry = _snakemake(project, "-n", "--cores", "2")
        assert dry.returncode == 0, dry.stderr[-2000:]
        proc = _snakemake(project, "--cores", "2", "data/dedup")
        assert proc.returncode != 0
        _refused(proc, "ingest stage")
        assert not (project / "data").exists()
    finally:
        paused.kill()
        paused.wait()
        paused.stdout.close()


def test_one_snakemake_run_parallel_jobs_share_the_lock_second_run_refused(project):
    """Snakemake runs ingest, dedup, two variants in parallel and a training job; while it runs, a
    stage started outside it is refused. The run itself completes."""
    targets = ["results/models/epochs/uniform/r0.5/pgd/s0", "data/variants/biased/r0.5/s0.npy",
               "data/variants/uniform/r0.0/s0.npy"]
    run = subprocess.Popen([os.path.dirname(sys.executable) + "/snakemake", "--cores", "2", *targets], cwd=project,
                           env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = project / runlock.LOCK_NAME
    try:
        deadline = time.monotonic() + 120
        while not (lock.exists() and '"snakemake"' in lock.read_text()):
            assert run.poll() is None, run.stdout.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A stage started outside the run meanwhile (by hand, or by `dvc repro`):
        refused = stage("gaussian", project, "--out", "results/gaussian", check=False)
        assert run.poll() is None, "the Snakemake run ended too early for this test"
        assert refused.returncode == runlock.EXIT_LOCKED
        _refused(refused, "snakemake")
        assert not (project / "results" / "gaussian").exists()
        text, _ = run.communicate(timeout=600)
        assert run.returncode == 0, text[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert all((project / t).exists() for t in targets)
    assert "project run lock" not in "".join(p.read_text() for p in (project / "logs").rglob("*.log"))


def test_killed_stage_mid_write_does_not_hold_the_lock(tmp_path):
    write_params(tmp_path)
    tiny_data(tmp_path)
    kill_at("mid_write", "variant", tmp_path, *VARIANT)
    stage("variant", tmp_path, *VARIANT)


def test_dupstudy_dvc_holds_the_lock_for_the_whole_dvc_run(tmp_path):
    """`dupstudy dvc repro` is refused while another run holds the lock, and otherwise runs
    `dvc repro` whose stages (its jobs) are not refused by the wrapper's own lock."""
    from pipeline_project import TINY, make

    (tmp_path / "proj").mkdir()
    project = make(tmp_path / "proj", TINY, dvc=True)
    dupstudy = [os.path.dirname(sys.executable) + "/dupstudy", "dvc", "repro", "gaussian"]
    other = subprocess.Popen([sys.executable, "-c", HOLD.replace("dvc repro", "snakemake")], cwd=project, env=env(),
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        refused = subprocess.run(dupstudy, cwd=project, env=env(), capture_output=True, text=True, timeout=300)
        assert refused.returncode == runlock.EXIT_LOCKED
        _refused(refused, "snakemake")
        assert not (project / "results" / "gaussian").exists()
    finally:
        other.kill()
        other.wait()
        other.stdout.close()
    ok = subprocess.run(dupstudy, cwd=project, env=env(), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert (project / "results" / "gaussian").is_dir() and "Running stage 'gaussian'" in ok.stdout
