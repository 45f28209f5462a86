"""airbench's recipe on the CPU: one standard run on all of CIFAR-10 (50,000 training and 10,000
test images), its test accuracy with and without test-time augmentation, and its time.

    python benchmarks/airbench_cpu.py                  # resumes from --run-dir when a run is there
    python benchmarks/airbench_cpu.py --train-images 10000 --set train.epochs=1 --no-write --run-dir /tmp/ab

Settings: params.yaml with the CIFAR-10 airbench preset (PRESET, the same keys as README's `-S`
flags) and any --set KEY=VALUE on top, validated like any params file; the recipe's own numbers
are train.airbench's in params.yaml. Training goes through dupstudy.train.fit (trainer standard,
seed 0) with a checkpoint per epoch in --run-dir, outside git, so an interrupted run continues
where it stopped; the trained model is saved there too. Accuracy is dupstudy.evaluate.predict's,
the evaluate stage's clean accuracy, at TTA level 0 and at evaluate.tta.

Data: cifar10-jpg.tar.gz (JPEG re-encodings of CIFAR-10) in the nearest `shared/data` folder
above this file, read in place by the project's folder source.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from results_file import write_section  # benchmarks/ is on sys.path when a script here runs

from dupstudy import models
from dupstudy import params as params_mod
from dupstudy.datasets.folder import load_folder
from dupstudy.evaluate import predict
from dupstudy.train import fit, resolve_budget, to_tensor

ROOT = Path(__file__).resolve().parents[1]
# in place in ../shared/data, or in .gpu/ where a copy is carried to a device machine (ignored by git)
DATA_NAMES = (Path("shared/data/cifar10-jpg.tar.gz"), Path(".gpu/cifar10-jpg.tar.gz"))
# README's CIFAR-10 airbench settings; every other number comes from params.yaml.
PRESET = ("model.arch=airbench", "model.width=64", "train.recipe=airbench", "train.epochs=9.9",
          "train.batch_size=1024", "train.label_smoothing=0.2", "train.augment.crop_padding=2",
          "train.augment.flip=alternating", "evaluate.tta=2")


def default_data() -> Path | None:
    return next((p / n for p in Path(__file__).resolve().parents for n in DATA_NAMES if (p / n).is_file()), None)


def apply_sets(params: dict, sets: list[str]) -> dict:
    """params with each KEY=VALUE (dotted key, YAML value) set, then validated against the schema."""
    out = copy.deepcopy(params)
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=1")
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    params_mod.validate(out, source="params.yaml + preset + --set")
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores available, torch threads {torch.get_num_threads()}, "
            f"torch {torch.__version__}, Python {platform.python_version()}, no GPU used")


def run_key(settings: dict, n_train: int) -> str:
    """Names the checkpoint, so that only a run with the same settings and data resumes it."""
    blob = json.dumps({"settings": settings, "n_train": n_train}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def accuracy(model, x: torch.Tensor, y: torch.Tensor, tta: int) -> float:
    return (predict(model, x, tta) == y).float().mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data(), help="CIFAR-10 as <split>/<class>/<file> (.tar.gz)")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a params key after the preset (repeatable)")
    p.add_argument("--train-images", type=int, default=None, help="a random subset of this many training images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run-dir", type=Path, default=Path("/work/runs/airbench-cpu"))
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args()
    if args.data is None or not args.data.exists():
        raise SystemExit(f"CIFAR-10 data not found ({args.data}); pass --data")

    torch.set_num_threads(args.threads)  # now, so that machine() reports what training will use
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    params = apply_sets(params_mod.load(args.params), [*PRESET, *args.sets])
    data = load_folder(args.data, progress=False)
    tr, te = data.split_ids("train"), data.split_ids("test")
    if args.train_images:
        tr = np.sort(np.random.default_rng(0).permutation(tr)[:args.train_images])
    load_seconds = time.perf_counter() - t_start
    print(f"data: {len(tr)} train / {len(te)} test images in {load_seconds:.1f} s", flush=True)

    settings = resolve_budget({**params["train"], "threads": args.threads}, "epochs", len(tr))
    args.run_dir.mkdir(parents=True, exist_ok=True)
    key = run_key({"train": settings, "model": params["model"]}, len(tr))
    checkpoint, epochs_log = args.run_dir / f"checkpoint-{key}.pt", args.run_dir / f"epochs-{key}.jsonl"
    resumed = checkpoint.exists()
    xt = to_tensor(data.images[te], "cpu")
    yt = torch.from_numpy(data.labels[te].astype(np.int64))
    # Per-epoch rows outlive an interrupted run, as the checkpoint does.
    rows = [json.loads(line) for line in epochs_log.read_text().splitlines()] if resumed and epochs_log.exists() else []

    def report_epoch(row, model):
        model.eval()  # every 5th test image (2,000 of CIFAR-10's, all classes): a progress figure, not the result
        row = {**row, "test_acc": accuracy(model, xt[::5], yt[::5], 0)}
        rows.append(row)
        with epochs_log.open("a" if rows[:-1] else "w") as f:
            f.write(json.dumps(row) + "\n")
        print(f"epoch {row['epoch']}: step {row['step']}, loss {row['loss']:.4f}, train acc {row['train_acc']:.4f}, "
              f"test acc {row['test_acc']:.4f} (every 5th test image, no TTA), "
              f"{row['seconds']:.0f} s of training so far", flush=True)

    print(f"training: {machine()}; checkpoint {checkpoint}{' (resuming)' if resumed else ''}", flush=True)
    model, spec, curve = fit(data.images[tr], data.labels[tr], classes=len(data.classes), trainer="standard", seed=0,
                             model_settings=params["model"], settings=settings, attack=params["attack"],
                             checkpoint=checkpoint, progress=True, on_epoch=report_epoch)
    models.save(args.run_dir / "model.pt", model, spec)
    t_eval = time.perf_counter()
    acc_plain = accuracy(model, xt, yt, 0)
    tta = params["evaluate"]["tta"]
    acc_tta = accuracy(model, xt, yt, tta)
    eval_seconds = time.perf_counter() - t_eval
    wall = time.perf_counter() - t_start
    last = curve[-1]
    img_per_s = last["step"] * settings["batch_size"] / last["seconds"]

    epoch_rows = [f"| {r['epoch']} | {r['step']} | {r['loss']:.4f} | {r['train_acc']:.4f} | {r['test_acc']:.4f} | "
                  f"{r['seconds']:.0f} |" for r in rows]
    out = [f"## airbench recipe on the CPU, all of CIFAR-10 ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
           "Command: `python benchmarks/airbench_cpu.py`" + "".join(f" `--set {s}`" for s in args.sets)
           + (f" `--train-images {args.train_images}`" if args.train_images else ""), "",
           f"Machine: {machine()}; load average {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the "
           "end (other jobs may have shared the cores).", "",
           f"Settings: params.yaml with `{' '.join('-S ' + s for s in PRESET)}`; recipe numbers "
           f"`train.airbench` = `{json.dumps(params['train']['airbench'])}`. Trainer standard, seed 0, "
           f"{len(tr)} training and {len(te)} test images (JPEG re-encodings of CIFAR-10), fp32.", "",
           "| epochs | steps | batch | training s | img/s | test acc, no TTA | test acc, TTA level "
           f"{tta} | evaluation s | wall s (this invocation) |", "|---|---|---|---|---|---|---|---|---|",
           f"| {settings['epochs']} ({last['epoch']} passes, the last partial) | {last['step']} | "
           f"{settings['batch_size']} | {last['seconds']:.0f} | {img_per_s:.0f} | {acc_plain:.4f} | {acc_tta:.4f} | "
           f"{eval_seconds:.0f} | {wall:.0f}{' (resumed)' if resumed else ''} |", "",
           "Training s is the sum of the epochs' wall times kept in the checkpointed curve (so it spans a resume); "
           "img/s = steps x batch / training s. airbench94's published figure: 94.01 % mean test accuracy with "
           "TTA in 9.9 epochs (fp16 on an A100).", ""]
    if epoch_rows:
        out += ["Per epoch (test accuracy of the weights at the end of the epoch on every 5th test image, no TTA):", "",
                "| epoch | step | train loss | train acc | test acc | training s so far |", "|---|---|---|---|---|---|",
                *epoch_rows, ""]
    text = "\n".join(out)
    print(text, flush=True)
    if not args.no_write:
        write_section("airbench_cpu", text)


if __name__ == "__main__":
    main()
