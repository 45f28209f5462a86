"""Same params and seed, two runs into two folders: byte-identical data, hashes, dedup results,
variants and weights, and identical training and evaluation metrics on the CPU.

Every stage runs as a real process, as Snakemake and DVC run it. JSON files are compared with
their wall-clock fields (`seconds`, `stage_seconds`) left out; everything else byte for byte.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from reliability_tiny import env, evaluate_args, read_json, stage, train_args, without_times, write_params

pytestmark = pytest.mark.slow  # runs the real stages as processes, several times

VARIANTS = [("uniform", "0.5", "0"), ("biased", "0.3", "1")]
HASHES = r"""
import sys
import numpy as np
from dupstudy.datasets import prepared
from dupstudy.dedup import hashing
images = prepared.load(sys.argv[1]).images
np.save(sys.argv[2], np.concatenate([hashing.dihedral_codes(images, m).reshape(len(images), -1)
                                     for m in ("phash", "dhash", "ahash", "whash")], axis=1))
"""


def _run_all(root):
    write_params(root)
    stage("ingest", root, "--out", "data/prepared")
    stage("dedup", root, "--prepared", "data/prepared", "--out", "data/dedup")
    for scheme, rate, seed in VARIANTS:
        stage("variant", root, "--prepared", "data/prepared", "--dedup", "data/dedup", "--out",
              f"data/variants/{scheme}/r{rate}/s{seed}.npy", "--scheme", scheme, "--rate", rate, "--seed", seed)
    stage("train", root, *train_args("standard"))
    stage("evaluate", root, *evaluate_args("standard"))
    subprocess.run([sys.executable, "-c", HASHES, "data/prepared", "hashes.npy"], cwd=root, env=env(), check=True)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _run_all(tmp_path_factory.mktemp("first")), _run_all(tmp_path_factory.mktemp("second"))


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != "params.yaml")


def test_same_files(runs):
    a, b = runs
    assert _files(a) == _files(b)
    assert "hashes.npy" in _files(a) and "data/dedup/pairs.parquet" in _files(a)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".pt", ".parquet"])
def test_byte_identical(runs, suffix):
    a, b = runs
    names = [n for n in _files(a) if n.endswith(suffix)]
    assert names
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    assert differ == []


def test_tables_identical_when_decoded(runs):
    """The parquet tables hold the same rows and types (the bytes test above is stricter still)."""
    a, b = runs
    for name in [n for n in _files(a) if n.endswith(".parquet")]:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name), check_exact=True)


def test_json_identical_but_for_wall_clock(runs):
    a, b = runs
    names = [n for n in _files(a) if n.endswith(".json")]
    assert "results/metrics/epochs/uniform/r0.5/standard/s0.json" in names
    assert "results/curves/epochs/uniform/r0.5/standard/s0.json" in names
    for name in names:
        assert without_times(read_json(a / name)) == without_times(read_json(b / name)), name


def test_dedup_found_something(runs):
    """Not a vacuous comparison: the digits have near duplicates, removed and leaked."""
    s = read_json(runs[0] / "data" / "dedup" / "summary.json")
    assert s["n_pairs"] > 0 and s["n_removed"] > 0 and s["n_leaked_test"] > 0
