"""The tool never destroys what it did not make, and answers every bad input with one line.

`dupstudy dedup` may replace only a folder holding its marker (or an empty one); outputs that
are, contain or sit inside the input are refused before any work, with exit code 2 and nothing
touched. Two runs on one --out refuse each other (exit 3). Results and export are committed
together or not at all.
"""

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from image_helpers import smooth
from PIL import Image

from dupstudy import io as dio
from dupstudy import outdir

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(smooth(rng)).save(root / split / cls / f"{i}.png")
    return root


def snapshot(folder: Path) -> dict:
    """Every path under folder (links not followed) -> its bytes' digest, link target or 'dir'."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def dedup(*args, cwd=None):
    return subprocess.run([str(BIN / "dupstudy"), "dedup", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_one_line_refusal(proc, code: int, *words: str):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]


# ---------------------------------------------------------------- never destroy

@pytest.mark.slow
@pytest.mark.parametrize("case", ["unrelated", "input", "inside_input", "parent_of_input", "export_is_input",
                                  "out_is_export", "out_is_file", "out_is_link"])
def test_refused_outputs_touch_nothing(photos, tmp_path, case):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    (tmp_path / "afile").write_text("keep me too")
    (tmp_path / "link").symlink_to(notes, target_is_directory=True)
    args, words = {
        "unrelated": (["--out", notes], ["--out", "did not write"]),
        "input": (["--out", photos], ["--out", "is the input itself"]),
        "inside_input": (["--out", photos / "train" / "new"], ["inside the input"]),
        "parent_of_input": (["--out", "."], ["contains the input"]),
        "export_is_input": (["--out", tmp_path / "r", "--export", photos, "--export-mode", "symlink"],
                            ["--export", "is the input itself"]),
        "out_is_export": (["--out", tmp_path / "r", "--export", tmp_path / "r"], ["is the --export itself"]),
        "out_is_file": (["--out", tmp_path / "afile"], ["is not a folder"]),
        "out_is_link": (["--out", tmp_path / "link"], ["symbolic link"]),
    }[case]
    before = snapshot(tmp_path)
    proc = dedup(photos, *args, cwd=tmp_path)
    assert_one_line_refusal(proc, 2, *words)
    assert "nothing was touched" in proc.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_replaces_only_its_own_or_an_empty_folder(photos, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dedup(photos, "--out", empty, "--export", tmp_path / "exp").returncode == 0
    assert (empty / outdir.MARKER).is_file() and (tmp_path / "exp" / outdir.MARKER).is_file()
    (empty / "stale.txt").write_text("from an earlier run")  # inside a folder the tool made: replaced
    again = dedup(photos, "--out", empty, "--export", tmp_path / "exp")
    assert again.returncode == 0, again.stderr
    assert not (empty / "stale.txt").exists() and (empty / "summary.json").is_file()
    (tmp_path / "exp" / outdir.MARKER).unlink()  # the user takes the export over: now it is theirs
    refused = dedup(photos, "--out", empty, "--export", tmp_path / "exp")
    assert_one_line_refusal(refused, 2, "--export", "did not write")
    assert (empty / "summary.json").is_file()  # and the results were not replaced either


@pytest.mark.slow
def test_an_exported_folder_reads_back_without_its_marker(photos, tmp_path):
    assert dedup(photos, "--out", tmp_path / "r", "--export", tmp_path / "exp").returncode == 0
    again = dedup(tmp_path / "exp", "--out", tmp_path / "r2")
    assert again.returncode == 0 and "0 files rejected" in again.stdout


@pytest.mark.slow
def test_two_runs_on_one_out_refuse_each_other(photos, tmp_path):
    out = tmp_path / "r"
    with outdir.locked(out):  # a real lock, as another run holds it
        proc = dedup(photos, "--out", out)
        assert_one_line_refusal(proc, 3, "being written by another dupstudy run")
        assert not out.exists()
    assert not list(tmp_path.glob(".r.lock"))  # the holder removes its lock file
    assert dedup(photos, "--out", out).returncode == 0


def test_folders_are_committed_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    with dio.atomic_dirs(a, b) as (ta, tb):
        (ta / "x").write_text("1")
        (tb / "y").write_text("1")
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError):
        with dio.atomic_dirs(a, b) as (ta, tb):
            (ta / "x").write_text("2")
            raise RuntimeError("the export failed half way")
    assert snapshot(tmp_path) == before


def test_a_failed_rename_puts_the_old_folders_back(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    with dio.atomic_dirs(a, b) as (ta, tb):
        (ta / "x").write_text("old")
        (tb / "y").write_text("old")
    before = snapshot(tmp_path)
    real = os.replace

    def failing(src, dst):
        if Path(dst) == b and ".tmp-" in Path(src).name and "-old-" not in Path(src).name:
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(dio.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        with dio.atomic_dirs(a, b) as (ta, tb):
            (ta / "x").write_text("new")
            (tb / "y").write_text("new")
    assert snapshot(tmp_path) == before


def test_pipeline_folders_follow_the_same_rule(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    with pytest.raises(outdir.UnsafeOutput, match="did not write"):
        with dio.atomic_path(theirs, is_dir=True) as tmp:
            (tmp / "x").write_text("1")
    assert (theirs / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["theirs"]  # no temporary folder left either


def test_ingest_stage_refuses_an_output_inside_the_dataset(photos, tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"].update(name="folder", folder=str(photos))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    before = snapshot(photos)
    proc = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/ingest.py"), "--params", "params.yaml",
                           "--out", str(photos / "prepared")], capture_output=True, text=True, cwd=tmp_path)
    assert_one_line_refusal(proc, 2, "inside the dataset folder")
    assert snapshot(photos) == before


# ---------------------------------------------------------------- one line for every bad input

def _bad_inputs(tmp_path: Path, photos: Path) -> dict:
    (tmp_path / "empty").mkdir()
    (tmp_path / "plain.txt").write_text("hello")
    os.mkfifo(tmp_path / "fifo")
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w:gz") as tar:
        tar.add(photos, arcname="photos")
    data = good.getvalue()
    (tmp_path / "truncated.tar.gz").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = bytes(64)
    (tmp_path / "corrupt.tar.gz").write_bytes(bytes(corrupt))
    (tmp_path / "notgzip.tar.gz").write_bytes(gzip.compress(b"x")[:5] + b"not really gzip")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "latin1.csv").write_bytes("a,b,decision\ncaf\xe9.png,1,duplicate\n".encode("latin-1"))
    out = ["--out", tmp_path / "r"]
    return {
        "empty folder": ([tmp_path / "empty", *out], "no files found"),
        "plain file": ([tmp_path / "plain.txt", *out], "not a tar archive"),
        "fifo": ([tmp_path / "fifo", *out], "FIFO"),
        "truncated archive": ([tmp_path / "truncated.tar.gz", *out], "truncated or corrupt"),
        "corrupt archive": ([tmp_path / "corrupt.tar.gz", *out], "corrupt"),
        "not gzip": ([tmp_path / "notgzip.tar.gz", *out], "not a tar archive"),
        "out is a file": ([photos, "--out", tmp_path / "afile"], "not a folder"),
        "out is .": ([photos, "--out", "."], "contains the input"),
        "empty decisions": ([photos, *out, "--decisions", tmp_path / "empty.csv"], "empty"),
        "non-UTF-8 decisions": ([photos, *out, "--decisions", tmp_path / "latin1.csv"], "not UTF-8"),
    }


@pytest.mark.slow
def test_every_bad_input_is_one_line_without_a_traceback(photos, tmp_path):
    for name, (args, words) in _bad_inputs(tmp_path, photos).items():
        proc = dedup(*args, cwd=tmp_path)
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, name
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], (name, proc.stderr)
    assert not (tmp_path / "r").exists()


def test_a_bug_is_one_line_naming_the_traceback_file(monkeypatch, capsys):
    from dupstudy.errors import run_guarded

    def broken():
        raise KeyError("a key the code forgot")

    assert run_guarded(broken) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" in err and "Traceback" not in err
    crash = Path(err.rsplit(" ", 1)[-1])
    assert "KeyError" in crash.read_text()
    crash.unlink()
