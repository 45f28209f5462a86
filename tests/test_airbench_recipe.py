"""The airbench recipe (train.recipe: airbench) and airbench's test-time augmentation, on the CPU in
seconds: the schedule's shape and the optimiser's rates, lookahead, alternating flips, the whitening
bias's warm-up, TTA views and weights, byte-identical resume, and learning on real digits."""

import copy
import math

import pytest
import torch
from torch import nn

import dupstudy.train as tr
from dupstudy import models, recipes
from dupstudy.evaluate import evaluate, predict, tta_logits
from dupstudy.params import ParamsError, load, section_defaults, validate, with_defaults
from dupstudy.train import batches_per_epoch, first_epoch_flips, fit, flip_mask, resolve_budget, to_tensor, total_steps

AIRBENCH = {"lr": 11.5, "momentum": 0.85, "weight_decay": 0.0153, "bias_lr_scale": 64.0,
            "schedule": {"start": 0.2, "peak": 0.23, "end": 0.07},
            "lookahead": {"every": 5, "decay_base": 0.95, "decay_pow": 3.0}, "whiten_bias_epochs": 1}
# 256 digits in batches of 64: 4 steps an epoch, so lookahead pulls (every 5) fall inside epochs and
# the slow weights differ from the model's at every checkpoint.
SETTINGS = {"budget": "epochs", "epochs": 3, "steps": "auto", "batch_size": 64, "recipe": "airbench",
            "airbench": AIRBENCH, "label_smoothing": 0.2, "augment": {"crop_padding": 1, "flip": "alternating"},
            "threads": 1}
SETTINGS = section_defaults("train", SETTINGS)  # the keys left out take the schema's defaults
MODEL = {"arch": "airbench", "width": 4}
MODEL = section_defaults("model", MODEL)  # the keys left out take the schema's defaults
GUARD = {"enabled": True, "batch": 64, "steps": 2, "step": 0.05, "drop": 0.2}
ATTACK = {"eps": 0.1, "train_step": 0.05, "train_steps": 2, "fgsm_step": 0.125, "trades_beta": 6.0, "fgsm_guard": GUARD,
          "eval_step": 0.02, "eval_steps": 3, "eval_restarts": 1}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults


def _fit(x, y, settings=SETTINGS, **kw):
    return fit(x, y, classes=10, trainer=kw.pop("trainer", "standard"), seed=kw.pop("seed", 0), model_settings=MODEL,
               settings=settings, attack=ATTACK, progress=False, **kw)


# ---- schedule and optimiser ---------------------------------------------------------------

def test_triangle_starts_peaks_and_ends_where_the_params_say():
    total, s = 476, AIRBENCH["schedule"]
    lrs = [recipes.triangle(i, total, s["start"], s["peak"], s["end"]) for i in range(total + 1)]
    top = int(s["peak"] * total)
    assert lrs[0] == pytest.approx(0.2) and lrs[top] == pytest.approx(1.0) and lrs[total] == pytest.approx(0.07)
    assert max(lrs) == lrs[top]
    assert all(a < b for a, b in zip(lrs[:top], lrs[1:top + 1]))  # rises to the peak ...
    assert all(a > b for a, b in zip(lrs[top:total], lrs[top + 1:]))  # ... and falls after it


@pytest.mark.slow
def test_optimiser_rates_follow_airbench_decoupled_form():
    model = models.build("airbench", 3, 10, width=4)
    opt, sched = recipes.build(model, {"recipe": "airbench", "airbench": AIRBENCH, "batch_size": 1024}, steps=100)
    bn_group, other_group = opt.param_groups
    # airbench: lr 11.5 / (1024 * (1 + 1/0.15)) per summed example; times 1024 for a mean loss = 1.5
    assert other_group["lr"] == pytest.approx(1.5 * 0.2)  # schedule start
    assert bn_group["lr"] == pytest.approx(64 * 1.5 * 0.2)
    decay = 0.0153 * 1024 / (1024 * (1 + 1 / 0.15))
    for g in opt.param_groups:  # the same decay per step for every group, whatever its rate
        assert g["lr"] * g["weight_decay"] == pytest.approx(decay * 0.2)
        assert g["nesterov"] and g["momentum"] == 0.85
    bn_biases = {id(m.bias) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in bn_group["params"]} == bn_biases
    assert id(model.whiten.bias) in {id(p) for p in other_group["params"]}
    assert id(model.whiten.weight) not in {id(p) for g in opt.param_groups for p in g["params"]}


def test_steps_count_full_batches_and_round_fractional_epochs_up():
    cifar = {"budget": "epochs", "epochs": 9.9, "batch_size": 1024, "recipe": "airbench"}
    assert batches_per_epoch(50_000, cifar) == 48  # airbench's loader drops the last partial batch
    assert total_steps(50_000, cifar) == 476  # ceil(48 * 9.9), as airbench94
    assert batches_per_epoch(50_000, {**cifar, "recipe": "onecycle"}) == 49
    assert batches_per_epoch(100, cifar) == 1  # fewer images than a batch: one batch of all of them
    assert resolve_budget({**cifar, "steps": "auto"}, "steps", 50_000)["steps"] == 476


# ---- lookahead ---------------------------------------------------------------------------

def test_lookahead_moves_slow_weights_toward_fast_and_restarts_fast_from_them():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    la = recipes.Lookahead(model, every=5, decay_base=0.95, decay_pow=3.0, total=20)
    slow = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.add_(2.0)
    fast = copy.deepcopy(model.state_dict())
    la.after_step(model, 4)  # not a multiple of 5: nothing happens
    assert all(torch.equal(model.state_dict()[k], fast[k]) for k in fast)
    la.after_step(model, 10)
    d = 0.95 ** 5 * (10 / 20) ** 3
    for k in ("0.weight", "0.bias", "1.bias", "1.running_mean"):
        want = d * slow[k] + (1 - d) * fast[k]
        assert torch.allclose(la.slow[k], want) and torch.equal(model.state_dict()[k], la.slow[k])
    assert model.state_dict()["1.num_batches_tracked"] == fast["1.num_batches_tracked"]  # integers untouched
    kept = copy.deepcopy(la.slow)
    with torch.no_grad():
        model[0].weight.add_(5.0)
    la.finish(model)  # the model ends with the slow weights; the last fast steps are dropped
    assert torch.equal(model[0].weight, kept["0.weight"]) and torch.equal(la.slow["0.weight"], kept["0.weight"])


# ---- augmentation ------------------------------------------------------------------------

def test_alternating_flip_mirrors_every_image_on_alternate_epochs():
    gen = torch.Generator().manual_seed(0)
    first = first_epoch_flips(1000, "alternating", gen)
    assert 0.4 < first.float().mean() < 0.6  # p = 0.5 in the first epoch
    idx = torch.randperm(1000, generator=gen)
    masks = torch.stack([flip_mask(idx, epoch, "alternating", first, gen) for epoch in range(4)])
    assert torch.equal(masks[0], first[idx]) and torch.equal(masks[2], masks[0])
    assert torch.equal(masks[1], ~masks[0]) and torch.equal(masks[3], ~masks[0])
    assert flip_mask(idx, 0, False, None, gen) is None
    with pytest.raises(ValueError, match="alternating"):
        first_epoch_flips(10, "sometimes", gen)


# ---- whitening bias, learning, resume ------------------------------------------------------

@pytest.fixture(scope="module")
def airbench_run(digits):
    """Three epochs of the recipe on 320 digits (5 steps an epoch: a lookahead pull ends each epoch),
    with the model's whitening layer after data_init and after every epoch."""
    x, y, _, _ = digits
    snapshots = []
    record = lambda row, m: snapshots.append((m.whiten.weight.clone(), m.whiten.bias.clone()))  # noqa: E731
    trained, spec, curve = _fit(x[:320], y[:320], on_epoch=record)
    initial = models.build(**spec)  # data_init is deterministic: the whitening fit started from
    models.data_init(initial, to_tensor(x[:320], "cpu"))
    return trained, spec, [(initial.whiten.weight, initial.whiten.bias), *snapshots]


def test_whitening_bias_trains_in_its_epochs_only(airbench_run):
    trained, _, snapshots = airbench_run
    assert len(snapshots) == 4
    (w0, b0), (w1, b1), (w2, b2), (w3, b3) = snapshots
    assert not torch.equal(b1, b0)  # trained in epoch 1 (whiten_bias_epochs: 1)
    assert torch.equal(b2, b1) and torch.equal(b3, b1)  # frozen after
    assert torch.equal(w3, w0)  # the whitening filters never train
    assert not trained.whiten.bias.requires_grad


def test_loss_falls_on_digits(digits):
    x, y, xt, yt = digits
    # The rate is per example, set for 50,000 CIFAR images an epoch; 1,000 digits need 8x it to learn
    # in 6 short epochs. Digits are not mirror-symmetric, so no flips.
    settings = {**SETTINGS, "epochs": 6, "airbench": {**AIRBENCH, "lr": 8 * 11.5},
                "augment": {"crop_padding": 1, "flip": False}}
    model, _, curve = _fit(x, y, settings=settings)
    assert curve[-1]["loss"] < curve[0]["loss"] - 0.5
    assert (predict(model, to_tensor(xt, "cpu")) == torch.from_numpy(yt)).float().mean() > 0.7  # chance: 0.1


@pytest.mark.parametrize("trainer", ["pgd", "fgsm_rs", "trades"])
def test_adversarial_trainers_run_under_the_recipe(digits, trainer):
    x, y, _, _ = digits
    _, _, curve = _fit(x[:128], y[:128], settings={**SETTINGS, "epochs": 1}, trainer=trainer)
    assert curve[-1]["step"] == 2 and math.isfinite(curve[-1]["loss"])


def test_resume_after_kill_is_byte_identical(digits, tmp_path):
    x, y = digits[0][:256], digits[1][:256]
    full, _, full_curve = _fit(x, y, seed=1)
    ckpt = tmp_path / "ckpt.pt"
    original, saves = tr._save_checkpoint, []

    def save_then_die(*args):
        original(*args)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    tr._save_checkpoint = save_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            _fit(x, y, seed=1, checkpoint=ckpt)
    finally:
        tr._save_checkpoint = original
    blob = torch.load(ckpt, weights_only=True)
    assert blob["state"]["step"] % 5 != 0  # the slow weights really differ from the model's here
    assert any(not torch.equal(blob["lookahead"][k], blob["model"][k]) for k in blob["lookahead"])
    torch.manual_seed(12345)  # resuming must not depend on the global RNG at start
    resumed, _, curve = _fit(x, y, seed=1, checkpoint=ckpt)
    assert [c["loss"] for c in curve] == [c["loss"] for c in full_curve]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


# ---- test-time augmentation --------------------------------------------------------------

class _Linear(nn.Module):
    """Logits linear in the pixels, so TTA's views and weights can be checked exactly."""

    def __init__(self, shape, classes=3):
        super().__init__()
        self.w = torch.randn(classes, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x, self.w)


def _shift(x, rows, cols):
    return x[:, :, rows][:, :, :, cols]


def test_tta_levels_average_the_documented_views():
    x = torch.rand(5, 2, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = _Linear(x.shape[1:])
    h = x.shape[-1]
    # one-pixel diagonal shifts with reflection at the border, written out by index
    down_right = _shift(x, [1, *range(h - 1)], [1, *range(h - 1)])
    up_left = _shift(x, [*range(1, h), h - 2], [*range(1, h), h - 2])
    views = {"x": x, "down_right": down_right, "up_left": up_left}
    f = {k: model(v) for k, v in views.items()}
    f_mirror = {k: model(v.flip(3)) for k, v in views.items()}
    assert tta_logits(model, x, 0).shape == (5, 3)
    assert torch.allclose(tta_logits(model, x, 0), f["x"])
    assert torch.allclose(tta_logits(model, x, 1), 0.5 * f["x"] + 0.5 * f_mirror["x"])
    level2 = (0.25 * (f["x"] + f_mirror["x"])
              + 0.125 * (f["down_right"] + f_mirror["down_right"] + f["up_left"] + f_mirror["up_left"]))
    assert torch.allclose(tta_logits(model, x, 2), level2)
    with pytest.raises(ValueError, match="evaluate.tta"):
        tta_logits(model, x, 3)


def test_tta_counts_for_clean_accuracy_only(airbench_run, digits, tmp_path):
    trained, spec, _ = airbench_run
    _, _, xt, yt = digits
    path = tmp_path / "model.pt"
    models.save(path, trained, spec)
    classes = [str(i) for i in range(10)]
    plain = evaluate(path, xt, yt, classes=classes, attack=ATTACK, tta=0)
    tta = evaluate(path, xt, yt, classes=classes, attack=ATTACK, tta=2)
    x = to_tensor(xt, "cpu")
    assert tta["clean_acc"] == pytest.approx((predict(trained, x, 2) == torch.from_numpy(yt)).float().mean().item())
    assert tta["clean_acc_no_tta"] == plain["clean_acc"] == plain["clean_acc_no_tta"]
    assert tta["robust_acc"] == plain["robust_acc"]  # PGD is against the plain model either way
    assert tta["tta"] == 2 and plain["tta"] == 0


# ---- params ------------------------------------------------------------------------------

def test_params_select_and_validate_the_recipe(project_root):
    params = load(project_root / "params.yaml")
    assert params["train"]["recipe"] == "onecycle" and params["evaluate"]["tta"] == 0  # the default is unchanged
    cifar = copy.deepcopy(params)
    cifar["train"].update(recipe="airbench", epochs=9.9, batch_size=1024, label_smoothing=0.2,
                          augment={"crop_padding": 2, "flip": "alternating"})
    cifar["evaluate"]["tta"] = 2
    validate(cifar)
    for key, bad, msg in [("recipe", "sgd", "train.recipe"), ("augment", {"flip": "sometimes"}, "train.augment.flip")]:
        broken = copy.deepcopy(cifar)
        broken["train"][key] = bad
        with pytest.raises(ParamsError, match=msg):
            validate(broken)
    no_block = copy.deepcopy(cifar)
    del no_block["train"]["airbench"]["schedule"]["peak"]
    validate(no_block)  # a key left out takes the schema's default, which is airbench94's
    assert with_defaults(no_block)["train"]["airbench"] == params["train"]["airbench"]
    del no_block["train"]["airbench"]
    assert with_defaults(no_block)["train"]["airbench"] == params["train"]["airbench"]
    bad_tta = copy.deepcopy(cifar)
    bad_tta["evaluate"]["tta"] = 3
    with pytest.raises(ParamsError, match="evaluate.tta"):
        validate(bad_tta)
    unknown = copy.deepcopy(params)
    unknown["train"]["recipe"] = "nope"
    with pytest.raises(ValueError, match="train.recipe"):
        recipes.build(nn.Linear(2, 2), {**unknown["train"], "batch_size": 8}, steps=4)


def test_normalisation_and_whitening_are_fitted_on_the_base_set(digits):
    # a variant with many copies of a few images would shift the statistics fitted on it, a confound
    # across D-rates; fitted on the deduplicated base set, they are the same for every variant
    x, y, _, _ = digits
    base_x, base_y = x[:256], y[:256]
    copies = torch.arange(8).repeat(32).numpy()  # 256 copies of eight images
    variant_x, variant_y = x[list(range(256)) + list(copies)], y[list(range(256)) + list(copies)]
    one_epoch = {**SETTINGS, "epochs": 0.25}

    def fitted(vx, vy, **kw):
        model, spec, _ = _fit(vx, vy, settings=one_epoch, **kw)
        return spec["mean"], spec["std"], model.whiten.weight.detach().clone()

    on_base = fitted(base_x, base_y)
    on_variant = fitted(variant_x, variant_y)
    anchored = fitted(variant_x, variant_y, base_images=base_x)
    assert on_variant[0] != pytest.approx(on_base[0])  # the confound the base set removes
    assert anchored[0] == pytest.approx(on_base[0]) and anchored[1] == pytest.approx(on_base[1])
    assert torch.equal(anchored[2], on_base[2])
