"""The report as a person sees it: rendered by headless Chromium, offline."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from test_report import _build, inputs  # noqa: F401  (the synthetic inputs fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; "
                                                          ".ci/run installs it where apt-get works)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium(tmp_path, *args):
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_renders_with_its_figures(tmp_path, inputs):  # noqa: F811
    html, _ = _build(tmp_path, inputs)
    url = html.resolve().as_uri()
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url)
    assert "Published" in dom and "70.72" in dom  # the side-by-side with the paper survived rendering
    assert dom.count("<img") >= 5

    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--virtual-time-budget=5000", "--window-size=1280,3000", f"--screenshot={shot}", url)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (3000, 1280)
    not_white = (pixels < 235).any(axis=2).mean()
    colourful = (pixels.max(axis=2) - pixels.min(axis=2) > 60).mean()
    assert not_white > 0.03, "the page rendered (nearly) blank"
    assert colourful > 0.002, "no coloured figure pixels: the figures did not render"
