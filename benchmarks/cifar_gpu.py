"""CIFAR-10 on one GPU: accuracy and time of standard training, epoch time of PGD-AT, and an
estimate of the full grid's GPU time from the measured epoch times.

    python benchmarks/cifar_gpu.py                      # figures into benchmarks/RESULTS.md
    python benchmarks/cifar_gpu.py --epochs 8 10 --pgd-epochs 0
    python benchmarks/cifar_gpu.py --smoke --no-write   # 1,000 images, 1 epoch: checks the script, any machine

Data: ../shared/data/cifar10-jpg.tar.gz (the JPEG re-encoding of CIFAR-10), read by the project's
folder source. Every run goes through dupstudy.train.fit and dupstudy.evaluate.evaluate, so the
figures are those of the pipeline's own train and evaluate stages.

* standard: one run per value of --epochs (airbench-style net by default); wall time of fit
  (CUDA synchronised) and clean test accuracy. Airbench94's published figure to compare with is
  94 % in 3.09 s on an A100; this script trains with the onecycle recipe (no test-time flips, no
  lookahead), not airbench's, so the accuracy reached in a given number of epochs may be lower.
  airbench's own recipe (train.recipe: airbench) is measured by benchmarks/airbench_cpu.py.
* PGD-AT: seconds per epoch at eps 8/255, step 2/255, 10 steps; with --pgd-epochs N > 0 also a
  full run and its clean and PGD-50 accuracy.
* grid estimate: the default CIFAR grid (2 schemes x 5 D-rates x 2 trainers x 3 seeds, equal
  epochs, additive protocol) from the measured seconds per epoch, scaled by each variant's size.
  It is labelled an estimate: it is arithmetic on measured epoch times, not a timed grid run.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from results_file import write_section  # benchmarks/ is on sys.path when a script here runs

from dupstudy import models
from dupstudy.datasets.folder import load_folder
from dupstudy.evaluate import evaluate
from dupstudy.train import fit

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"
ATTACK = {"eps": 8 / 255, "train_step": 2 / 255, "train_steps": 10, "eval_step": 2 / 255, "eval_steps": 50,
          "eval_restarts": 1}
GRID_RATES = (0.0, 0.1, 0.3, 0.6, 0.9)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_fit(x, y, trainer, epochs, args):
    settings = {"budget": "epochs", "epochs": epochs, "steps": 1, "batch_size": args.batch, "lr": args.lr,
                "momentum": 0.9, "weight_decay": args.weight_decay, "label_smoothing": args.label_smoothing,
                "augment": {"crop_padding": 4, "flip": True}, "threads": None}
    sync()
    t0 = time.perf_counter()
    model, spec, curve = fit(x, y, classes=10, trainer=trainer, seed=0, model_settings={"arch": args.arch,
                             "width": args.width}, settings=settings, attack=ATTACK, progress=False)
    sync()
    return model, spec, curve, time.perf_counter() - t0


def accuracy(model, spec, xt, yt, robust: bool):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        models.save(path, model, spec)
        attack = ATTACK if robust else {**ATTACK, "eval_steps": 0}
        return evaluate(path, xt, yt, classes=[str(i) for i in range(10)], attack=attack)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--arch", default="airbench", choices=models.ARCHS)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--epochs", type=int, nargs="+", default=[10], help="one standard run per value")
    p.add_argument("--pgd-epochs", type=int, default=0, help="also a full PGD-AT run of this many epochs")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=1.0, help="untuned; airbench's 1/9 logit scale wants a large rate")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.2)
    p.add_argument("--smoke", action="store_true", help="1,000 train and 500 test images, 1 epoch")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()

    data = load_folder(args.data, progress=False)
    tr, te = data.split_ids("train"), data.split_ids("test")
    if args.smoke:
        tr, te, args.epochs = tr[::50], te[::20], [1]
    x, y, xt, yt = data.images[tr], data.labels[tr], data.images[te], data.labels[te]
    device = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
              else f"CPU ({platform.processor() or platform.machine()}), no GPU")
    out = [f"## CIFAR-10 on one GPU ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
           f"Machine: {device}; torch {torch.__version__}; {len(x)} train / {len(xt)} test images"
           f"{' (smoke run)' if args.smoke else ''}; arch {args.arch} width {args.width}, batch {args.batch}, "
           f"lr {args.lr}, label smoothing {args.label_smoothing}, crop 4 + flip.", "",
           "| run | epochs | seconds | s/epoch | clean acc | PGD-50 acc |", "|---|---|---|---|---|---|"]
    per_epoch = {}
    for epochs in args.epochs:
        model, spec, _, sec = timed_fit(x, y, "standard", epochs, args)
        acc = accuracy(model, spec, xt, yt, robust=False)["clean_acc"]
        per_epoch["standard"] = sec / epochs
        out.append(f"| standard | {epochs} | {sec:.1f} | {sec / epochs:.2f} | {acc:.4f} | – |")
        print(out[-1], flush=True)
    pgd_epochs = args.pgd_epochs or 1
    model, spec, _, sec = timed_fit(x, y, "pgd", pgd_epochs, args)
    per_epoch["pgd"] = sec / pgd_epochs
    if args.pgd_epochs:
        m = accuracy(model, spec, xt, yt, robust=True)
        out.append(f"| PGD-AT | {pgd_epochs} | {sec:.1f} | {sec / pgd_epochs:.2f} | {m['clean_acc']:.4f} | "
                   f"{m['robust_acc']:.4f} |")
    else:
        out.append(f"| PGD-AT (epoch time only) | 1 | {sec:.1f} | {sec:.2f} | – | – |")
    print(out[-1], flush=True)
    # Grid estimate: every cell trains max(--epochs) epochs over N(1 + r) images, 2 schemes x 3 seeds.
    epochs = max(args.epochs)
    hours = sum(per_epoch[t] * epochs * (1 + r) * 2 * 3 for t in ("standard", "pgd") for r in GRID_RATES) / 3600
    out += ["", f"Estimate, not a timed run: the default grid (2 schemes x 5 D-rates x 2 trainers x 3 seeds, "
                f"{epochs} epochs, additive protocol) needs about {hours:.2f} GPU-hours of training at the epoch "
                "times above (evaluation not included).", ""]
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        write_section("cifar_gpu", text)


if __name__ == "__main__":
    main()
