"""Tests for emms_ref.features.preprocess against independent computations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emms_ref.features.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    bilinear_resize,
    normalize,
    preprocess_images,
    to_float_nchw,
    validate_images,
)


def random_images(count=3, height=32, width=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [((32, 32), (96, 96)), ((32, 32), (64, 64)), ((32, 32), (20, 20)), ((17, 29), (40, 23)), ((5, 5), (1, 1))],
)
def test_bilinear_resize_matches_interpolate(in_size, out_size):
    images = torch.rand(2, 3, *in_size, generator=torch.Generator().manual_seed(1))

    ours = bilinear_resize(images, out_size)
    reference = F.interpolate(images, size=out_size, mode="bilinear", align_corners=False, antialias=False)

    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_bilinear_resize_int_size_is_square():
    images = torch.rand(1, 3, 8, 8)
    assert bilinear_resize(images, 12).shape == (1, 3, 12, 12)


def test_bilinear_resize_same_size_returns_copy():
    images = torch.rand(1, 3, 8, 8)
    resized = bilinear_resize(images, 8)
    resized += 1.0
    assert torch.all(resized != images)


def test_bilinear_resize_rejects_integer_tensor():
    with pytest.raises(ValueError, match="floating-point"):
        bilinear_resize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 16)


def test_normalize_matches_formula():
    images = torch.rand(2, 3, 4, 5)
    expected = images.numpy().copy()
    for channel in range(3):
        expected[:, channel] = (expected[:, channel] - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]

    result = normalize(images, IMAGENET_MEAN, IMAGENET_STD)

    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_normalize_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="one value per channel"):
        normalize(torch.rand(1, 3, 2, 2), (0.5, 0.5), (0.5, 0.5))


def test_normalize_rejects_nonpositive_std():
    with pytest.raises(ValueError, match="std must be positive"):
        normalize(torch.rand(1, 3, 2, 2), (0.5,) * 3, (0.5, 0.0, 0.5))


def test_to_float_nchw_layout_and_scale():
    images = random_images(2, 4, 6)
    result = to_float_nchw(images)

    assert result.shape == (2, 3, 4, 6)
    assert result.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), images.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)


def test_preprocess_images_equals_composed_reference():
    images = random_images()
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    tensor = F.interpolate(tensor, size=(64, 64), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = (tensor - mean) / std

    result = preprocess_images(images, resolution=64, mean=IMAGENET_MEAN, std=IMAGENET_STD)

    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)


def test_preprocess_images_does_not_mutate_input():
    images = random_images()
    original = images.copy()

    result = preprocess_images(images, resolution=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    result.fill_(0.0)

    np.testing.assert_array_equal(images, original)


def test_preprocess_images_rejects_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        preprocess_images(random_images(), resolution=0, mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((2, 8, 8, 3), dtype=np.float32), TypeError, "uint8"),
        (np.zeros((2, 3, 8, 8), dtype=np.uint8), ValueError, r"\(N, H, W, 3\)"),
        (np.zeros((8, 8, 3), dtype=np.uint8), ValueError, r"\(N, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), ValueError, "empty"),
        ([[[[0, 0, 0]]]], TypeError, "NumPy array"),
    ],
)
def test_validate_images_rejects(images, error, message):
    with pytest.raises(error, match=message):
        validate_images(images)
