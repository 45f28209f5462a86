"""Attacks at full strength: PGD is scored at its worst iterate, and AutoAttack runs its standard
version's settings (100 iterations, FAB-T, Square at 5,000 queries), not torchattacks' 10."""

import math

import pytest
import torch

from dupstudy import attacks


class Wavy(torch.nn.Module):
    """A one-pixel model whose class-0 logit is cos(a x + b): signed-gradient steps can step past the
    region where it is wrong and land where it is right again."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        c = torch.cos(self.a * x.flatten(1).sum(1) + self.b)
        return torch.stack([c, -c], dim=1)


def test_pgd_counts_an_example_broken_at_any_iterate():
    # x = 0.5 sits at phase pi/4 (correct); one step of 0.09 moves it to 1.15 pi (wrong), from where
    # the gradient sends it back to pi/4 (correct again). The last iterate alone would call it robust.
    a = 10 * math.pi
    model = Wavy(a, math.pi / 4 - a * 0.5)
    x, y = torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, dtype=torch.long)
    last = attacks.pgd(model, x, y, eps=0.2, step=0.09, steps=2, random_start=False)
    assert model(last).argmax(1).item() == 0  # the last iterate is classified correctly
    assert not attacks.pgd_survives(model, x, y, eps=0.2, step=0.09, steps=2, random_start=False).item()


def test_pgd_survives_agrees_with_the_last_iterate_when_loss_only_rises():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, y = torch.rand(64, 3, 2, 2), torch.randint(0, 3, (64,))
    # a linear model: each signed step raises the loss, so the last iterate is the worst one
    ok = attacks.pgd_survives(model, x, y, eps=0.05, step=0.01, steps=5, random_start=False)
    last = attacks.pgd(model, x, y, eps=0.05, step=0.01, steps=5, random_start=False)
    with torch.no_grad():
        assert torch.equal(ok, model(last).argmax(1) == y)


def test_autoattack_runs_the_standard_version():
    ta = pytest.importorskip("torchattacks", reason="the autoattack extra: pip install 'dupstudy[autoattack]'")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 10))
    multi = attacks.standard_autoattack(model, eps=8 / 255, n_classes=10, seed=0)
    apgd, apgdt, fab, square = multi.attacks
    assert isinstance(apgd, ta.APGD) and apgd.steps == 100 and apgd.loss == "ce" and apgd.n_restarts == 1
    assert isinstance(apgdt, ta.APGDT) and apgdt.steps == 100 and apgdt.n_target_classes == 9
    assert isinstance(fab, ta.FAB) and fab.steps == 100 and fab.multi_targeted and fab.n_target_classes == 9
    assert isinstance(square, ta.Square) and square.n_queries == 5000
    assert all(a.eps == pytest.approx(8 / 255) for a in multi.attacks)
    assert attacks.AUTOATTACK_STANDARD["apgd_ce"]["steps"] == apgd.steps  # what the report states is what ran
