import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dupstudy.variants import describe, make_variant

LABELS = np.repeat(np.arange(4), 50)  # 200 samples, 4 classes
TRAIN = np.arange(0, 200, 1)[::-1]    # unsorted on purpose


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.6, 0.9])
def test_additive_counts(rate):
    v = make_variant(TRAIN, LABELS, scheme="uniform", rate=rate, protocol="additive", seed=0)
    d = describe(v, LABELS)
    assert d["n_train"] == 200 + round(rate * 200)
    assert d["n_unique"] == 200
    assert d["n_copies"] == round(rate * 200)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.6, 0.9])
def test_fixed_counts(rate):
    v = make_variant(TRAIN, LABELS, scheme="uniform", rate=rate, protocol="fixed", seed=1)
    d = describe(v, LABELS)
    assert d["n_train"] == 200
    assert d["n_unique"] == 200 - round(rate * 200)
    assert set(v) <= set(TRAIN)


def test_biased_share_is_exact():
    v = make_variant(TRAIN, LABELS, scheme="biased", rate=0.5, protocol="additive", seed=2,
                     favoured_classes=[1], favoured_share=0.7)
    d = describe(v, LABELS, favoured_classes=[1])
    assert d["n_copies"] == 100
    assert d["copies_share_favoured"] == pytest.approx(0.7)
    assert d["class_counts"][1] == 50 + 70


def test_uniform_share_follows_class_sizes():
    v = make_variant(np.arange(200), LABELS, scheme="uniform", rate=0.9, protocol="additive", seed=3)
    share = describe(v, LABELS, favoured_classes=[1])["copies_share_favoured"]
    assert 0.15 < share < 0.35  # class 1 is a quarter of the data


def test_deterministic_bytes():
    a = make_variant(TRAIN, LABELS, scheme="biased", rate=0.3, protocol="additive", seed=7)
    b = make_variant(TRAIN, LABELS, scheme="biased", rate=0.3, protocol="additive", seed=7)
    c = make_variant(TRAIN, LABELS, scheme="biased", rate=0.3, protocol="additive", seed=8)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_bad_inputs_named():
    with pytest.raises(ValueError, match="unknown scheme 'zipf'"):
        make_variant(TRAIN, LABELS, scheme="zipf", rate=0.1, protocol="additive", seed=0)
    with pytest.raises(ValueError, match="fixed protocol"):
        make_variant(TRAIN, LABELS, scheme="uniform", rate=1.0, protocol="fixed", seed=0)
    with pytest.raises(ValueError, match="favoured classes"):
        make_variant(np.arange(50), LABELS, scheme="biased", rate=0.2, protocol="additive", seed=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 300), rate=st.floats(0, 0.99), seed=st.integers(0, 2**32 - 1),
       scheme=st.sampled_from(["uniform", "biased", "concentrated"]), protocol=st.sampled_from(["additive", "fixed"]))
def test_variant_invariants(n, rate, seed, scheme, protocol):
    labels = np.arange(n) % 3
    ids = np.arange(n)
    k = round(rate * n)
    assume(protocol == "additive" or k < n)
    if scheme == "biased" and k:
        base = ids if protocol == "additive" else None
        assume(base is not None)  # fixed + biased: pools depend on which samples were dropped
    v = make_variant(ids, labels, scheme=scheme, rate=rate, protocol=protocol, seed=seed)
    assert len(v) == (n + k if protocol == "additive" else n)
    assert np.all(np.diff(v) >= 0) and v.dtype == np.int64
    assert set(v.tolist()) <= set(ids.tolist())
    unique = len(np.unique(v))
    assert unique == (n if protocol == "additive" else n - k)
    if scheme == "biased" and k:
        d = describe(v, labels)
        assert d["copies_share_favoured"] == pytest.approx(round(0.7 * k) / k)


def test_concentrated_counts_follow_zipf():
    train = np.arange(1000)
    labels = np.arange(1000) % 10
    v = make_variant(train, labels, scheme="concentrated", rate=0.3, protocol="additive", seed=4,
                     sources=0.01, exponent=1.0)
    d = describe(v, labels)
    assert d["n_train"] == 1300 and d["n_unique"] == 1000
    ids, counts = np.unique(v, return_counts=True)
    extra = np.sort(counts[counts > 1] - 1)[::-1]
    assert len(extra) == 10  # 1 % of 1000 samples are copied
    assert extra.sum() == 300
    weights = 1 / np.arange(1, 11)
    assert np.all(np.abs(extra - weights / weights.sum() * 300) < 1)  # exact up to rounding
    assert d["max_copies"] == extra[0]


def test_concentrated_exponent_zero_is_even_and_fixed_protocol_works():
    train = np.arange(500)
    labels = train % 5
    v = make_variant(train, labels, scheme="concentrated", rate=0.2, protocol="fixed", seed=1,
                     sources=0.025, exponent=0.0)  # 10 of the 400 kept samples
    ids, counts = np.unique(v, return_counts=True)
    assert len(v) == 500 and len(ids) == 400
    assert sorted(set((counts[counts > 1] - 1).tolist())) == [10]  # 100 copies over 10 sources


def test_class_shares_vector_is_exact():
    labels = np.repeat(np.arange(4), 50)
    v = make_variant(np.arange(200), labels, scheme="biased", rate=0.5, protocol="additive", seed=0,
                     class_shares=[0.4, 0.3, 0.2, 0.1])
    extra = np.bincount(labels[v], minlength=4) - 50
    assert extra.tolist() == [40, 30, 20, 10]


def test_class_shares_wrong_length_is_named():
    labels = np.repeat(np.arange(4), 50)
    with pytest.raises(ValueError, match="one weight per class"):
        make_variant(np.arange(200), labels, scheme="biased", rate=0.5, protocol="additive", seed=0,
                     class_shares=[0.5, 0.5])
