"""Training throughput of every architecture and trainer on the CPU (or GPU when present), in images/s.

    python benchmarks/train_speed.py                 # all runs, figures into benchmarks/RESULTS.md
    python benchmarks/train_speed.py --threads 2 --block threads2   # a second block beside the first
    python benchmarks/train_speed.py --scale 0.25 --no-write        # quicker, print only

Runs every arch in dupstudy.models.ARCHS and every trainer in dupstudy.train.TRAINERS (whatever
the tuples hold when it runs) through dupstudy.train.fit:
* small_cnn (width 16, params.yaml's default) on the real digits at 8x8 (1 channel) and on
  32x32 RGB made from them;
* airbench (width 64 = the published widths 64/256/256) and preact_resnet18 (width 64 = the
  standard net) at 32x32 RGB only.
32x32 RGB images: each digit upscaled 4x (nearest), its three channels taken from three
different digits, so the channels are real but not identical images.

A figure is images / seconds of fit's training loop for one epoch (batch 128, no augmentation):
model building and airbench's whitening set-up are not timed. Before the timed runs of each
(arch, size) one untimed single-step fit warms up the kernels. Attack settings are the CIFAR ones
of the literature (eps 8/255, step 2/255, 10 steps; FGSM step 10/255; TRADES beta 6), at every
size. The 1-minute load average is recorded at the start and end and before every run, because
other jobs may share the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from results_file import write_section  # benchmarks/ is on sys.path when a script here runs
from sklearn.datasets import load_digits

from dupstudy import models
from dupstudy.params import section_defaults
from dupstudy.train import TRAINERS, fit

BATCH = 128
# (size, width, images at --scale 1) per arch; fewer images for the slow nets on the CPU.
RUNS = {"small_cnn": [("8x8", 16, 8192), ("32x32", 16, 512)],
        "airbench": [("32x32", 64, 384)],
        "preact_resnet18": [("32x32", 64, 256)]}
ATTACK = {"eps": 8 / 255, "train_step": 2 / 255, "train_steps": 10, "fgsm_step": 10 / 255, "trades_beta": 6.0,
          "eval_step": 2 / 255, "eval_steps": 10, "eval_restarts": 1}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults


def digits_data(n: int, size: str):
    d = load_digits()
    x8 = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    idx = np.resize(np.arange(len(x8)), n)
    if size == "8x8":
        return x8[idx], d.target[idx]
    big = np.repeat(np.repeat(x8, 4, axis=1), 4, axis=2)[..., 0]
    rgb = np.stack([big[idx], big[(idx + 1) % len(big)], big[(idx + 2) % len(big)]], axis=-1)
    return rgb, d.target[idx]


def machine(threads: int) -> str:
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()}: {cpu}, {len(os.sched_getaffinity(0))} cores available, {gpu}; Python "
            f"{platform.python_version()}, torch {torch.__version__}, torch threads {threads}")


def load1() -> float:
    return os.getloadavg()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every image count (rounded to whole batches)")
    p.add_argument("--archs", nargs="+", default=list(models.ARCHS), choices=list(models.ARCHS))
    p.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    p.add_argument("--block", default="", help="name of the RESULTS.md block to replace (default: the main one)")
    args = p.parse_args()
    settings = section_defaults("train", {"budget": "epochs", "epochs": 1, "steps": 1, "batch_size": BATCH, "lr": 0.05,
                                          "momentum": 0.9, "weight_decay": 5e-4,
                                          "augment": {"crop_padding": 0, "flip": False}, "threads": args.threads})
    t_start, load_start = time.perf_counter(), load1()
    when = datetime.now(UTC)
    print(f"# {machine(args.threads)}; load1 {load_start:.2f}", flush=True)
    header = (f"{'arch':>16} {'size':>6} {'width':>5} {'trainer':>10} {'images':>6} "
              f"{'seconds':>8} {'img/s':>8} {'load1':>6}")
    print(header, flush=True)
    rows = []
    for arch in args.archs:
        for size, width, n in RUNS[arch]:
            n = max(BATCH, round(n * args.scale / BATCH) * BATCH)
            x, y = digits_data(n, size)
            ms = section_defaults("model", {"arch": arch, "width": width})
            fit(x[:BATCH], y[:BATCH], classes=10, trainer="standard", seed=0, model_settings=ms,  # warm-up
                settings={**settings, "budget": "steps", "steps": 1}, attack=ATTACK, progress=False)
            for trainer in TRAINERS:
                before = load1()
                _, _, curve = fit(x, y, classes=10, trainer=trainer, seed=0, model_settings=ms, settings=settings,
                                  attack=ATTACK, progress=False)
                sec = curve[-1]["seconds"]
                row = (arch, size, width, trainer, n, sec, n / sec, before)
                rows.append(row)
                print(f"{arch:>16} {size:>6} {width:>5} {trainer:>10} {n:>6} "
                      f"{sec:>8.2f} {n / sec:>8.1f} {before:>6.2f}",
                      flush=True)
    load_end, total = load1(), time.perf_counter() - t_start
    print(f"# load1 at end {load_end:.2f}; total {total:.0f} s", flush=True)

    shared = max([load_start, load_end, *(r[-1] for r in rows)]) > args.threads + 0.5
    out = [f"## Training speed ({when:%Y-%m-%d %H:%M} UTC)", "",
           f"Command: `{' '.join(['python', f'benchmarks/{Path(__file__).name}', *sys.argv[1:]])}`", "",
           f"Machine: {machine(args.threads)}", "",
           f"Load (1-minute average): {load_start:.2f} at start, {load_end:.2f} at end; total {total:.0f} s. "
           + ("The load exceeded the benchmark's own threads, so other jobs shared the cores and these figures "
              "are a lower bound on what an idle machine gives" if shared else
              "The load stayed near the benchmark's own threads: no other work competed for the cores")
           + "; the load1 column is the load average just before each run.", "",
           "img/s = images / seconds of one epoch of fit's training loop (batch 128, no augmentation; model "
           "building and airbench's whitening set-up not timed; one untimed warm-up step per arch and size). "
           "Widths are the real ones: small_cnn 16 (params.yaml default), airbench 64 (published widths "
           "64/256/256), preact_resnet18 64 (the standard net). 8x8 = digits, 1 channel; 32x32 = digits "
           "upscaled 4x, 3 channels. Attack: eps 8/255, step 2/255, train_steps 10, fgsm_step 10/255, "
           "trades_beta 6, at every size.", "",
           "| arch | size | width | trainer | images | seconds | img/s | load1 before |", "|---" * 8 + "|"]
    for arch, size, width, trainer, n, sec, rate, before in rows:
        out.append(f"| {arch} | {size} | {width} | {trainer} | {n} | {sec:.2f} | {rate:.1f} | {before:.2f} |")
    out.append("")
    text = "\n".join(out)
    if not args.no_write:
        write_section("train_speed", text, args.block)


if __name__ == "__main__":
    main()
