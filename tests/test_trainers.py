"""FGSM-RS and TRADES training on real digits, on the CPU, in seconds: their examples stay in the
eps ball and [0, 1], they learn, they repeat byte for byte, they resume, and they are robust."""

import copy
import subprocess
import sys

import pytest
import torch

import dupstudy.train as tr
from dupstudy import attacks
from dupstudy.params import load, section_defaults, validate
from dupstudy.train import TRAINERS, fit, to_tensor

EPS = 0.15
SETTINGS = {"budget": "epochs", "epochs": 5, "steps": 10, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
            "weight_decay": 5e-4, "label_smoothing": 0.0, "augment": {"crop_padding": 0, "flip": False}, "threads": 1}
SETTINGS = section_defaults("train", SETTINGS)  # the keys left out take the schema's defaults
ATTACK = {"eps": EPS, "train_step": 0.06, "train_steps": 3, "fgsm_step": 1.25 * EPS, "trades_beta": 6.0,
          "fgsm_guard": {"enabled": True, "batch": 128, "steps": 3, "step": 0.06, "drop": 0.2}}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults
MODEL = {"arch": "small_cnn", "width": 8}
MODEL = section_defaults("model", MODEL)  # the keys left out take the schema's defaults
ROBUST = ["fgsm_rs", "trades"]


@pytest.fixture(scope="module")
def trained(digits):
    """One model per trainer, same data, seed and budget."""
    x, y, _, _ = digits
    return {t: fit(x, y, classes=10, trainer=t, seed=0, model_settings=MODEL, settings=SETTINGS, attack=ATTACK,
                   progress=False) for t in ["standard", *ROBUST]}


@pytest.mark.slow
def test_trainers_are_offered_everywhere(project_root, tmp_path):
    assert set(ROBUST) <= set(TRAINERS)
    params = load(project_root / "params.yaml")
    params["grid"]["trainers"] = list(TRAINERS)
    validate(params)
    out = subprocess.run([sys.executable, str(project_root / "workflow/scripts/train.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert all(t in out for t in TRAINERS)


def test_missing_attack_key_is_named(digits):
    x, y, _, _ = digits
    with pytest.raises(ValueError, match=r"attack\.fgsm_step"):
        fit(x[:64], y[:64], classes=10, trainer="fgsm_rs", seed=0, model_settings=MODEL, settings=SETTINGS,
            attack={"eps": EPS}, progress=False)


@pytest.mark.slow
def test_examples_stay_in_ball_and_box(trained, digits):
    _, _, xt, yt = digits
    model = copy.deepcopy(trained["standard"][0])  # train mode below moves BatchNorm statistics
    x, y = to_tensor(xt[:128], "cpu"), torch.from_numpy(yt[:128])
    eps = 0.05
    torch.manual_seed(0)
    model.train()  # as during training
    fgsm = attacks.fgsm_rs(model, x, y, eps=eps, step=2 * eps)  # a step past the ball: clipped back
    bn = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    trades = attacks.trades_adversary(model, x, eps=eps, step=2 * eps, steps=3)
    assert model.training  # mode restored
    # TRADES' examples are made in eval mode: BatchNorm statistics untouched
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in bn.items())
    model.eval()
    for adv in (fgsm, trades):
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - x).abs().max() > eps / 2  # it did move
    # The TRADES attack raises the KL it maximises above that of its random start.
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
        start = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
        kl = [torch.nn.functional.kl_div(torch.log_softmax(model(a), 1), p, reduction="batchmean").item()
              for a in (start, trades)]
    assert kl[1] > 10 * kl[0]


@pytest.mark.parametrize("trainer", ROBUST)
def test_trainer_learns(trained, trainer):
    _, _, curve = trained[trainer]
    assert len(curve) == 5 and curve[-1]["step"] == 5 * 16
    assert curve[-1]["loss"] < 0.6 * curve[0]["loss"]
    assert curve[-1]["train_acc"] > 0.6


@pytest.mark.parametrize("trainer", ROBUST)
def test_same_seed_same_weights(digits, trainer):
    x, y, _, _ = digits
    runs = [fit(x[:200], y[:200], classes=10, trainer=trainer, seed=3, model_settings=MODEL,
                settings={**SETTINGS, "epochs": 1}, attack=ATTACK, progress=False)[0] for _ in range(2)]
    for a, b in zip(runs[0].state_dict().values(), runs[1].state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("trainer", ROBUST)
def test_resume_matches_uninterrupted_run(digits, tmp_path, monkeypatch, trainer):
    x, y, _, _ = digits
    x, y = x[:256], y[:256]
    settings = {**SETTINGS, "epochs": 3}
    run = dict(classes=10, trainer=trainer, seed=1, model_settings=MODEL, settings=settings, attack=ATTACK,
               progress=False)
    full, _, full_curve = fit(x, y, **run)

    # Interrupt after the second epoch's checkpoint, as a kill would, then rerun with the checkpoint.
    ckpt = tmp_path / "ckpt.pt"
    original, calls = tr._save_checkpoint, {"n": 0}

    def save_then_die(*args):
        original(*args)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(tr, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(x, y, checkpoint=ckpt, **run)
    monkeypatch.setattr(tr, "_save_checkpoint", original)
    assert torch.load(ckpt, weights_only=True)["state"]["epoch"] == 2
    torch.manual_seed(12345)  # resuming must not depend on the global RNG at start
    resumed, _, curve = fit(x, y, checkpoint=ckpt, **run)
    assert [c["loss"] for c in curve] == [c["loss"] for c in full_curve]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("trainer", ROBUST)
def test_robust_trainer_beats_standard_under_pgd(trained, digits, trainer):
    """Same data, seed and optimizer steps: under PGD-20 at the training eps, the standard model
    keeps ~10 % and the FGSM-RS / TRADES models ~50 %; clean accuracy stays high for both."""
    _, _, xt, yt = digits
    x, y = to_tensor(xt, "cpu"), torch.from_numpy(yt)
    acc = {}
    for t in ("standard", trainer):
        model = trained[t][0].eval()
        torch.manual_seed(0)
        clean = (model(x).argmax(1) == y).float().mean().item()
        robust = attacks.robust_correct(model, x, y, eps=EPS, step=EPS / 5, steps=20).float().mean().item()
        acc[t] = clean, robust
    assert acc[trainer][0] > 0.8 and acc["standard"][0] > 0.9
    assert acc[trainer][1] > acc["standard"][1] + 0.2, acc


def test_fgsm_rs_guard_restores_the_best_epoch_and_stops(digits, monkeypatch):
    # the guard's PGD check reports a collapse in epoch 3: training stops there with epoch 2's weights
    x, y, _, _ = digits
    x, y = x[:256], y[:256]
    checks, snapshots = iter([0.40, 0.55, 0.10, 0.60]), []
    real_check = tr.CatastrophicOverfittingGuard.check

    def scripted(self, model, row):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        self.accuracy = lambda model: next(checks)
        return real_check(self, model, row)

    monkeypatch.setattr(tr.CatastrophicOverfittingGuard, "check", scripted)
    model, _, curve = fit(x, y, classes=10, trainer="fgsm_rs", seed=0, model_settings=MODEL,
                          settings={**SETTINGS, "epochs": 4}, attack=ATTACK, progress=False)
    assert [c["guard_pgd_acc"] for c in curve] == [0.40, 0.55, 0.10]
    assert curve[-1].get("guard_stopped") and len(curve) == 3
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][name]), name  # the best (second) epoch's weights


def test_fgsm_rs_guard_off_trains_every_epoch(digits):
    x, y, _, _ = digits
    attack = {**ATTACK, "fgsm_guard": {**ATTACK["fgsm_guard"], "enabled": False}}
    _, _, curve = fit(x[:256], y[:256], classes=10, trainer="fgsm_rs", seed=0, model_settings=MODEL,
                      settings={**SETTINGS, "epochs": 2}, attack=attack, progress=False)
    assert len(curve) == 2 and "guard_pgd_acc" not in curve[-1]
