"""A control for benchmarks/airbench_cpu.py: the `airbench` package's own train94 (the reference
recipe, Keller Jordan, MIT) on the same CIFAR-10 images, on the CPU in fp32.

    pip install 'dupstudy[airbench]'
    python benchmarks/airbench_reference_cpu.py                    # all 50,000 training images
    python benchmarks/airbench_reference_cpu.py --train-images 10000 --no-write

train94 is written for CUDA in fp16. A diagnostic, not a path of the project: this script replaces
its CUDA and fp16 calls with CPU and fp32 ones (Tensor.half, Module.half, Module.cuda, CUDA
events and synchronisation, CifarLoader's device), so the package's own loader, network, optimiser,
schedule, lookahead and TTA run unchanged otherwise. Whatever separates its accuracy from
airbench_cpu.py's on the same images is then our recipe, and whatever separates it from the
published 94.01 % is the data (JPEG re-encodings here) or the run-to-run spread.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from airbench_cpu import default_data, machine  # benchmarks/ is on sys.path when a script here runs
from results_file import write_section
from torch import nn

from dupstudy.datasets.folder import load_folder


def run_airbench_on_cpu() -> None:
    """Patch the CUDA/fp16 calls of the airbench package to CPU/fp32 (for this process only)."""
    torch.Tensor.half = lambda self, *args, **kwargs: self.float()
    nn.Module.half = lambda self: self
    nn.Module.cuda = lambda self, *args, **kwargs: self

    class NoEvent:  # train94 times itself with CUDA events
        def __init__(self, **kwargs):
            pass

        def record(self):
            pass

        def elapsed_time(self, other):
            return 0.0

    torch.cuda.Event = NoEvent
    torch.cuda.synchronize = lambda *args, **kwargs: None
    from airbench import utils

    loader_init = utils.CifarLoader.__init__

    def cpu_loader_init(self, *args, **kwargs):
        loader_init(self, *args, **{**kwargs, "gpu": "cpu"})

    utils.CifarLoader.__init__ = cpu_loader_init


def write_loader_files(root: Path, data, train_ids, test_ids) -> None:
    """CifarLoader reads <root>/train.pt and test.pt: uint8 NHWC images, labels, classes."""
    root.mkdir(parents=True, exist_ok=True)
    for split, ids in (("train", train_ids), ("test", test_ids)):
        torch.save({"images": torch.from_numpy(data.images[ids]), "labels": torch.from_numpy(data.labels[ids]),
                    "classes": list(data.classes)}, root / f"{split}.pt")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data(), help="CIFAR-10 as <split>/<class>/<file> (.tar.gz)")
    p.add_argument("--train-images", type=int, default=None,
                   help="the same random subset as airbench_cpu.py --train-images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="torch's global seed (train94 draws from it)")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args()
    if args.data is None or not args.data.exists():
        raise SystemExit(f"CIFAR-10 data not found ({args.data}); pass --data")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run_airbench_on_cpu()
    import airbench

    data = load_folder(args.data, progress=False)
    tr, te = data.split_ids("train"), data.split_ids("test")
    if args.train_images:
        tr = np.sort(np.random.default_rng(0).permutation(tr)[:args.train_images])
    # train94 whitens on the loader's first 5,000 images: shuffle, as the folder source sorts by class
    tr = np.random.default_rng(1).permutation(tr)
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # train94 opens its test set at ./cifar10
        write_loader_files(Path("cifar10"), data, tr, te)
        train_loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024, aug={"flip": True, "translate": 2},
                                            altflip=True)
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
        print(f"train94 on {len(tr)} train / {len(te)} test images; {machine()}", flush=True)
        t0 = time.perf_counter()
        model = airbench.train94(train_loader, verbose=False)
        train_seconds = time.perf_counter() - t0
        acc_plain, acc_tta = (airbench.evaluate(model, test_loader, tta_level=level) for level in (0, 2))
        steps = int(np.ceil(len(train_loader) * airbench.lib_airbench94.hyp["opt"]["train_epochs"]))
        os.chdir(home)
    out = [f"### Control: the airbench package's train94 on the same images, CPU fp32 "
           f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "",
           "Command: `python benchmarks/airbench_reference_cpu.py`"
           + (f" `--train-images {args.train_images}`" if args.train_images else "")
           + f" (airbench {importlib.metadata.version('airbench')} from PyPI, its CUDA/fp16 calls replaced by "
           f"CPU/fp32 ones; seed {args.seed})", "",
           f"Machine: {machine()}.", "",
           "| images | steps | training s | img/s | test acc, no TTA | test acc, TTA level 2 |",
           "|---|---|---|---|---|---|",
           f"| {len(tr)} | {steps} | {train_seconds:.0f} | {steps * 1024 / train_seconds:.0f} | {acc_plain:.4f} | "
           f"{acc_tta:.4f} |", ""]
    text = "\n".join(out)
    print(text, flush=True)
    if not args.no_write:
        write_section("airbench_cpu", text, block=f"reference-{len(tr)}")


if __name__ == "__main__":
    main()
