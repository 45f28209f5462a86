"""Architectures: shapes, airbench's frozen patch whitening, save/load, and learning on real digits."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from dupstudy import models
from dupstudy.params import section_defaults
from dupstudy.train import fit, to_tensor

SETTINGS = {"budget": "epochs", "epochs": 3, "steps": 10, "batch_size": 64, "lr": 0.05, "momentum": 0.9,
            "weight_decay": 5e-4, "label_smoothing": 0.0, "augment": {"crop_padding": 0, "flip": False}, "threads": 1}
SETTINGS = section_defaults("train", SETTINGS)  # the keys left out take the schema's defaults
ATTACK = {"eps": 0.1, "train_step": 0.05, "train_steps": 2, "fgsm_step": 0.125, "trades_beta": 6.0,
          "fgsm_guard": {"enabled": True, "batch": 64, "steps": 2, "step": 0.05, "drop": 0.2}}
ATTACK = section_defaults("attack", ATTACK)  # the keys left out take the schema's defaults
WIDTH = {"small_cnn": 8, "airbench": 4, "preact_resnet18": 4}
# airbench scales its logits by 1/9 and is trained at a far larger lr than the other nets (its own
# recipe is ~1.15 per mean-reduced batch loss); at 0.05 it learns, but too slowly for 3 short epochs.
LR = {"airbench": 1.0}


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    return x[:600], d.target[:600]


def _rgb32(x8: np.ndarray) -> np.ndarray:
    """(N, 8, 8, 1) digits -> (N, 32, 32, 3) with strongly correlated, differently scaled channels.

    Independent pixel noise keeps every patch direction's variance well above the whitening eps,
    so the whitened covariance must be the identity (not just lam / (lam + eps))."""
    big = np.repeat(np.repeat(x8, 4, axis=1), 4, axis=2).astype(np.float32)
    rgb = np.concatenate([big, 0.6 * big + 60, 255 - 0.8 * big], axis=3)
    rgb += np.random.default_rng(0).uniform(-25, 25, rgb.shape)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _patch_cov(z: torch.Tensor) -> torch.Tensor:
    """Channel covariance of a (N, C, H, W) map over all positions."""
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double()
    return torch.cov(flat.T)


@pytest.mark.parametrize("arch", models.ARCHS)
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 32)])
def test_output_shape(arch, channels, size):
    torch.manual_seed(0)
    m = models.build(arch, channels, 10, WIDTH[arch])
    x = torch.rand(5, channels, size, size)
    models.data_init(m, x)
    assert m(x).shape == (5, 10)
    m.eval()
    assert m(x[:1]).shape == (1, 10)


@pytest.mark.parametrize("rgb", [False, True])
def test_airbench_whitening_gives_identity_covariance(digits, rgb):
    x8, _ = digits
    x = to_tensor(_rgb32(x8) if rgb else x8, "cpu")
    c = x.shape[1]
    m = models.build("airbench", c, 10, 4, mean=x.mean(dim=(0, 2, 3)).tolist(), std=x.std(dim=(0, 2, 3)).tolist())
    with torch.no_grad():
        patches = F.unfold(m.norm(x), 2).transpose(1, 2).reshape(-1, c * 4)  # what the 2x2 conv sees
        raw = torch.cov(patches.T.double())
    # The test means something: neighbouring pixels (and the channels) are strongly correlated.
    assert (raw - torch.eye(c * 4, dtype=torch.float64)).abs().max() > 0.5
    m.data_init(x)
    with torch.no_grad():
        out = m.whiten(m.norm(x))
    d = c * 4
    assert out.shape[1] == 2 * d
    assert torch.allclose(out[:, d:], -out[:, :d])  # both signs of every filter
    cov = _patch_cov(out[:, :d])
    assert (cov - torch.eye(d, dtype=torch.float64)).abs().max() < 0.05
    assert out[:, :d].mean(dim=(0, 2, 3)).abs().max() < 1e-3


def test_airbench_whitening_uses_at_most_5000_images():
    torch.manual_seed(0)
    m = models.build("airbench", 1, 10, 4)
    x = torch.rand(6000, 1, 8, 8)
    m.data_init(x)
    m2 = models.build("airbench", 1, 10, 4)
    m2.data_init(x[torch.linspace(0, 5999, 5000).long()])
    assert torch.equal(m.whiten.weight, m2.whiten.weight)


def test_airbench_whitening_is_frozen(digits):
    x8, y = digits
    x = to_tensor(x8, "cpu")
    m = models.build("airbench", 1, 10, 4)
    m.data_init(x)
    assert not m.whiten.weight.requires_grad and not m.whiten.bias.requires_grad
    w0, b0 = m.whiten.weight.clone(), m.whiten.bias.clone()
    others = {k: v.clone() for k, v in m.named_parameters() if v.requires_grad}
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _ in range(2):
        loss = F.cross_entropy(m(x[:64]), torch.from_numpy(y[:64]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(m.whiten.weight, w0) and torch.equal(m.whiten.bias, b0)
    assert any(not torch.equal(v, others[k]) for k, v in m.named_parameters() if v.requires_grad)


@pytest.mark.parametrize("arch", models.ARCHS)
def test_fit_learns_and_save_load_round_trip(arch, digits, tmp_path):
    x, y = digits
    model, spec, curve = fit(x, y, classes=10, trainer="standard", seed=0,
                             model_settings=section_defaults("model", {"arch": arch, "width": WIDTH[arch]}),
                             settings={**SETTINGS, "lr": LR.get(arch, SETTINGS["lr"])}, attack=ATTACK,
                             progress=False)
    assert spec["arch"] == arch
    assert curve[-1]["loss"] < 0.8 * curve[0]["loss"], curve
    xt = to_tensor(x[:100], "cpu")
    if arch == "airbench":  # training left the data-set whitening exactly as data_init made it
        fresh = models.build(**spec)
        fresh.data_init(to_tensor(x, "cpu"))
        assert torch.equal(fresh.whiten.weight, model.whiten.weight)
        assert torch.equal(fresh.whiten.bias, model.whiten.bias)
    path = tmp_path / "model.pt"
    models.save(path, model, spec)
    loaded, spec2 = models.load(path)
    assert spec2 == spec
    with torch.no_grad():
        assert torch.equal(model(xt), loaded(xt))


def test_airbench_whiten_eps_reaches_the_layer_and_survives_save_load(digits, tmp_path):
    """model.whiten_eps (adversarial training needs a large one): the filters are V^T / sqrt(lam + eps),
    so a larger eps shrinks the gain on the weak directions, and the spec rebuilds the same net."""
    x, y = digits
    xt = to_tensor(x, "cpu")
    default, large = models.build("airbench", 1, 10, 4), models.build("airbench", 1, 10, 4, whiten_eps=0.1)
    assert default.whiten_eps == models.Airbench.WHITEN_EPS and large.whiten_eps == 0.1
    default.data_init(xt)
    large.data_init(xt)
    assert large.whiten.weight.abs().max() < default.whiten.weight.abs().max()
    model, spec, _ = fit(x, y, classes=10, trainer="standard", seed=0,
                         model_settings=section_defaults("model", {"arch": "airbench", "width": 4, "whiten_eps": 0.1}),
                         settings={**SETTINGS, "epochs": 1, "lr": 1.0}, attack=ATTACK, progress=False)
    fresh = models.build(**spec)  # the spec carries the eps, so data_init makes the same layer again
    fresh.data_init(xt)
    assert spec["whiten_eps"] == 0.1 and torch.equal(model.whiten.weight, fresh.whiten.weight)
    models.save(tmp_path / "model.pt", model, spec)
    loaded, _ = models.load(tmp_path / "model.pt")
    assert loaded.whiten_eps == 0.1


def test_unknown_arch_names_allowed():
    with pytest.raises(ValueError) as e:
        models.build("resnet50", 3, 10)
    for arch in models.ARCHS:
        assert arch in str(e.value)
