"""Tests for extract_features: output, caching, validation, no side effects."""

import logging

import numpy as np
import pytest
import torch
from torch import nn

from emms_ref.features.extract import extract_features, feature_fingerprint, model_fingerprint

PREPROCESSING = {"resolution": 8, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


class TinyNet(nn.Module):
    """A 1x1 convolution whose forward calls are counted."""

    def __init__(self, seed=0, pool=True):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = nn.Conv2d(3, 4, kernel_size=1)
        self.pool = pool
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        maps = self.conv(x)
        return maps.mean(dim=(2, 3)) if self.pool else maps


def make_images(count=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 6, 6, 3), dtype=np.uint8)


def test_extract_features_shape_and_dtype():
    features = extract_features(TinyNet(), make_images(), batch_size=2, progress=False, **PREPROCESSING)
    assert features.shape == (5, 4)
    assert features.dtype == np.float32


def test_extract_features_pools_feature_maps():
    images = make_images()
    pooled = extract_features(TinyNet(pool=True), images, batch_size=2, progress=False, **PREPROCESSING)
    maps = extract_features(TinyNet(pool=False), images, batch_size=2, progress=False, **PREPROCESSING)
    np.testing.assert_allclose(maps, pooled, rtol=1e-5, atol=1e-6)


def test_extract_features_independent_of_batch_size():
    images = make_images(7)
    one = extract_features(TinyNet(), images, batch_size=1, progress=False, **PREPROCESSING)
    all_at_once = extract_features(TinyNet(), images, batch_size=7, progress=False, **PREPROCESSING)
    np.testing.assert_allclose(one, all_at_once, rtol=1e-5, atol=1e-6)


def test_extract_features_does_not_mutate_images():
    images = make_images()
    original = images.copy()
    extract_features(TinyNet(), images, batch_size=2, progress=False, **PREPROCESSING)
    np.testing.assert_array_equal(images, original)


def test_extract_features_restores_training_mode():
    model = TinyNet().train()
    extract_features(model, make_images(), batch_size=2, progress=False, **PREPROCESSING)
    assert model.training


def test_extract_features_uses_eval_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Dropout(p=0.9), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    images = make_images()
    first = extract_features(model, images, batch_size=5, progress=False, **PREPROCESSING)
    second = extract_features(model, images, batch_size=5, progress=False, **PREPROCESSING)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.zeros((2, 6, 6, 3), dtype=np.float64), TypeError, "uint8"),
        (np.zeros((2, 3, 6, 6), dtype=np.uint8), ValueError, r"\(N, H, W, 3\)"),
        (np.zeros((6, 6, 3), dtype=np.uint8), ValueError, r"\(N, H, W, 3\)"),
    ],
)
def test_extract_features_rejects_bad_images(images, error, message):
    with pytest.raises(error, match=message):
        extract_features(TinyNet(), images, batch_size=2, progress=False, **PREPROCESSING)


def test_extract_features_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(TinyNet(), make_images(), batch_size=0, progress=False, **PREPROCESSING)


def test_extract_features_rejects_3d_output():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(start_dim=2))
    with pytest.raises(ValueError, match="model output"):
        extract_features(model, make_images(), batch_size=2, progress=False, **PREPROCESSING)


def test_cache_miss_then_hit(tmp_path):
    cache = tmp_path / "sub" / "features.npz"
    images = make_images()
    model = TinyNet()

    first = extract_features(model, images, batch_size=2, cache_path=cache, progress=False, **PREPROCESSING)
    calls_after_miss = model.calls
    second = extract_features(model, images, batch_size=2, cache_path=cache, progress=False, **PREPROCESSING)

    assert cache.is_file()
    assert calls_after_miss == 3
    assert model.calls == calls_after_miss
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32


@pytest.mark.parametrize(
    "change",
    ["resolution", "images", "image_count", "weights", "model_name", "mean"],
)
def test_stale_cache_is_recomputed(tmp_path, caplog, change):
    cache = tmp_path / "features.npz"
    images = make_images()
    extract_features(TinyNet(), images, batch_size=2, cache_path=cache, progress=False, **PREPROCESSING)

    model = TinyNet(seed=1) if change == "weights" else TinyNet()
    preprocessing = dict(PREPROCESSING)
    kwargs = {}
    if change == "resolution":
        preprocessing["resolution"] = 10
    elif change == "images":
        images = images.copy()
        images[0, 0, 0, 0] ^= 1
    elif change == "image_count":
        images = images[:4]
    elif change == "model_name":
        kwargs["model_name"] = "another"
    elif change == "mean":
        preprocessing["mean"] = (0.4, 0.5, 0.5)

    with caplog.at_level(logging.WARNING, logger="emms_ref.features.extract"):
        features = extract_features(
            model, images, batch_size=2, cache_path=cache, progress=False, **preprocessing, **kwargs
        )

    assert model.calls > 0
    assert "stale" in caplog.text
    assert features.shape[0] == len(images)
    # The file now contains the new features, so the next call is a hit.
    calls = model.calls
    again = extract_features(model, images, batch_size=2, cache_path=cache, progress=False, **preprocessing, **kwargs)
    assert model.calls == calls
    np.testing.assert_array_equal(again, features)


def test_corrupt_cache_is_recomputed(tmp_path, caplog):
    cache = tmp_path / "features.npz"
    cache.write_bytes(b"not an npz file")
    model = TinyNet()

    with caplog.at_level(logging.WARNING, logger="emms_ref.features.extract"):
        features = extract_features(model, make_images(), batch_size=5, cache_path=cache, progress=False, **PREPROCESSING)

    assert "unreadable" in caplog.text
    assert model.calls == 1
    assert features.shape == (5, 4)


def test_cache_leaves_no_temporary_files(tmp_path):
    extract_features(TinyNet(), make_images(), batch_size=2, cache_path=tmp_path / "f.npz", progress=False, **PREPROCESSING)
    assert [path.name for path in tmp_path.iterdir()] == ["f.npz"]


def test_model_fingerprint_sees_weights_and_structure():
    assert model_fingerprint(TinyNet(seed=0)) == model_fingerprint(TinyNet(seed=0))
    assert model_fingerprint(TinyNet(seed=0)) != model_fingerprint(TinyNet(seed=1))
    assert model_fingerprint(nn.Linear(2, 2, bias=False)) != model_fingerprint(nn.Linear(2, 3, bias=False))


def test_feature_fingerprint_fields():
    images = make_images()
    fingerprint = feature_fingerprint(TinyNet(), images, model_name="tiny", **PREPROCESSING)
    assert fingerprint["model_name"] == "tiny"
    assert fingerprint["resolution"] == 8
    assert fingerprint["images_shape"] == [5, 6, 6, 3]
    assert len(fingerprint["images_sha256"]) == 64
