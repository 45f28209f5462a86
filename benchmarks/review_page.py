"""The review page at its design load: 20,000 pairs of 40,000 distinct CIFAR-10 images (the worst
case for its size: no image shared between pairs), built, then opened in headless Chromium.

    python benchmarks/review_page.py              # 20,000 pairs
    python benchmarks/review_page.py --pairs 2000 # quicker

Prints: build seconds (pairs table to review.html), file size, how the images were packed, and
in the browser: time to the first grid (navigation start to the page's ready mark), time until the
first card's images are drawn, a filter change, a jump to the middle of the grid (until its cards
are drawn), one decision by key, the JS heap. The pairs are made, not found (kinds, bands and
scores drawn at random), so the page is measured at a chosen size; the images are real.

Peer: review UIs of other tools (FiftyOne's app, fastdup's galleries) are not installed here, so
there is no side-by-side row; the old read-only gallery is gone.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from dedup_bench import read_cifar  # benchmarks/ is on sys.path when a script here runs

from dupstudy.datasets.prepared import from_arrays
from dupstudy.dedup import review, review_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KINDS = ["exact_pixels", "near", "flip_rot", "aligned", "unaligned"]

WAIT_DRAWN = """async (sel) => {
  const t0 = performance.now();
  for (;;) {
    const c = document.querySelector(sel);
    if (c) { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             for (let k = 3; k < d.length; k += 4) if (d[k]) return performance.now() - t0; }
    await new Promise(r => setTimeout(r, 5));
  }
}"""


def made_pairs(n_pairs: int, names: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = np.arange(0, 2 * n_pairs, 2), np.arange(1, 2 * n_pairs, 2)
    kind = rng.choice(KINDS, n_pairs)
    score = np.where(np.isin(kind, ["aligned", "unaligned", "near"]), rng.uniform(0.3, 1, n_pairs), np.nan)
    return pd.DataFrame({
        "a": a, "b": b, "kind": kind, "scope": rng.choice(["train", "train_test"], n_pairs),
        "distance": rng.integers(0, 20, n_pairs), "transform": "identity", "label_a": 0, "label_b": 0,
        "cosine": np.nan, "aligned_score": score,
        "alignment": np.where(np.isfinite(score), "shift 1,-2", ""),
        "path_a": [names[i] for i in a], "path_b": [names[i] for i in b]})


def build(n_pairs: int, out: Path) -> dict:
    images, names = read_cifar(2 * n_pairs)
    classes = sorted({n.split("/")[-2] for n in names})
    labels = np.array([classes.index(n.split("/")[-2]) for n in names])
    split = np.where(["/test/" in n for n in names], "test", "train")
    data = from_arrays("cifar10-sample", classes, images, labels, split, names)
    pairs = made_pairs(n_pairs, names)
    pairs["label_a"], pairs["label_b"] = labels[pairs["a"]], labels[pairs["b"]]
    groups = pd.DataFrame({"id": np.r_[pairs["a"], pairs["b"]], "group": np.r_[pairs["a"], pairs["a"]],
                           "is_keeper": np.r_[np.ones(n_pairs, bool), np.zeros(n_pairs, bool)],
                           "label_conflict": False})
    t = time.perf_counter()
    m = data.manifest.sort_values("id").reset_index(drop=True)
    sample = review.review_sample(pairs, m, 100, 0)
    review_page.write_page(out, pairs, data, groups, sample)
    return {"build_s": time.perf_counter() - t, "mb": out.stat().st_size / 2**20,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def browse(html: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = b.new_page(viewport={"width": 1300, "height": 900})
        t = time.perf_counter()
        page.goto(html.resolve().as_uri())
        page.wait_for_selector("body[data-ready]")
        wall = time.perf_counter() - t
        ready_ms = page.evaluate("performance.now()")
        first_ms = page.evaluate(WAIT_DRAWN, ".card canvas")
        filter_ms = page.evaluate("""() => { const s = document.querySelector('#f-kind'); s.value = 'aligned';
            const t0 = performance.now(); s.dispatchEvent(new Event('change', {bubbles: true}));
            return performance.now() - t0; }""")
        jump_ms = page.evaluate("""async (wait) => { const g = document.querySelector('#grid'), t0 = performance.now();
            g.scrollTop = g.scrollHeight / 2; await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
            const k = Math.max(...[...document.querySelectorAll('.card')].map(e => +e.dataset.k));
            const f = eval(wait); await f(`.card[data-k="${k}"] canvas`); return performance.now() - t0; }""",
                                WAIT_DRAWN)
        key_ms = page.evaluate("""() => { const t0 = performance.now();
            document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'd', bubbles: true}));
            return performance.now() - t0; }""")
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20
        b.close()
    return {"open_wall_s": wall, "ready_ms": ready_ms, "first_images_ms": first_ms, "filter_ms": filter_ms,
            "jump_ms": jump_ms, "key_ms": key_ms, "heap_mb": heap}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=20_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "review.html"
        built = build(args.pairs, html)
        how = re.search(r'"encoding":"([^"]*)"', html.read_text())[1]
        print(f"{args.pairs:,} pairs of {2 * args.pairs:,} CIFAR-10 images: built in {built['build_s']:.1f} s, "
              f"{built['mb']:.1f} MB (images: {how}), peak RSS {built['peak_rss_gib']:.2f} GiB")
        if CHROMIUM is None:
            print("no Chromium: the browser figures are not measured")
            return 0
        r = browse(html)
    print(f"Chromium: page ready {r['ready_ms']:.0f} ms after navigation start (wall {r['open_wall_s']:.2f} s), "
          f"first images drawn {r['first_images_ms']:.0f} ms later; filter change {r['filter_ms']:.0f} ms; "
          f"jump to the middle drawn in {r['jump_ms']:.0f} ms; a decision by key {r['key_ms']:.0f} ms; "
          f"JS heap {r['heap_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
