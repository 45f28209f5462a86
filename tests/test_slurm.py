"""profiles/slurm against a real one-node SLURM (scripts/local-slurm.sh), and its settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest
import yaml
from pipeline_project import BIN, ROOT, make, run

from dupstudy.pipeline import STAGES

PROFILE = ROOT / "profiles/slurm/config.yaml"
GPU_RULES = {"train", "evaluate"}


def test_profile_uses_the_slurm_executor_without_job_accounting():
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue" and prof["slurm-no-account"] is True
    assert {"runtime", "mem_mb"} <= set(prof["default-resources"])
    assert prof["rerun-triggers"] == yaml.safe_load(
        (ROOT / "profiles/default/config.yaml").read_text())["rerun-triggers"]
    assert "executor" not in yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())


def test_only_training_and_evaluation_rules_request_a_gpu():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "workflow/rules").glob("*.smk")))
    rules = dict(re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)+)", text, flags=re.M))
    assert len(rules) == 8
    # Rules take their GPU request from Stage.gpu of the one pipeline description.
    for name, body in rules.items():
        requests = re.findall(r"^\s+gpu=(.*),$", body, flags=re.M)
        assert requests in ([], [f'stage_gpus("{name}")']), (name, requests)
    assert {name for name, st in STAGES.items() if st.gpu} == GPU_RULES
    # The profile must not take the GPU request away nor add one elsewhere.
    for rule, res in yaml.safe_load(PROFILE.read_text()).get("set-resources", {}).items():
        assert not {"gpu", "gres", "gpus"} & set(res), rule


# ---- a real SLURM -------------------------------------------------------------------

def _slurm_up() -> bool:
    return shutil.which("sinfo") is not None and subprocess.run(
        [str(ROOT / "scripts/local-slurm.sh"), "status"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def slurm():
    """A running local SLURM: started here (as root) unless one is up already."""
    if not _slurm_up():
        reason = None
        if os.geteuid() != 0:
            reason = "starting a local SLURM needs root (scripts/local-slurm.sh installs and starts daemons)"
        elif shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
            reason = "slurm is not installed and apt-get is not available to install it"
        if reason:
            pytest.skip(reason)
        proc = subprocess.run([str(ROOT / "scripts/local-slurm.sh"), "start"], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            pytest.skip(f"scripts/local-slurm.sh start failed: {proc.stderr.strip()[-800:]}")
    return True


MODEL = "results/models/epochs/uniform/r0.0/standard/s0"  # a folder holding model.pt
TARGETS = ["data/variants/uniform/r0.5/s0.npy", "data/variants/biased/r0.5/s0.npy", MODEL]


@pytest.mark.slow
def test_tiny_pipeline_runs_through_sbatch_with_a_gpu_request_for_training(slurm, tmp_path):
    (tmp_path / "cluster").mkdir(), (tmp_path / "local").mkdir()
    cluster, local = make(tmp_path / "cluster", dvc=False), make(tmp_path / "local", dvc=False)
    t0 = time.perf_counter()
    out = run([str(BIN / "snakemake"), "--profile", "profiles/slurm", "--verbose",
               "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
               *TARGETS], cluster)
    log = out.stdout + out.stderr
    took = time.perf_counter() - t0
    # Every job went through sbatch and SLURM knows it.
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log))
    assert sorted(submitted.values()) == ["dedup", "ingest", "train", *["variant"] * 3], log[-3000:]
    for jobid, rule in submitted.items():
        shown = subprocess.run(["scontrol", "show", "job", "-d", jobid], capture_output=True, text=True).stdout
        assert "JobState=COMPLETED" in shown, shown
        assert ("gres:gpu:1" in shown) == (rule in GPU_RULES), (rule, shown)
    # The sbatch arguments: one GPU for training, none for the CPU rules.
    calls = re.findall(r"^sbatch call: (.*)$", log, flags=re.M)
    assert len(calls) == 6
    for call in calls:
        rule = re.search(r"--comment rule_(\w+?)(?:_wildcards|\s)", call).group(1)
        assert ("--gpus=1" in call) == (rule in GPU_RULES), call[:400]
        assert " -t " in call and " --mem " in call
    # Same outputs as a local run.
    run([str(BIN / "snakemake"), "--cores", "2", *TARGETS], local)
    for name in ("data/prepared/images.npy", "data/dedup/kept_train_ids.npy", *TARGETS[:-1], f"{MODEL}/model.pt"):
        assert (cluster / name).read_bytes() == (local / name).read_bytes(), name
    print(f"slurm run of {len(calls)} jobs: {took:.1f} s")

