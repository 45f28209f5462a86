"""Size the cifar10-cpu preset: train one model on a share of CIFAR-10 on the CPU, time it, and
measure clean accuracy on all test images and PGD accuracy (step 2/255) on a fixed subset.

    python benchmarks/cifar_cpu_sizing.py --arch airbench --width 16 --epochs 8 --lr 0.4
    python benchmarks/cifar_cpu_sizing.py --trainer pgd --train-steps 3 --images 2048 --epochs 1

The images come from ../shared/data/cifar10-jpg.tar.gz (relative to the project root; --data
to change), decoded once and kept as .npy under --cache. Training goes through
dupstudy.train.fit with one torch thread (the pipeline runs two such jobs at once on 2 cores)
and the same augmentation as the preset (crop padding 4, flips). Prints one JSON line: wall and
CPU seconds of training and of each evaluation, training images per CPU second, the accuracies,
and the 1-minute load average before and after. Other work may share the cores: wall seconds then
overstate an idle machine's time, while the process's CPU seconds (one thread) stay close to it,
so sizing uses the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def cached(data: Path, cache: Path):
    """(train x, train y, test x, test y) as uint8 / int64 arrays, decoded once."""
    files = {k: cache / f"{k}.npy" for k in ("xtr", "ytr", "xte", "yte")}
    if not all(f.exists() for f in files.values()):
        from dupstudy.datasets.folder import load_folder

        t0 = time.perf_counter()
        d = load_folder(data, progress=False)
        print(f"decoded {len(d.images)} images in {time.perf_counter() - t0:.1f} s", flush=True)
        tr, te = d.split_ids("train"), d.split_ids("test")
        cache.mkdir(parents=True, exist_ok=True)
        for k, v in (("xtr", d.images[tr]), ("ytr", d.labels[tr]), ("xte", d.images[te]), ("yte", d.labels[te])):
            np.save(files[k], v)
    return tuple(np.load(files[k]) for k in ("xtr", "ytr", "xte", "yte"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10-jpg.tar.gz"))
    p.add_argument("--cache", default="/tmp/cifar10-npy")
    p.add_argument("--arch", default="airbench")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--trainer", default="standard")
    p.add_argument("--images", type=int, default=50000, help="training images (the first of a fixed shuffle)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--smoothing", type=float, default=0.0)
    p.add_argument("--train-steps", type=int, default=10, help="PGD steps in training")
    p.add_argument("--train-step", type=float, default=None, help="PGD step in training (default 2.5 eps / steps)")
    p.add_argument("--eval-n", type=int, default=1000, help="PGD evaluation on this many test images (0: none)")
    p.add_argument("--eval-steps", type=int, default=20)
    p.add_argument("--clean-n", type=int, default=10000, help="clean accuracy on this many test images")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    from dupstudy import attacks
    from dupstudy.params import section_defaults
    from dupstudy.train import fit, to_tensor

    xtr, ytr, xte, yte = cached(Path(args.data), Path(args.cache))
    pick = np.random.default_rng(0).permutation(len(xtr))[:args.images]
    eps = 8 / 255
    attack = {"eps": eps, "train_step": args.train_step or 2.5 * eps / args.train_steps,
              "train_steps": args.train_steps, "fgsm_step": 10 / 255, "trades_beta": 6.0}
    settings = section_defaults("train", {
        "epochs": args.epochs, "steps": "auto", "budget": "epochs", "batch_size": args.batch, "lr": args.lr,
        "momentum": 0.9, "weight_decay": args.wd, "label_smoothing": args.smoothing,
        "augment": {"crop_padding": 4, "flip": True}, "threads": args.threads})
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    model, _, curve = fit(xtr[pick], ytr[pick], classes=10, trainer=args.trainer, seed=0,
                          model_settings=section_defaults("model", {"arch": args.arch, "width": args.width}),
                          settings=settings, attack=section_defaults("attack", attack),
                          progress=False)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {**{k: v for k, v in vars(args).items() if k not in ("data", "cache")}, "train_s": round(train_s, 1),
           "train_cpu_s": round(train_cpu, 1), "train_img_per_cpu_s": round(args.images * args.epochs / train_cpu, 1),
           "epoch_s": [round(c["seconds"], 1) for c in curve], "train_acc": round(curve[-1]["train_acc"], 4)}
    model = model.float().eval()
    t0, c0 = time.perf_counter(), time.process_time()
    # a fixed random draw: the test split is ordered by class, so its first n images are one class
    few = np.sort(np.random.default_rng(1).permutation(len(xte))[:args.clean_n])
    x, y = to_tensor(xte[few], "cpu"), torch.from_numpy(yte[few])
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
    out.update(clean_acc=round((pred == y).float().mean().item(), 4), clean_s=round(time.perf_counter() - t0, 1),
               clean_cpu_s=round(time.process_time() - c0, 1))
    if args.eval_n:
        sub = np.sort(np.random.default_rng(0).permutation(len(xte))[:args.eval_n])
        xs, ys = to_tensor(xte[sub], "cpu"), torch.from_numpy(yte[sub])
        t0, c0 = time.perf_counter(), time.process_time()
        ok = attacks.robust_correct(model, xs, ys, eps=eps, step=2 / 255, steps=args.eval_steps,
                                    restarts=1)
        out.update(pgd_acc=round(ok.float().mean().item(), 4), pgd_s=round(time.perf_counter() - t0, 1),
                   pgd_cpu_s=round(time.process_time() - c0, 1))
    out.update(load1_before=round(load0, 2), load1_after=round(os.getloadavg()[0], 2))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
