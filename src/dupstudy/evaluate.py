"""Clean and adversarial accuracy of one model, overall, per class and without leaked
test images. The model is evaluated in eval mode and fp32 with a stronger attack than
it was trained with (more steps, restarts)."""

from __future__ import annotations

import numpy as np
import torch

from . import attacks, device as devices, models
from .train import to_tensor


def evaluate(model_path, images: np.ndarray, labels: np.ndarray, *, classes: list[str], attack: dict,
             leaked: np.ndarray | None = None, threads: int | None = None, seed: int = 0) -> dict:
    """`leaked` is a boolean mask over the test images that have a duplicate in train. `seed` fixes
    the attack's random starts, so evaluating one model twice gives the same numbers."""
    dev = devices.pick(threads)
    torch.manual_seed(seed)
    model, _ = models.load(model_path, dev)
    model = model.float().eval()
    x, y = to_tensor(images, dev), torch.from_numpy(labels.astype(np.int64)).to(dev)
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
    clean = (pred == y).cpu().numpy()
    robust = attacks.robust_correct(model, x, y, eps=attack["eps"], step=attack["eval_step"],
                                    steps=attack["eval_steps"], restarts=attack.get("eval_restarts", 1)).cpu().numpy()
    leaked = np.zeros(len(y), bool) if leaked is None else leaked.astype(bool)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred.cpu().numpy()), 1)
    per_class = [{"class": classes[c], "clean_acc": _mean(clean[labels == c]), "robust_acc": _mean(robust[labels == c]),
                  "n": int((labels == c).sum())} for c in range(k)]
    return {
        "n_test": int(len(y)),
        "clean_acc": _mean(clean),
        "robust_acc": _mean(robust),
        "n_leaked": int(leaked.sum()),
        "clean_acc_no_leak": _mean(clean[~leaked]),
        "robust_acc_no_leak": _mean(robust[~leaked]),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "attack": {"name": "pgd_linf", "eps": attack["eps"], "step": attack["eval_step"],
                   "steps": attack["eval_steps"], "restarts": attack.get("eval_restarts", 1)},
    }


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if len(a) else float("nan")
