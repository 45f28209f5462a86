"""L-infinity attacks in [0, 1] pixel space, small and checkable: PGD (Madry et al.), FGSM with
a random start (Wong et al.), TRADES' KL-maximising PGD (Zhang et al.), and AutoAttack through
the optional torchattacks package. Every example stays within the eps ball around x and in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pgd(model, x, y, *, eps: float, step: float, steps: int, random_start: bool = True) -> torch.Tensor:
    """Adversarial examples within the eps ball around x and inside [0, 1]."""
    delta = torch.empty_like(x).uniform_(-eps, eps) if random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x).detach()
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta + step * grad.sign()).clamp(-eps, eps)
        delta = ((x + delta).clamp(0, 1) - x).detach()
    return (x + delta).detach()


def _project(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """The nearest point of the eps ball around x that lies in [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)


def fgsm_rs(model, x, y, *, eps: float, step: float) -> torch.Tensor:
    """FGSM with a random start ("Fast is better than free", Wong, Rice & Kolter 2020): a uniform
    start in the eps ball, one signed-gradient step of size `step` (1.25 eps in the paper), then
    back into the ball and [0, 1]. Runs the model in whatever mode it is in (train mode in
    train.fit, as in the reference code). That is PGD with one step from its random start."""
    return pgd(model, x, y, eps=eps, step=step, steps=1, random_start=True)


def trades_adversary(model, x, *, eps: float, step: float, steps: int) -> torch.Tensor:
    """TRADES' inner maximisation (Zhang et al. 2019): PGD on KL(f(x) || f(x_adv)) from
    x + 0.001 N(0, 1). As in the reference code the model runs in eval mode here (BatchNorm uses
    its running statistics and the attack's forward passes do not update them); its mode is
    restored on return."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p_clean = F.softmax(model(x), dim=1)
        x_adv = _project(x, x + 0.001 * torch.randn_like(x), eps).detach()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_clean, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = _project(x, x_adv.detach() + step * grad.sign(), eps).detach()
    finally:
        model.train(was_training)
    return x_adv


def trades_kl(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """KL(f(x) || f(x_adv)) averaged over the batch, the TRADES regulariser (gradients flow
    through both, as in the reference code)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1), reduction="batchmean")


@torch.no_grad()
def _correct(model, x, y):
    return model(x).argmax(1) == y


def pgd_survives(model, x, y, *, eps: float, step: float, steps: int, random_start: bool = True) -> torch.Tensor:
    """Per example: classified correctly at every PGD iterate, the start and the last included.

    PGD's loss does not fall monotonically, so an example that some iterate fools counts as broken
    even when the last iterate is classified correctly (the worst case over iterations). Each
    iterate's logits come from the forward pass its gradient needs, so this costs one extra pass."""
    delta = torch.empty_like(x).uniform_(-eps, eps) if random_start else torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x).detach()
    ok = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        delta.requires_grad_(True)
        logits = model(x + delta)
        ok &= logits.detach().argmax(1) == y
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), delta)
        delta = (delta + step * grad.sign()).clamp(-eps, eps)
        delta = ((x + delta).clamp(0, 1) - x).detach()
    return ok & _correct(model, x + delta, y)


def robust_correct(model, x, y, *, eps, step, steps, restarts=1, batch_size=512) -> torch.Tensor:
    """Per-example robustness: correct on the clean input and at every iterate of every restart."""
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        ok = _correct(model, xb, yb)
        for _ in range(restarts):
            idx = ok.nonzero().squeeze(1)  # only what is still unbroken needs another restart
            if not len(idx):
                break
            ok[idx] = pgd_survives(model, xb[idx], yb[idx], eps=eps, step=step, steps=steps, random_start=True)
        out.append(ok)
    return torch.cat(out)


AUTOATTACK_MISSING = ("attack.autoattack is true but torchattacks is not installed; install it with "
                      "`pip install 'dupstudy[autoattack]'` (or `pip install 'torchattacks>=3.5'`), "
                      "or set attack.autoattack: false in params.yaml")


def require_torchattacks():
    """The torchattacks module, or a RuntimeError that names the param and the install command."""
    try:
        import torchattacks
    except ImportError:
        raise RuntimeError(AUTOATTACK_MISSING) from None
    return torchattacks


# The standard version of AutoAttack as published (Croce & Hein 2020, fra31/auto-attack): APGD-CE and
# APGD-T (9 target classes) at 100 iterations, FAB-T (9 targets, 100 iterations) and Square (5,000
# queries), one restart each. torchattacks' own AutoAttack runs its attacks at 10 iterations, which
# overestimates robust accuracy, so the ensemble is assembled here with these settings.
AUTOATTACK_STANDARD = {"version": "standard", "apgd_ce": {"steps": 100, "restarts": 1},
                       "apgd_t": {"steps": 100, "restarts": 1, "target_classes": "n_classes - 1"},
                       "fab_t": {"steps": 100, "restarts": 1, "target_classes": "n_classes - 1"},
                       "square": {"queries": 5000, "restarts": 1}}


def standard_autoattack(model, *, eps: float, n_classes: int, seed: int = 0):
    """torchattacks' attacks chained as AutoAttack's standard version (AUTOATTACK_STANDARD)."""
    ta = require_torchattacks()
    cfg = AUTOATTACK_STANDARD
    return ta.MultiAttack([
        ta.APGD(model, norm="Linf", eps=eps, steps=cfg["apgd_ce"]["steps"], n_restarts=cfg["apgd_ce"]["restarts"],
                loss="ce", seed=seed),
        ta.APGDT(model, norm="Linf", eps=eps, steps=cfg["apgd_t"]["steps"], n_restarts=cfg["apgd_t"]["restarts"],
                 n_classes=n_classes, seed=seed),
        ta.FAB(model, norm="Linf", eps=eps, steps=cfg["fab_t"]["steps"], n_restarts=cfg["fab_t"]["restarts"],
               multi_targeted=True, n_classes=n_classes, seed=seed),
        ta.Square(model, norm="Linf", eps=eps, n_queries=cfg["square"]["queries"],
                  n_restarts=cfg["square"]["restarts"], seed=seed),
    ])


def autoattack_correct(model, x, y, *, eps: float, n_classes: int, seed: int = 0,
                       batch_size: int = 500) -> torch.Tensor:
    """Per-example robustness under AutoAttack's standard version (Croce & Hein 2020; APGD-CE, APGD-T,
    FAB-T and Square, settings in AUTOATTACK_STANDARD) through torchattacks. The model takes images in
    [0, 1] and returns logits (normalisation is inside it), which is what torchattacks expects; it is
    attacked in eval mode and fp32, with `seed` fixing the attacks' random starts. Its examples are
    projected onto the eps ball and [0, 1] before they are scored, so no out-of-budget example counts."""
    was_training = model.training
    model.eval()
    try:
        attack = standard_autoattack(model, eps=eps, n_classes=n_classes, seed=seed)
        out = []
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].float(), y[i:i + batch_size]
            ok = _correct(model, xb, yb)
            idx = ok.nonzero().squeeze(1)  # only what the model gets right can be broken
            if len(idx):
                adv = _project(xb[idx], attack(xb[idx], yb[idx]).to(xb.dtype), eps)
                ok[idx] = _correct(model, adv, yb[idx])
            out.append(ok)
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=x.device)
