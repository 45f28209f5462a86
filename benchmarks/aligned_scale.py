"""The default dedup's aligned pass (retrieval + verification) at scale: time, peak memory, recall on planted copies.

    python benchmarks/aligned_scale.py --n 1000000            # ours only
    python benchmarks/aligned_scale.py --n 200000 --peer 900  # imagededup's pHash beside it, stopped after 900 s

Images: N distinct 32x32 crops of random 2x2 mosaics of CIFAR-10 images (../shared/data), so each has natural
statistics and its own content; 10 % of them are replaced by copies of other images, re-cropped 1-3 pixels away
from their source's crop (a true shift, not a wrap-around) and half of them mirrored. Recall: planted pairs among
the pairs the aligned pass reports at dedup.aligned_threshold's default. Each run is a child process, so its peak
resident memory (VmHWM) is its own. Figures are appended to benchmarks/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from dedup_bench import machine, peak_rss_kib, read_cifar  # noqa: E402
from results_file import write_section  # noqa: E402

COPY_SHARE = 0.1


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, a, b): N images and the planted pairs (source a, copy b)."""
    rng = np.random.default_rng(seed)
    src, _ = read_cifar()
    tiles = rng.integers(0, len(src), (n, 4))
    oy, ox = rng.integers(4, 28, n), rng.integers(4, 28, n)
    k = int(n * COPY_SHARE)
    perm = rng.permutation(n)
    a, b = perm[:k], perm[k:2 * k]
    tiles[b] = tiles[a]  # the copy cuts its own crop from its source's mosaic
    shift = rng.integers(1, 4, (k, 2)) * rng.choice([-1, 1], (k, 2))
    oy[b], ox[b] = oy[a] + shift[:, 0], ox[a] + shift[:, 1]
    mirror = np.zeros(n, bool)
    mirror[b] = rng.random(k) < 0.5
    out = np.empty((n, 32, 32, 3), np.uint8)
    for s in range(0, n, 8192):
        t = tiles[s:s + 8192]
        mosaic = np.concatenate([np.concatenate([src[t[:, 0]], src[t[:, 1]]], 2),
                                 np.concatenate([src[t[:, 2]], src[t[:, 3]]], 2)], 1)
        for i in range(len(t)):
            crop = mosaic[i, oy[s + i]:oy[s + i] + 32, ox[s + i]:ox[s + i] + 32]
            out[s + i] = crop[:, ::-1] if mirror[s + i] else crop
    return out, a, b


def ours_child(n: int) -> None:
    from dupstudy.dedup import aligned
    from dupstudy.params import section_defaults

    base = peak_rss_kib()
    images, a, b = synthetic(n)
    made = peak_rss_kib()
    seconds: dict = {}
    t = time.perf_counter()
    scored = aligned.verified(images, int(section_defaults("dedup")["aligned_k"]), seconds=seconds)
    wall = time.perf_counter() - t
    found = scored.take(scored.decision >= float(section_defaults("dedup")["aligned_threshold"]))
    planted = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    hit = sum(p in planted for p in zip(found.a.tolist(), found.b.tolist()))
    print(f"RESULT {wall:.1f} {seconds['aligned_retrieval']:.1f} {seconds['aligned_verification']:.1f} "
          f"{len(scored)} {len(found)} {hit} {len(planted)} {base} {made} {peak_rss_kib()}")


def peer_child(n: int) -> None:
    from imagededup.methods import PHash

    images, a, b = synthetic(n)
    t = time.perf_counter()
    ph = PHash(verbose=False)
    enc = {str(i): ph.encode_image(image_array=im) for i, im in enumerate(images)}
    t_enc = time.perf_counter() - t
    print(f"ENCODED {t_enc:.1f}", flush=True)
    dup = ph.find_duplicates(encoding_map=enc, max_distance_threshold=10)
    found = {(min(int(x), int(y)), max(int(x), int(y))) for x, ys in dup.items() for y in ys}
    planted = set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    print(f"RESULT {time.perf_counter() - t:.1f} {t_enc:.1f} {len(found)} {len(found & planted)} {len(planted)} "
          f"{peak_rss_kib()}")


def run_child(flag: str, n: int, timeout: float | None) -> str:
    """The child's output; "TIMEOUT " and what it printed when it ran past timeout seconds."""
    try:
        return subprocess.run([sys.executable, __file__, flag, str(n)], capture_output=True, text=True, check=True,
                              timeout=timeout).stdout
    except subprocess.TimeoutExpired as err:
        return "TIMEOUT " + ((err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="images (default 1,000,000)")
    p.add_argument("--peer", type=float, default=0, metavar="SECONDS",
                   help="also run imagededup's pHash (threshold 10) on the same images, stopped after SECONDS")
    p.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    p.add_argument("--ours-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--peer-child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ours_child:
        return ours_child(args.ours_child)
    if args.peer_child:
        return peer_child(args.peer_child)
    lines = [f"## Aligned pass at {args.n:,} images ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
             f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`", "",
             f"Machine: {machine()}", "",
             f"Images: {args.n:,} synthetic 32x32 crops of CIFAR-10 mosaics, {COPY_SHARE:.0%} replaced by shifted "
             "re-crops of others (half mirrored); see the script's docstring.", "",
             "| tool | wall s | retrieval s | verification s | candidates | pairs reported | planted found | "
             "peak RSS GiB (after making the images) |", "|---|---|---|---|---|---|---|---|"]
    out = run_child("--ours-child", args.n, None)
    w, tr, tv, cand, rep, hit, planted, base, made, peak = out.split("RESULT ")[1].split()
    lines.append(f"| dupstudy aligned pass (defaults) | {float(w):,.0f} | {float(tr):,.0f} | {float(tv):,.0f} | "
                 f"{int(cand):,} | {int(rep):,} | {int(hit):,}/{int(planted):,} = {int(hit) / int(planted):.1%} | "
                 f"{int(peak) / 2**20:.2f} ({int(made) / 2**20:.2f}) |")
    print(lines[-1], flush=True)
    if args.peer:
        out = run_child("--peer-child", args.n, args.peer)
        if out.startswith("TIMEOUT"):
            enc = out.split("ENCODED ")[1].split()[0] if "ENCODED " in out else None
            lines.append(f"| imagededup 0.3 PHash, max_distance_threshold 10 | stopped at {args.peer:,.0f} | "
                         f"{'encoding ' + enc + ' s' if enc else 'still encoding'} | – | – | – | – | – |")
        else:
            w, enc, rep, hit, planted, peak = out.split("RESULT ")[1].split()
            lines.append(f"| imagededup 0.3 PHash, max_distance_threshold 10 | {float(w):,.0f} | encoding "
                         f"{float(enc):,.0f} | – | – | {int(rep):,} | {int(hit):,}/{int(planted):,} = "
                         f"{int(hit) / int(planted):.1%} | {int(peak) / 2**20:.2f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section("aligned_scale", text, str(args.n))


if __name__ == "__main__":
    main()
