"""Our airbench recipe against the reference, the `airbench` package's train94, on the same CIFAR-10
images, on a GPU: mean TTA test accuracy over a few runs each.

Skipped without CUDA (train94 runs only on CUDA, in fp16), without the optional extra
(`pip install 'dupstudy[airbench]'`), or without the CIFAR-10 archive (shared/data/cifar10-jpg.tar.gz
in a folder above the project). Nothing else in the project imports airbench."""

import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("needs CUDA: the airbench package's train94 runs only on a GPU, in fp16", allow_module_level=True)
airbench = pytest.importorskip("airbench", reason="needs the optional extra: pip install 'dupstudy[airbench]'")

from dupstudy.datasets.folder import load_folder  # noqa: E402
from dupstudy.evaluate import predict  # noqa: E402
from dupstudy.params import load  # noqa: E402
from dupstudy.train import fit, resolve_budget, to_tensor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from airbench_cpu import PRESET, apply_sets, default_data  # noqa: E402

RUNS = 3


@pytest.fixture(scope="module")
def cifar10():
    path = default_data()
    if path is None:
        pytest.skip("CIFAR-10 archive shared/data/cifar10-jpg.tar.gz not found above the project")
    data = load_folder(path, progress=False)
    return data, data.split_ids("train"), data.split_ids("test")


def _write_airbench_data(root: Path, data, train_ids, test_ids) -> None:
    """airbench's CifarLoader reads <dir>/train.pt and test.pt: uint8 NHWC images, labels, classes."""
    root.mkdir()
    for split, ids in (("train", train_ids), ("test", test_ids)):
        torch.save({"images": torch.from_numpy(data.images[ids]), "labels": torch.from_numpy(data.labels[ids]),
                    "classes": list(data.classes)}, root / f"{split}.pt")


def test_recipe_matches_train94(cifar10, tmp_path, monkeypatch):
    data, train_ids, test_ids = cifar10
    monkeypatch.chdir(tmp_path)  # train94 opens its test set at ./cifar10
    _write_airbench_data(tmp_path / "cifar10", data, train_ids, test_ids)
    loader = airbench.CifarLoader("cifar10", train=True, batch_size=1024, aug={"flip": True, "translate": 2},
                                  altflip=True)
    test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
    theirs = [airbench.evaluate(airbench.train94(loader, run=i, verbose=False), test_loader, tta_level=2)
              for i in range(RUNS)]

    params = apply_sets(load(ROOT / "params.yaml"), list(PRESET))
    settings = resolve_budget(params["train"], "epochs", len(train_ids))
    xt = to_tensor(data.images[test_ids], "cuda")
    yt = torch.from_numpy(data.labels[test_ids]).cuda()
    ours = []
    for seed in range(RUNS):
        model, _, _ = fit(data.images[train_ids], data.labels[train_ids], classes=len(data.classes), trainer="standard",
                          seed=seed, model_settings=params["model"], settings=settings, attack=params["attack"],
                          progress=False)
        ours.append((predict(model, xt, params["evaluate"]["tta"]) == yt).float().mean().item())
    mean_ours, mean_theirs = sum(ours) / RUNS, sum(theirs) / RUNS
    print(f"TTA test accuracy over {RUNS} runs: ours {ours} (mean {mean_ours:.4f}), train94 {theirs} "
          f"(mean {mean_theirs:.4f})")
    assert mean_ours >= mean_theirs - 0.005
    assert mean_ours >= 0.935
