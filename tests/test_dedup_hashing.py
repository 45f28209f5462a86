"""Batched hashes must be bit-identical to the imagehash package on the same decoded pixels."""

import imagehash
import numpy as np
import pytest
from PIL import Image

from dupstudy.dedup import hashing

REFERENCE = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "whash": imagehash.whash,
}
# odd and even sizes, wide and tall, down- and up-scaling for every hash (h, w)
SHAPES = [(7, 13), (13, 7), (9, 9), (11, 17), (16, 16), (17, 30), (23, 9), (24, 31), (31, 24), (32, 32),
          (33, 33), (37, 61), (45, 70), (70, 45), (40, 12), (12, 40), (50, 50), (64, 33), (8, 70), (70, 8),
          (19, 27), (27, 19), (63, 64), (15, 44), (44, 15)]


def smooth_images(rng, n, h, w, c):
    """Random low-frequency pictures plus mild noise: realistic hashes, not degenerate ones."""
    small = rng.integers(0, 256, size=(n, 4, 5, c), dtype=np.uint8)
    out = np.empty((n, h, w, c), np.uint8)
    for i in range(n):
        for ch in range(c):
            out[i, :, :, ch] = np.asarray(Image.fromarray(small[i, :, :, ch]).resize((w, h), Image.Resampling.BICUBIC))
    noise = rng.normal(0, 6, size=out.shape)
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def to_pil(image):
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


@pytest.fixture(scope="module")
def image_sets():
    rng = np.random.default_rng(20240601)
    sets = []
    for h, w in SHAPES:
        for c in (1, 3):
            sets.append(smooth_images(rng, 20, h, w, c))
    assert sum(len(s) for s in sets) >= 1000
    return sets


@pytest.mark.parametrize("hash_size", [8, 16])
@pytest.mark.parametrize("method", sorted(REFERENCE))
def test_bit_identical_to_imagehash(image_sets, method, hash_size):
    mismatches, total = [], 0
    for images in image_sets:
        codes = hashing.hash_images(images, method, hash_size, batch=7)  # odd batch size on purpose
        assert codes.shape == (len(images), hash_size * hash_size // 8)
        got = hashing.to_hex(codes)
        for i, image in enumerate(images):
            want = str(REFERENCE[method](to_pil(image), hash_size=hash_size))
            total += 1
            if got[i] != want:
                mismatches.append((images.shape, i, got[i], want))
    assert total >= 1000
    assert not mismatches, f"{len(mismatches)}/{total} differ, e.g. {mismatches[:3]}"


def test_degenerate_images_match_too():
    rng = np.random.default_rng(3)
    imgs = [np.full((20, 37, 3), v, np.uint8) for v in (0, 1, 128, 255)]
    imgs += [(rng.integers(0, 2, (20, 37, 3)) * 255).astype(np.uint8) for _ in range(5)]
    imgs += [rng.integers(0, 256, (20, 37, 3), dtype=np.uint8) for _ in range(5)]
    imgs.append(np.broadcast_to(np.linspace(0, 255, 37).astype(np.uint8)[None, :, None], (20, 37, 3)).copy())
    imgs = np.stack(imgs)
    for method, ref in REFERENCE.items():
        got = hashing.to_hex(hashing.hash_images(imgs, method, 8))
        assert got == [str(ref(Image.fromarray(im))) for im in imgs], method


def test_resize_matches_pillow_both_ways():
    rng = np.random.default_rng(7)
    for (h, w), (oh, ow) in [((13, 7), (8, 9)), ((7, 13), (8, 9)), ((70, 45), (32, 32)), ((5, 5), (4, 30)),
                             ((40, 16), (12, 4)), ((9, 9), (33, 32)), ((64, 31), (4, 3))]:
        grey = rng.integers(0, 256, (6, h, w), dtype=np.uint8)
        want = np.stack([np.asarray(Image.fromarray(g).resize((ow, oh), Image.Resampling.LANCZOS)) for g in grey])
        np.testing.assert_array_equal(hashing.resize_lanczos(grey, ow, oh), want)


def test_grey_conversion_matches_pillow():
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (3, 17, 29, 3), dtype=np.uint8)
    want = np.stack([np.asarray(Image.fromarray(x).convert("L")) for x in rgb])
    np.testing.assert_array_equal(hashing.to_grey(rgb), want)


def test_dihedral_codes_hash_each_transformed_image():
    rng = np.random.default_rng(11)
    images = smooth_images(rng, 6, 21, 34, 3)  # non-square: rotations change the shape
    codes = hashing.dihedral_codes(images, "phash", 8)
    assert codes.shape == (6, 8, 8)
    np.testing.assert_array_equal(codes[:, 0], hashing.hash_images(images, "phash", 8))
    for i, image in enumerate(images):
        for t in range(8):
            x = image[:, ::-1] if t >= 4 else image
            x = np.ascontiguousarray(np.rot90(x, k=t % 4))
            assert codes[i, t].tobytes().hex() == str(imagehash.phash(Image.fromarray(x))), (i, t)


def test_flipped_copy_matches_a_variant_exactly():
    rng = np.random.default_rng(12)
    image = smooth_images(rng, 1, 32, 32, 3)
    flipped = image[:, :, ::-1]
    var = hashing.dihedral_codes(image, "dhash")
    plain = hashing.hash_images(flipped, "dhash")
    assert hashing.hamming(var[0, hashing.TRANSFORMS.index("flip")], plain[0]) == 0
    assert hashing.hamming(var[0, 0], plain[0]) > 4


def test_bad_arguments():
    imgs = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError):
        hashing.hash_images(imgs, "md5")
    with pytest.raises(ValueError):
        hashing.hash_images(imgs, "whash", 12)
    assert hashing.hash_images(imgs[:0], "phash").shape == (0, 8)
