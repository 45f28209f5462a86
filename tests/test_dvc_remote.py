"""Intermediate datasets shared through a DVC remote: `dvc push`, then `dvc pull` in a fresh clone
restores every one, byte for byte. A local directory remote, and an S3 remote (moto's server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_project import BIN, make, run

pytestmark = pytest.mark.slow
DVC = str(BIN / "dvc")
STAGES = ["variant"]  # with ingest and dedup before it: every dataset up to the variants, no training


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for top in ("data",) for p in sorted((root / top).rglob("*")) if p.is_file() and p.name != ".gitignore"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make(tmp_path_factory.mktemp("remote_project"))
    run([DVC, "repro", *STAGES], root)
    run(["git", "add", "dvc.lock"], root)
    run(["git", "commit", "-qm", "datasets"], root)
    files = _files(root)
    assert any(k.startswith("data/prepared/") for k in files) and any(k.startswith("data/dedup/") for k in files)
    assert len([k for k in files if k.startswith("data/variants/")]) == 4
    return root, files


def _push_then_pull_in_a_clone(root: Path, files: dict, remote: str, tmp: Path, env_extra: dict | None = None):
    extra = env_extra or {}
    run([DVC, "remote", "default", remote], root)
    run(["git", "commit", "-qam", f"remote {remote}"], root)
    pushed = _run(DVC, "push", "-r", remote, cwd=root, extra=extra)
    assert "pushed" in pushed.lower(), pushed
    clone = tmp / f"clone-{remote}"
    run(["git", "clone", "-q", str(root), str(clone)], tmp)
    assert not (clone / "data").exists()
    _run(DVC, "pull", "-r", remote, "--with-deps", *STAGES, cwd=clone, extra=extra)
    assert _files(clone) == files
    status = _run(DVC, "status", "--with-deps", *STAGES, cwd=clone, extra=extra)
    assert "up to date" in status, status


def _run(*cmd: str, cwd: Path, extra: dict) -> str:
    from pipeline_project import env

    proc = subprocess.run(list(cmd), cwd=cwd, env={**env(), **extra}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout + proc.stderr


def test_local_directory_remote_restores_every_dataset(project, tmp_path):
    root, files = project
    run([DVC, "remote", "add", "shared", str(tmp_path / "dvc-store")], root)
    _push_then_pull_in_a_clone(root, files, "shared", tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[test]')")
    pytest.importorskip("dvc_s3", reason="dvc-s3 is not installed (pip install -e '.[test]')")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=url, **{k.lower(): v for k, v in creds.items() if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket="team-datasets")
        yield url, creds
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_s3_remote_on_a_local_server_restores_every_dataset(project, s3_server, tmp_path):
    root, files = project
    url, creds = s3_server
    run([DVC, "remote", "add", "team", "s3://team-datasets/dupstudy"], root)
    run([DVC, "remote", "modify", "team", "endpointurl", url], root)
    _push_then_pull_in_a_clone(root, files, "team", tmp_path, env_extra=creds)
    listed = subprocess.run([sys.executable, "-c", (
        "import boto3,sys; c=boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1');"
        "print(c.list_objects_v2(Bucket='team-datasets').get('KeyCount', 0))"), url],
        env={**os.environ, **creds}, capture_output=True, text=True, check=True)
    assert int(listed.stdout) > 0
