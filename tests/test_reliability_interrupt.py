"""Stages killed with SIGKILL: no output a rerun would trust; training resumes to the same result.

Real stage scripts run as subprocesses and are killed at the worst moments: half-way through
writing an array, and with the output complete in its temporary path just before the rename.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reliability_tiny import (
    evaluate_args,
    kill_at,
    leftovers,
    read_json,
    stage,
    tiny_data,
    train_args,
    without_times,
    write_params,
)

from dupstudy.datasets import prepared

pytestmark = pytest.mark.slow  # runs the real stages as processes, several times

VARIANT_ARGS = ["--prepared", "data/prepared", "--dedup", "data/dedup", "--out", "data/variants/biased/r0.3/s1.npy",
                "--scheme", "biased", "--rate", "0.3", "--seed", "1"]
CASES = {  # id -> (stage, args, final output, hook, rename target)
    "ingest-mid-write": ("ingest", ["--out", "data/prepared2"], "data/prepared2", "mid_write", ""),
    "ingest-before-rename": ("ingest", ["--out", "data/prepared2"], "data/prepared2", "before_rename", "prepared2"),
    "dedup-before-rename": ("dedup", ["--prepared", "data/prepared", "--out", "data/dedup2"], "data/dedup2",
                            "before_rename", "dedup2"),
    "variant-mid-write": ("variant", VARIANT_ARGS, "data/variants/biased/r0.3/s1.npy", "mid_write", ""),
    "variant-before-rename": ("variant", VARIANT_ARGS, "data/variants/biased/r0.3/s1.npy", "before_rename", "s1.npy"),
}


@pytest.fixture
def project(tmp_path):
    write_params(tmp_path)
    tiny_data(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_killed_stage_leaves_nothing_a_rerun_trusts(project, case):
    name, args, output, hook, target = CASES[case]
    final = project / output
    kill_at(hook, name, project, *args, target=target)

    # Nothing at the final path; the partial work sits in a hidden temporary sibling only.
    assert not final.exists()
    left = [project / p for p in leftovers(project)]
    assert left and all(p.parent == final.parent and p.name.startswith(f".{final.name}.tmp-") for p in left), left

    # The rerun writes a complete output and removes what the killed run left.
    stage(name, project, *args)
    assert final.exists() and leftovers(project) == []
    if name == "ingest":
        p = prepared.load(final)
        assert len(p.images) == 1797 and len(p.manifest) == 1797
    elif name == "dedup":
        assert read_json(final / "summary.json")["n_images"] == 400
    else:
        assert len(np.load(final)) == round(300 * 1.3)


def test_killed_training_resumes_to_identical_weights_and_metrics(tmp_path):
    """PGD training killed right after its first epoch's checkpoint, then rerun: the rerun resumes
    from the checkpoint and ends with the same weight bytes and metrics as an uninterrupted run."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    for d in (full, killed):
        write_params(d)
        tiny_data(d)
    model, curve = ("results/models/epochs/uniform/r0.5/pgd/s0/model.pt",
                    "results/curves/epochs/uniform/r0.5/pgd/s0.json")
    metrics = "results/metrics/epochs/uniform/r0.5/pgd/s0.json"

    stage("train", full, *train_args())
    stage("evaluate", full, *evaluate_args())

    kill_at("after_checkpoint", "train", killed, *train_args())
    assert not (killed / model).exists() and not (killed / curve).exists()
    [ckpt] = (killed / "results" / "checkpoints").glob("*.pt")
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state"]
    assert saved["epoch"] == 1

    stage("train", killed, *train_args())
    resumed = read_json(killed / curve)["curve"]
    assert resumed[0]["seconds"] == saved["curve"][0]["seconds"]  # epoch 1 came from the checkpoint
    assert len(resumed) == 3 and not ckpt.exists()
    assert (killed / model).read_bytes() == (full / model).read_bytes()
    assert without_times(read_json(killed / curve)) == without_times(read_json(full / curve))

    stage("evaluate", killed, *evaluate_args())
    assert without_times(read_json(killed / metrics)) == without_times(read_json(full / metrics))
    assert leftovers(killed) == []


def test_killed_rewrite_of_a_folder_output(project):
    """Rewriting an existing folder output: the old one is moved aside in one rename before the new
    one is renamed in, so a kill between the two leaves no folder, never a half-deleted one."""
    args = ["--prepared", "data/prepared", "--out", "data/dedup2"]
    stage("dedup", project, *args)
    kill_at("before_rename", "dedup", project, *args, target="dedup2")
    assert not (project / "data" / "dedup2").exists()
    assert len(leftovers(project)) == 2  # the old output, moved aside, and the new one, not renamed
    stage("dedup", project, *args)
    assert leftovers(project) == [] and read_json(project / "data/dedup2/summary.json")["n_images"] == 400
