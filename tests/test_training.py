"""Training, resume and attacks on real digits, on the CPU, in seconds."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from dupstudy import attacks, models
from dupstudy.evaluate import evaluate
from dupstudy.params import section_defaults
from dupstudy.train import fit, to_tensor

SETTINGS = {"budget": "epochs", "epochs": 3, "steps": 10, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
            "weight_decay": 5e-4, "label_smoothing": 0.0, "augment": {"crop_padding": 1, "flip": False}, "threads": 1}
SETTINGS = section_defaults("train", SETTINGS)  # the keys left out take the schema's defaults
ATTACK = {"eps": 0.1, "train_step": 0.05, "train_steps": 2, "eval_step": 0.02, "eval_steps": 10, "eval_restarts": 1}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults
MODEL = {"arch": "small_cnn", "width": 8}
MODEL = section_defaults("model", MODEL)  # the keys left out take the schema's defaults


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return x[:600], d.target[:600], x[1400:], d.target[1400:]


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    x, y, _, _ = digits
    model, spec, curve = fit(x, y, classes=10, trainer="standard", seed=0, model_settings=MODEL, settings=SETTINGS,
                             attack=ATTACK, progress=False)
    path = tmp_path_factory.mktemp("m") / "model.pt"
    models.save(path, model, spec)
    return path, curve


def test_standard_training_learns(trained, digits):
    path, curve = trained
    _, _, xt, yt = digits
    assert len(curve) == 3 and curve[-1]["step"] == 3 * 10
    assert curve[-1]["loss"] < curve[0]["loss"]
    m = evaluate(path, xt, yt, classes=[str(i) for i in range(10)], attack=ATTACK)
    assert m["clean_acc"] > 0.6  # chance is 0.1
    assert m["robust_acc"] <= m["clean_acc"]
    assert sum(pc["n"] for pc in m["per_class"]) == len(yt)
    assert np.array(m["confusion"]).sum() == len(yt)


def test_pgd_on_a_fixed_subset_and_clean_on_all(trained, digits):
    path, _ = trained
    _, _, xt, yt = digits
    classes = [str(i) for i in range(10)]
    m = evaluate(path, xt, yt, classes=classes, attack={**ATTACK, "eval_n": 100})
    full = evaluate(path, xt, yt, classes=classes, attack=ATTACK)
    assert m["n_test"] == len(yt) and m["robust_n_test"] == 100 and m["attack"]["n"] == 100
    assert m["clean_acc"] == full["clean_acc"]  # clean accuracy is always on every test image
    assert sum(pc["n_robust"] for pc in m["per_class"]) == 100
    again = evaluate(path, xt, yt, classes=classes, attack={**ATTACK, "eval_n": 100})
    assert again["robust_acc"] == m["robust_acc"]  # the same images every time


def test_steps_budget_counts_optimizer_steps(digits):
    x, y, _, _ = digits
    _, _, curve = fit(x, y, classes=10, trainer="standard", seed=0, model_settings=MODEL,
                      settings={**SETTINGS, "budget": "steps", "steps": 25}, attack=ATTACK, progress=False)
    assert curve[-1]["step"] == 25
    assert len(curve) == 3  # 10 + 10 + 5 steps


def test_same_seed_same_weights(digits):
    x, y, _, _ = digits
    runs = [fit(x[:200], y[:200], classes=10, trainer="pgd", seed=3, model_settings=MODEL,
                settings={**SETTINGS, "epochs": 1}, attack=ATTACK, progress=False)[0] for _ in range(2)]
    for a, b in zip(runs[0].state_dict().values(), runs[1].state_dict().values()):
        assert torch.equal(a, b)


def test_resume_matches_uninterrupted_run(digits, tmp_path):
    x, y, _, _ = digits
    x, y = x[:256], y[:256]
    full, _, full_curve = fit(x, y, classes=10, trainer="standard", seed=1, model_settings=MODEL, settings=SETTINGS,
                              attack=ATTACK, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    # Stop after epoch 2 (as a kill would), then resume to the full 3 epochs.
    fit(x, y, classes=10, trainer="standard", seed=1, model_settings=MODEL, settings={**SETTINGS, "epochs": 2},
        attack=ATTACK, checkpoint=ckpt, progress=False)
    blob = torch.load(ckpt, weights_only=True)
    assert blob["state"]["epoch"] == 2
    resumed, _, curve = _resume_to_three_epochs(x, y, ckpt)
    assert [c["loss"] for c in curve] == pytest.approx([c["loss"] for c in full_curve], abs=0, rel=0)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def _resume_to_three_epochs(x, y, ckpt):
    # The schedule length differs between 2- and 3-epoch runs, so write a checkpoint with the
    # full schedule: train 3 epochs with a checkpoint, interrupt after 2 by raising in the loop.
    import dupstudy.train as tr

    original = tr._save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args):
        original(*args)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    ckpt.unlink()
    tr._save_checkpoint = save_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(x, y, classes=10, trainer="standard", seed=1, model_settings=MODEL, settings=SETTINGS, attack=ATTACK,
                checkpoint=ckpt, progress=False)
    finally:
        tr._save_checkpoint = original
    torch.manual_seed(12345)  # resuming must not depend on the global RNG at start
    return fit(x, y, classes=10, trainer="standard", seed=1, model_settings=MODEL, settings=SETTINGS, attack=ATTACK,
               checkpoint=ckpt, progress=False)


def test_pgd_stays_in_ball_and_box(trained, digits):
    path, _ = trained
    _, _, xt, yt = digits
    model, _ = models.load(path)
    x, y = to_tensor(xt[:128], "cpu"), torch.from_numpy(yt[:128])
    adv = attacks.pgd(model, x, y, eps=0.05, step=0.02, steps=10)
    assert (adv - x).abs().max() <= 0.05 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_breaks_undefended_model_and_more_steps_never_help(trained, digits):
    path, _ = trained
    _, _, xt, yt = digits
    model, _ = models.load(path)
    x, y = to_tensor(xt, "cpu"), torch.from_numpy(yt)
    big = attacks.robust_correct(model, x, y, eps=0.3, step=0.05, steps=20).float().mean().item()
    assert big < 0.05
    accs = []
    for steps, restarts in [(1, 1), (10, 1), (10, 3)]:
        torch.manual_seed(0)
        accs.append(attacks.robust_correct(model, x, y, eps=0.08, step=0.02, steps=steps,
                                           restarts=restarts).float().mean().item())
    clean = (model(x).argmax(1) == y).float().mean().item()
    assert clean >= accs[0] >= accs[1] - 0.01 and accs[1] >= accs[2]
