"""Training recipes: the optimiser, learning-rate schedule and weight averaging that train.fit uses.

* ``onecycle``: Nesterov SGD at train.lr, linear warm-up over the first 20 % of steps, then linear
  decay to zero (the project's generic recipe).
* ``airbench``: airbench94's recipe (Keller Jordan, arXiv:2404.00498; reference: the MIT-licensed
  `airbench` package, ``train94``), with every number in ``train.airbench``:
  Nesterov SGD whose lr and weight decay are given per 1024 examples and divided by
  1024 * (1 + 1 / (1 - momentum)), BatchNorm biases at bias_lr_scale times the lr, a triangular
  schedule, lookahead on the weights, and the whitening layer's bias trained only for its first
  epochs. train.fit adds the rest: full batches only, alternating flips (train.augment.flip).

airbench sums the loss over a batch; train.fit averages it, so the per-batch rate here is the
reference's times the batch size (the same update for full batches).
"""

from __future__ import annotations

import torch
from torch import nn

RECIPES = ("onecycle", "airbench")


def build(model: nn.Module, settings: dict, steps: int):
    """(optimizer, scheduler) of the recipe named by settings['recipe'] (default onecycle)."""
    recipe = settings["recipe"]
    if recipe == "onecycle":
        return _onecycle(model, settings, steps)
    if recipe == "airbench":
        return _airbench(model, settings["airbench"], settings["batch_size"], steps)
    raise ValueError(f"unknown train.recipe {recipe!r}; allowed: {', '.join(RECIPES)}")


def _onecycle(model, settings, steps):
    opt = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"],
                          nesterov=True, weight_decay=settings["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings["lr"], total_steps=steps, pct_start=0.2,
                                                anneal_strategy="linear", cycle_momentum=False)
    return opt, sched


def _airbench(model, hyp, batch_size, steps):
    # With Nesterov momentum m a constant gradient moves the weights (1 + 1/(1-m)) times further per
    # step than plain SGD; dividing by that makes lr and momentum independent knobs.
    kilostep_scale = 1024 * (1 + 1 / (1 - hyp["momentum"]))
    lr = hyp["lr"] * batch_size / kilostep_scale
    decay_per_step = hyp["weight_decay"] * batch_size / kilostep_scale  # not scaled up for the biases
    bn_biases, others = split_bn_biases(model)
    bias_lr = lr * hyp["bias_lr_scale"]
    # SGD multiplies weight_decay by the group's lr, so dividing by it keeps one decay for all groups.
    groups = [dict(params=bn_biases, lr=bias_lr, weight_decay=decay_per_step / bias_lr),
              dict(params=others, lr=lr, weight_decay=decay_per_step / lr)]
    opt = torch.optim.SGD(groups, momentum=hyp["momentum"], nesterov=True)
    s = hyp["schedule"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: triangle(step, steps, s["start"], s["peak"], s["end"]))
    return opt, sched


def split_bn_biases(model: nn.Module) -> tuple[list, list]:
    """(BatchNorm biases, every other parameter that trains at some point). The second list also
    holds a whitening bias (models.warmup_params), which trains only for its first epochs."""
    bn_biases = [m.bias for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and m.bias is not None and m.bias.requires_grad]
    bn_ids, warmup_ids = {id(p) for p in bn_biases}, {id(p) for p in warmup_params(model)}
    others = [p for p in model.parameters() if (p.requires_grad or id(p) in warmup_ids) and id(p) not in bn_ids]
    return bn_biases, others


def warmup_params(model: nn.Module) -> list:
    """Parameters trained only for the first train.airbench.whiten_bias_epochs: airbench's whitening bias."""
    whiten = getattr(model, "whiten", None)
    return [whiten.bias] if whiten is not None and whiten.bias is not None else []


def set_warmup_trainable(model: nn.Module, epoch: int, warmup_epochs: int) -> None:
    """Train the warm-up parameters in epochs 0 .. warmup_epochs-1 and freeze them after. A frozen
    parameter gets no gradient, so SGD leaves it alone (no momentum, no weight decay)."""
    for p in warmup_params(model):
        p.requires_grad_(epoch < warmup_epochs)


def triangle(step: int, total: int, start: float, peak: float, end: float) -> float:
    """lr multiplier: linear from `start` at step 0 to 1 at step int(peak * total), then linear to
    `end` at step `total`."""
    top = int(peak * total)
    if step < top:
        return start + (1 - start) * step / top
    return 1 + (end - 1) * (step - top) / max(total - top, 1)


class Lookahead:
    """airbench's lookahead: every `every` steps a slow copy of the model's floating-point state
    (weights and BatchNorm statistics) moves toward the fast one, slow <- decay * slow + (1 - decay)
    * fast, and the fast state restarts from the slow one. decay = decay_base**every *
    (step / total)**decay_pow, so the copy follows closely early and averages strongly late.
    ``finish`` hands the model the slow state after the last step."""

    def __init__(self, model: nn.Module, *, every: int, decay_base: float, decay_pow: float, total: int):
        self.every, self.decay_base, self.decay_pow, self.total = every, decay_base, decay_pow, total
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def decay(self, step: int) -> float:
        return self.decay_base ** self.every * (step / self.total) ** self.decay_pow

    def after_step(self, model: nn.Module, step: int) -> None:
        """Call with the count of steps taken so far (1 after the first)."""
        if step % self.every == 0:
            self._pull(model, self.decay(step))

    def finish(self, model: nn.Module) -> None:
        self._pull(model, 1.0)

    @torch.no_grad()
    def _pull(self, model: nn.Module, decay: float) -> None:
        for name, fast in model.state_dict().items():
            if name in self.slow:
                self.slow[name].lerp_(fast, 1 - decay)
                fast.copy_(self.slow[name])

    def state_dict(self) -> dict:
        return dict(self.slow)

    def load_state_dict(self, slow: dict) -> None:
        for name, value in slow.items():
            self.slow[name].copy_(value)


def lookahead(model: nn.Module, settings: dict, steps: int) -> Lookahead | None:
    """The recipe's lookahead, or None for recipes without one."""
    if settings["recipe"] != "airbench":
        return None
    la = settings["airbench"]["lookahead"]
    return Lookahead(model, every=la["every"], decay_base=la["decay_base"], decay_pow=la["decay_pow"], total=steps)
