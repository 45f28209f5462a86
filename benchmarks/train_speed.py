"""Training throughput of each trainer on the CPU (or GPU when present), in images/s.

    python benchmarks/train_speed.py [--images 2000] [--epochs 3] [--threads 1]

Uses the real digits at 8x8 and the same images upscaled to 32x32 (CIFAR's size), so the
figures show both the embedded default and CIFAR-scale cost per image.
"""

import argparse
import platform
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from dupstudy.train import fit


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--width", type=int, default=16)
    args = p.parse_args()
    d = load_digits()
    x8 = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    idx = np.resize(np.arange(len(x8)), args.images)
    y = d.target[idx]
    sizes = {"8x8": x8[idx], "32x32": np.repeat(np.repeat(x8[idx], 4, axis=1), 4, axis=2)}
    settings = {"budget": "epochs", "epochs": args.epochs, "batch_size": 128, "lr": 0.05, "momentum": 0.9,
                "weight_decay": 5e-4, "augment": {"crop_padding": 0, "flip": False}, "threads": args.threads}
    attack = {"eps": 0.1, "train_step": 0.025, "train_steps": 10}
    dev = "cuda" if torch.cuda.is_available() else f"cpu x{args.threads} thread(s)"
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {dev}")
    print(f"{'images':>8} {'trainer':>9} {'width':>5} {'img/s':>10}")
    for name, x in sizes.items():
        for trainer in ("standard", "pgd"):
            t0 = time.perf_counter()
            fit(x, y, classes=10, trainer=trainer, seed=0, model_settings={"arch": "small_cnn", "width": args.width},
                settings=settings, attack=attack, progress=False)
            rate = args.images * args.epochs / (time.perf_counter() - t0)
            print(f"{name:>8} {trainer + ('-10' if trainer == 'pgd' else ''):>9} {args.width:>5} {rate:>10.0f}")


if __name__ == "__main__":
    main()
