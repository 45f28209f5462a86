"""Dedup benchmark: quality per transform, end-to-end speed, and scale; side by side with imagededup.

    python benchmarks/dedup_bench.py                       # everything, figures into benchmarks/RESULTS.md
    python benchmarks/dedup_bench.py --only quality scale  # some sections
    python benchmarks/dedup_bench.py --originals 300 --distractors 1000 --speed-limit 10000   # quicker

Sections
* quality: a transform suite made from real CIFAR-10 images (flips, rot90, 2-10 % crops, JPEG
  quality 10-90, resize 0.75-2x, brightness/contrast/gamma/saturation, small rotations, overlaid
  text, and the shifts of 1-6 px, re-crops of 2-6 px and combinations that real copies show). For each transform
  the queries are the transformed originals and the database is the originals plus unrelated
  distractors; every (query, database image) pair is scored. A pair counts as found when its
  distance is within the threshold; the figure is the best recall (share of queries matched to
  their own original) at any threshold whose precision over all pairs is >= 99 %, and the
  threshold that gives it. CIFAR has a few natural near-duplicates among the distractors; they
  count against precision for every method alike.
* speed: images/s end to end on the CIFAR-10 archive (ours: decode from the .tar.gz + hash +
  search + group; imagededup: encode_images over the extracted folder + find_duplicates, the tar
  extraction is not timed), and embedding throughput.
* scale: 1,000,000 64-bit hashes (90 % random, 10 % planted copies 0-4 bits away) searched at
  threshold 4 and grouped; then the same with flips and rotations (8 codes per image, each searched
  against the identity codes, as `dedup.dihedral` does); time and peak memory (getrusage of each
  child process).

imagededup is not a dependency of this project: pip install imagededup into the venv to compare.
Its CNN method fetches MobileNetV3 weights through torchvision at first use; without internet or
a cache only its hash methods run, and the output says so. The CIFAR archive is read in place from
../shared/data (never copied into the project; imagededup's copy is extracted under /tmp).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance
from results_file import write_section  # benchmarks/ is on sys.path when a script here runs

from dupstudy.dedup import aligned, embed, grouping, hashing, search

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"


# ---------------------------------------------------------------- data

def read_cifar(n: int | None = None, split: str | None = None, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Decode images from the archive in place (a seeded sample of n, or all)."""
    with tarfile.open(CIFAR) as tf:
        members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(".jpg")
                   and (split is None or f"/{split}/" in m.name)]
        if n is not None:
            rng = np.random.default_rng(seed)
            members = [members[i] for i in np.sort(rng.choice(len(members), n, replace=False))]
        ims = [np.asarray(Image.open(tf.extractfile(m)).convert("RGB")) for m in members]
    return np.stack(ims), [m.name for m in members]


def _pil(x):
    return Image.fromarray(x)


def _crop(frac):
    def f(x, rng):
        h, w = x.shape[:2]
        ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
        top, left = rng.integers(0, ch + 1), rng.integers(0, cw + 1)
        return x[top:h - (ch - top), left:w - (cw - left)]
    return f


def _jpeg(q):
    def f(x, rng):
        buf = io.BytesIO()
        _pil(x).save(buf, format="JPEG", quality=q)
        return np.asarray(Image.open(buf).convert("RGB"))
    return f


def _resize(scale):
    def f(x, rng):
        h, w = x.shape[:2]
        return np.asarray(_pil(x).resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC))
    return f


def _enhance(kind, factor):
    def f(x, rng):
        return np.asarray(getattr(ImageEnhance, kind)(_pil(x)).enhance(factor))
    return f


def _rotate(deg):
    def f(x, rng):
        return np.asarray(_pil(x).rotate(deg * rng.choice([-1, 1]), resample=Image.Resampling.BICUBIC))
    return f


def _shift(px):
    """The frame moved px pixels (in a random direction) over the same scene: the border it uncovers
    is the mirror of the image, as a re-crop of a larger photo would show more of the scene."""
    def f(x, rng):
        dy, dx = rng.choice([-1, 1], 2) * rng.permutation([px, rng.integers(0, px + 1)])
        h, w = x.shape[:2]
        padded = np.pad(x, ((px, px), (px, px), (0, 0)), mode="reflect")
        return padded[px + dy:px + dy + h, px + dx:px + dx + w]
    return f


def _recrop(px):
    """px pixels cropped off (split at random between the sides), then resized back to the original size."""
    def f(x, rng):
        h, w = x.shape[:2]
        top, left = rng.integers(0, px + 1, 2)
        crop = x[top:h - (px - top), left:w - (px - left)]
        return np.asarray(_pil(crop).resize((w, h), Image.Resampling.BICUBIC))
    return f


def _gamma(g):
    def f(x, rng):
        return np.clip(255.0 * (x / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)
    return f


def _combo(x, rng):
    """A copy as the web makes them: shifted 2 px, re-cropped 3 px, brighter, then JPEG quality 50."""
    for step in (_shift(2), _recrop(3), _enhance("Brightness", 1.15), _jpeg(50)):
        x = step(x, rng)
    return x


def _text(x, rng):
    im = _pil(x).copy()
    h, w = x.shape[:2]
    ImageDraw.Draw(im).text((1, h - 11), "(c)2024", fill=(255, 255, 255))
    return np.asarray(im)


TRANSFORMS = {
    "flip_h": lambda x, rng: x[:, ::-1],
    "flip_v": lambda x, rng: x[::-1],
    "rot90": lambda x, rng: np.rot90(x),
    "rot180": lambda x, rng: x[::-1, ::-1],
    "crop_2pct": _crop(0.02), "crop_5pct": _crop(0.05), "crop_10pct": _crop(0.10),
    "jpeg_q30": _jpeg(30), "jpeg_q50": _jpeg(50), "jpeg_q70": _jpeg(70), "jpeg_q90": _jpeg(90),
    "resize_0.75": _resize(0.75), "resize_2x": _resize(2.0),
    "brightness_1.3": _enhance("Brightness", 1.3), "contrast_0.7": _enhance("Contrast", 0.7),
    "rotate_3deg": _rotate(3), "rotate_8deg": _rotate(8),
    "text_overlay": _text,
    # the transforms real near-duplicates show (shifted, re-cropped, rescaled, recoloured, recompressed)
    "shift_1px": _shift(1), "shift_3px": _shift(3), "shift_6px": _shift(6),
    "recrop_2px": _recrop(2), "recrop_4px": _recrop(4), "recrop_6px": _recrop(6),
    "resize_0.8": _resize(0.8), "resize_1.25": _resize(1.25),
    "gamma_0.8": _gamma(0.8), "gamma_1.25": _gamma(1.25), "saturation_1.4": _enhance("Color", 1.4),
    "rotate_2deg": _rotate(2), "jpeg_q10": _jpeg(10), "jpeg_q20": _jpeg(20),
    "combined": _combo,
}


# ---------------------------------------------------------------- methods

def _ours(method, dihedral=False):
    def codes(images):
        if dihedral:
            return hashing.dihedral_codes(images, method)  # (N, 8, 8)
        return hashing.hash_images(images, method)
    return codes


def _imagededup(name):
    def codes(images):
        from imagededup import methods

        enc = getattr(methods, name)(verbose=False)
        hexes = [enc.encode_image(image_array=np.ascontiguousarray(x)) for x in images]
        return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(len(images), 8)
    return codes


def imagededup_cnn_cached() -> bool:
    """True when torchvision's MobileNetV3-small weights (imagededup's CNN) are already cached.

    Checked without constructing imagededup.methods.CNN, which would try to download them.
    """
    import torch

    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    return any(ckpt.glob("mobilenet_v3_small-*.pth"))


def hamming_matrix(q: np.ndarray, db: np.ndarray) -> np.ndarray:
    """(Nq, Ndb) Hamming distances; q may be (Nq, 8 variants, nbytes): min over variants."""
    dbu = db.view(np.uint64)[:, 0] if db.shape[1] == 8 else None
    if q.ndim == 3:
        return np.min(np.stack([hamming_matrix(q[:, t], db) for t in range(q.shape[1])]), axis=0)
    if dbu is not None:
        x = q.view(np.uint64)[:, 0][:, None] ^ dbu[None, :]
        return np.bitwise_count(x).astype(np.int16)
    return hashing.hamming(q[:, None], db[None])


def aligned_scores(queries: list[np.ndarray], db: np.ndarray) -> np.ndarray:
    """(Nq, Ndb) distances for the aligned method: minus the verified score (Matches.decision) of every
    (query, db) pair that retrieval proposes over db and queries together, +inf for the rest (never
    reported, whatever the threshold). Queries are resized to the db's size first."""
    size = db.shape[2], db.shape[1]
    q = np.stack([x if x.shape[:2] == db.shape[1:3] else
                  np.asarray(_pil(x).resize(size, Image.Resampling.BICUBIC)) for x in queries])
    found = aligned.find(np.concatenate([db, q]), threshold=-1.0)
    out = np.full((len(q), len(db)), np.inf)
    a, b = found.a, found.b  # a < b: a query (>= len(db)) is always b when the other is in db
    sel = (a < len(db)) & (b >= len(db))
    out[b[sel] - len(db), a[sel]] = -found.decision[sel]
    return out


def recall_at_precision(scores: np.ndarray, min_precision: float = 0.99):
    """scores (Nq, Ndb) distances, the true match of query i is column i. Returns (recall, threshold)."""
    nq = len(scores)
    pos = scores[np.arange(nq), np.arange(nq)]
    neg = scores.copy()
    neg[np.arange(nq), np.arange(nq)] = np.inf if neg.dtype.kind == "f" else np.iinfo(neg.dtype).max
    values = np.unique(np.concatenate([pos, np.unique(neg)]))
    tp = np.searchsorted(np.sort(pos), values, side="right")
    fp = np.searchsorted(np.sort(neg.ravel()), values, side="right")
    ok = tp / np.maximum(tp + fp, 1) >= min_precision
    ok &= tp > 0
    if not ok.any():
        return 0.0, None
    best = np.argmax(np.where(ok, tp, -1))
    return tp[best] / nq, values[best]


def quality(args, out):
    t0 = time.perf_counter()
    originals, _ = read_cifar(args.originals, "test", seed=1)
    distractors, _ = read_cifar(args.distractors, "train", seed=2)
    db_images = np.concatenate([originals, distractors])
    rng = np.random.default_rng(0)
    queries = {name: [f(x, rng) for x in originals] for name, f in TRANSFORMS.items()}

    methods = {"ours pHash": _ours("phash"), "ours pHash+dihedral": _ours("phash", True),
               "ours dHash": _ours("dhash"), "ours wHash": _ours("whash")}
    notes = []
    try:
        import imagededup  # noqa: F401

        methods.update({f"imagededup {m}": _imagededup(m) for m in ("PHash", "DHash", "WHash", "AHash")})
        if imagededup_cnn_cached():
            notes.append("imagededup CNN: MobileNetV3 weights are cached, but its scores are not wired into this "
                         "benchmark yet; only its hash methods ran")
        else:
            notes.append("imagededup CNN did not run: its MobileNetV3 weights are not in the torch hub cache and "
                         "this machine cannot download them; only its hash methods ran")
    except ImportError:
        notes.append("imagededup is not installed: only our methods ran (pip install imagededup to compare)")
    model = None
    if embed.available() and not args.no_semantic:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        model = embed.load_model()

    table = {}
    db_codes = {}
    for m, f in methods.items():
        db_codes[m] = f(db_images)[:, 0] if "dihedral" in m else f(db_images)
    if model is not None:
        db_emb = embed.embed_images(db_images, size=args.embed_size, model=model)
    for name, qs in queries.items():
        same_shape = len({q.shape for q in qs}) == 1
        q_arr = np.stack(qs) if same_shape else None
        row = {}
        for m, f in methods.items():
            codes = f(q_arr) if same_shape else np.concatenate([f(q[None]) for q in qs])
            row[m] = recall_at_precision(hamming_matrix(codes, db_codes[m]))
        row["ours aligned (retrieval + verification)"] = recall_at_precision(aligned_scores(qs, db_images))
        if model is not None:
            # a few transforms change the size: the embedding resizes each batch to embed_size anyway
            e = (embed.embed_images(q_arr, size=args.embed_size, model=model) if same_shape else
                 np.concatenate([embed.embed_images(q[None], size=args.embed_size, model=model) for q in qs]))
            row[f"ours EfficientNet-Lite0 cosine ({args.embed_size}px)"] = recall_at_precision(-(e @ db_emb.T))
        table[name] = row
        print(name, {k: round(v[0], 3) for k, v in row.items()}, flush=True)
    cols = list(next(iter(table.values())))
    lines = [f"### Quality: recall at precision >= 99 % per transform ({args.originals} CIFAR-10 test originals, "
             f"{args.distractors} train distractors, {args.originals * (args.originals + args.distractors):,} "
             "scored pairs per transform)", "",
             "Cell: recall (threshold that gives it: bits for hashes, -cosine for the embedding); the threshold "
             "is chosen per transform and method, as in perception's benchmark, so a single deployed threshold "
             "does at most this well. "
             "Hashes are 64-bit; `dihedral` = min distance over the 8 flips/rotations of the query. "
             "`aligned`: the threshold is on minus the fine-detail score; a pair retrieval does not propose "
             "is never reported (dedup/aligned.py).", "",
             "| transform | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in table.items():
        cells = []
        for c in cols:
            r, t = row[c]
            cells.append(f"{r:.3f}" + (f" ({t:g})" if t is not None else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    mean = {c: np.mean([table[n][c][0] for n in table]) for c in cols}
    lines.append("| **mean** | " + " | ".join(f"**{mean[c]:.3f}**" for c in cols) + " |")
    lines += [""] + [f"- {n}" for n in notes] + [f"- section time {time.perf_counter() - t0:.0f} s", ""]
    out.extend(lines)


# ---------------------------------------------------------------- speed

def speed(args, out):
    from dupstudy.datasets.folder import load_folder
    from dupstudy.dedup import find_duplicates

    lines = ["### Speed: images/s end to end on CIFAR-10 (JPEG, 32x32)", ""]
    rows = []
    if args.speed_limit:
        note = f"first {args.speed_limit} images of the archive, decoded in place"
    else:
        note = "all 60,000 images, decoded in place from the .tar.gz"
    t = time.perf_counter()
    if args.speed_limit:
        # a subset: write a small tar under /tmp with the first N files
        tmp = Path(tempfile.mkdtemp(prefix="dedup_bench_"))
        sub = tmp / "subset.tar"
        with tarfile.open(CIFAR) as src, tarfile.open(sub, "w") as dst:
            k = 0
            for m in src:
                if m.isfile() and m.name.endswith(".jpg"):
                    dst.addfile(m, src.extractfile(m))
                    k += 1
                    if k >= args.speed_limit:
                        break
        archive = sub
    else:
        archive = CIFAR
    prep_s = time.perf_counter() - t
    t = time.perf_counter()
    data = load_folder(archive, workers=2, progress=False)
    decode = time.perf_counter() - t
    n = len(data.manifest)
    for label, settings in (("ours pHash, threshold 4, dihedral", {"dihedral": True}),
                            ("ours pHash, threshold 4", {"dihedral": False}),
                            ("ours pHash, threshold 10", {"dihedral": False, "threshold": 10})):
        s = {"exact": True, "hash": "phash", "hash_size": 8, "threshold": 4, "remove": True, **settings}
        t = time.perf_counter()
        r = find_duplicates(data, s, progress=False)
        el = time.perf_counter() - t
        rows.append((label, n, decode + el, f"decode {decode:.1f} s + hash/search/group {el:.1f} s; "
                     f"{r.summary['n_pairs']:,} pairs ({r.summary['search_method']})"))
        print(rows[-1], flush=True)
    for flags in ([], ["--aligned"], ["--no-aligned"]):
        rows.append(cli_run(archive, n, flags))
        print(rows[-1], flush=True)
    if embed.available() and not args.no_semantic:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        m = embed.load_model()
        k = min(n, args.embed_images)
        t = time.perf_counter()
        emb = embed.embed_images(data.images[:k], size=args.embed_size, model=m)
        el = time.perf_counter() - t
        t = time.perf_counter()
        a, _, _ = embed.cosine_pairs(emb, 0.9)
        sel = time.perf_counter() - t
        rows.append((f"ours EfficientNet-Lite0 embeddings ({args.embed_size}px, "
                     f"{'cuda' if torch.cuda.is_available() else 'cpu'})", k, el + sel,
                     f"embed {el:.1f} s + cosine range search {sel:.2f} s, {len(a):,} pairs >= 0.9; "
                     "decode not included"))
        print(rows[-1], flush=True)
        rows.append(mobilenet_proxy(data.images[:min(k, 2000)]))
        print(rows[-1], flush=True)
    try:
        from imagededup.methods import PHash

        tmp = Path(tempfile.mkdtemp(prefix="dedup_bench_imagededup_"))
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        t = time.perf_counter()
        ph = PHash(verbose=False)
        enc = ph.encode_images(str(tmp), recursive=True, num_enc_workers=os.cpu_count() or 1)
        te = time.perf_counter() - t
        t = time.perf_counter()
        dup = ph.find_duplicates(encoding_map=enc, max_distance_threshold=10, num_dist_workers=os.cpu_count() or 1)
        tf_ = time.perf_counter() - t
        npairs = sum(len(v) for v in dup.values()) // 2
        rows.append(("imagededup PHash, threshold 10 (its default)", len(enc), te + tf_,
                     f"encode {te:.1f} s + find_duplicates {tf_:.1f} s; {npairs:,} pairs"))
        print(rows[-1], flush=True)
    except ImportError:
        rows.append(("imagededup", 0, float("nan"), "not installed"))
    lines += [f"Data: {note}" + (f" (subset tar written in {prep_s:.1f} s, not timed)" if args.speed_limit else ""),
              "", "| pipeline | images | seconds | images/s | detail |", "|---|---|---|---|---|"]
    for label, k, sec, detail in rows:
        lines.append(f"| {label} | {k:,} | {sec:.1f} | {k / sec:,.0f} | {detail} |")
    out.extend(lines + [""])


# the CLI, then its own peak memory (VmHWM, see peak_rss_kib) on stderr as it exits
CLI_WITH_PEAK = ("import atexit, sys\n"
                 "atexit.register(lambda: print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')),"
                 " file=sys.stderr))\n"
                 "from dupstudy.cli import main\nmain(sys.argv[1:])")


def cli_run(archive: Path, n: int, flags: list[str]):
    """`dupstudy dedup ARCHIVE` as a user runs it, in a child process: wall time from start to exit
    (decoding included) and the child's peak resident memory."""
    with tempfile.TemporaryDirectory(prefix="dedup_bench_cli_") as tmp:
        cmd = [sys.executable, "-c", CLI_WITH_PEAK, "dedup", str(archive), "--out", f"{tmp}/out", *flags]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        el = time.perf_counter() - t
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        peak = int(proc.stderr.rsplit("VmHWM:", 1)[1].split()[0]) / 1024
        summary = json.loads(Path(f"{tmp}/out/summary.json").read_text())
    kinds = ", ".join(f"{k} {v:,}" for k, v in summary["pairs_by_kind"].items() if v)
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in summary["stage_seconds"].items() if k != "total" and v >= 0.5)
    return (f"ours `dupstudy dedup{''.join(' ' + f for f in flags)}` (CLI, defaults otherwise)", n, el,
            f"peak {peak:,.0f} MiB; {steps}; pairs: {kinds}")


def mobilenet_proxy(images: np.ndarray):
    """Throughput of imagededup's CNN network (torchvision MobileNetV3-small at 224 px, as imagededup
    resizes to), with random weights: the speed does not depend on the weight values."""
    import torch
    import torchvision
    from torch.nn import functional as F

    net = torchvision.models.mobilenet_v3_small(weights=None).eval()
    t = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(images), 64):
            x = torch.from_numpy(np.ascontiguousarray(images[s:s + 64])).permute(0, 3, 1, 2).float() / 255
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
            net.features(x).mean((2, 3))
    el = time.perf_counter() - t
    return ("MobileNetV3-small at 224 px: imagededup CNN's network (random weights, speed only)", len(images), el,
            "forward pass only; its weights cannot be downloaded here, so imagededup's CNN itself did not run")


# ---------------------------------------------------------------- scale

def planted_codes(n: int, threshold: int, dihedral: bool, rng) -> tuple[np.ndarray, np.ndarray | None]:
    """n random 64-bit codes, the last 10 % copies of others 0-`threshold` bits away; with `dihedral`
    also the codes of each one's 8 flips/rotations (N, 8, 8), the 7 others random, and each copy is
    near one of its source's 8 codes (drawn at random), as a flipped or rotated copy would be."""
    n_copy = n // 10
    codes = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    src = rng.choice(n - n_copy, n_copy, replace=False)
    variants = None
    if dihedral:
        variants = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        variants[:, 0] = codes
        bits = np.unpackbits(variants[src, rng.integers(0, 8, n_copy)], axis=1)
    else:
        bits = np.unpackbits(codes[src], axis=1)
    flips = rng.integers(0, threshold + 1, n_copy)
    for i, f in enumerate(flips):
        bits[i, rng.choice(64, f, replace=False)] ^= 1
    codes[n - n_copy:] = np.packbits(bits, axis=1)
    if dihedral:
        variants[:, 0] = codes  # the copies' own identity codes
    return codes, variants


def peak_rss_kib() -> int:
    """This process's own peak resident memory in KiB: VmHWM, since Linux carries ru_maxrss over from
    the parent that started it (this script's parent has imported torch by then)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def scale_child(n: int, threshold: int, dihedral: bool) -> None:
    base = peak_rss_kib()  # after imports
    codes, variants = planted_codes(n, threshold, dihedral, np.random.default_rng(0))
    t = time.perf_counter()
    pairs = search.self_pairs(codes, threshold, variants=variants)
    ts = time.perf_counter() - t
    t = time.perf_counter()
    order = np.arange(n)
    keeper = grouping.group_pairs(n, pairs.a, pairs.b, order)
    tg = time.perf_counter() - t
    n_groups = int(np.sum(np.bincount(keeper, minlength=n) > 1))
    peak = peak_rss_kib()
    print(f"RESULT {ts:.2f} {tg:.2f} {len(pairs)} {n_groups} "
          f"{search.method_name(codes.shape[1] * 8, threshold, n, dihedral)} {base} {peak}")


def scale(args, out):
    out.extend(["### Scale", ""])
    for dihedral in (False, True):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--scale-child", str(args.scale_n)]
                              + ["--scale-dihedral"] * dihedral, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        ts, tg, npairs, ngroups, how, base, peak = proc.stdout.split("RESULT ")[1].split()
        what = ("x 8 flips/rotations each (every transform of each code searched against the identity codes; "
                "10 % planted copies 0-4 bits from one of their source's 8 codes)" if dihedral
                else "(10 % planted copies 0-4 bits away)")
        line = (f"{args.scale_n:,} 64-bit hashes {what}, threshold 4: search {float(ts):.1f} s ({how}), "
                f"grouping {float(tg):.1f} s, {int(npairs):,} pairs, {int(ngroups):,} groups; child process wall "
                f"{wall:.1f} s including data generation and imports; peak RSS {int(peak) / 1024:.0f} MiB, of which "
                f"{int(base) / 1024:.0f} MiB after imports, before any data")
        print(line, flush=True)
        out.extend([line, ""])


# ---------------------------------------------------------------- main

def machine() -> str:
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import faiss
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    try:
        import imagededup

        idd = f"imagededup {imagededup.__version__}"
    except ImportError:
        idd = "imagededup not installed"
    return (f"{platform.node()}: {cpu}, {len(os.sched_getaffinity(0))} cores available, {gpu}; Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
            f"faiss {faiss.__version__}, "
            f"{idd}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=["quality", "speed", "scale"], default=["quality", "speed", "scale"])
    p.add_argument("--originals", type=int, default=500)
    p.add_argument("--distractors", type=int, default=2000)
    p.add_argument("--embed-size", type=int, default=64, help="embedding input size (CIFAR images are 32 px)")
    p.add_argument("--embed-images", type=int, default=5000, help="images embedded for the speed figure")
    p.add_argument("--no-semantic", action="store_true")
    p.add_argument("--speed-limit", type=int, default=0, help="use the first N images only (0 = all 60,000)")
    p.add_argument("--scale-n", type=int, default=1_000_000)
    p.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    p.add_argument("--block", default="", help="name of the RESULTS.md block to replace (default: the main one)")
    p.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--scale-dihedral", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.scale_child:
        scale_child(args.scale_child, 4, args.scale_dihedral)
        return
    if not CIFAR.is_file() and ("quality" in args.only or "speed" in args.only):
        sys.exit(f"{CIFAR} not found")
    out = [f"## Dedup benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
           f"Command: `{' '.join(['python', f'benchmarks/{Path(__file__).name}', *sys.argv[1:]])}`", "",
           f"Machine: {machine()}", ""]
    for section in ("scale", "quality", "speed"):
        if section in args.only:
            globals()[section](args, out)
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        write_section("dedup_bench", text, args.block)


if __name__ == "__main__":
    main()
