"""The shared inputs of the CIFAR-10 chapters."""

from pathlib import Path

import numpy as np

from emms_ref.experiments import (
    book_images_per_class,
    cifar10_training_subset,
    default_cache_dir,
    load_cifar10_ground_truth,
)
from emms_ref.features import MODEL_ZOO


def test_images_per_class_switch(monkeypatch):
    monkeypatch.delenv("EMMS_BOOK_FULL", raising=False)
    assert book_images_per_class() == 500
    monkeypatch.setenv("EMMS_BOOK_FULL", "1")
    assert book_images_per_class() == 1000


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMMS_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == Path(tmp_path)
    monkeypatch.delenv("EMMS_CACHE_DIR")
    assert default_cache_dir().name == ".cache"


def test_training_subset_is_balanced():
    images, labels, class_names = cifar10_training_subset(3)
    assert images.shape == (30, 32, 32, 3)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [3] * 10)
    assert class_names[0] == "airplane"


def test_ground_truth_covers_the_zoo():
    ground_truth = load_cifar10_ground_truth()
    assert set(ground_truth["models"]) == set(MODEL_ZOO)
    for name, entry in ground_truth["models"].items():
        assert 0.0 < entry["test_accuracy_mean"] <= 1.0, name
    for key in ("command", "date_utc", "hardware", "protocol"):
        assert key in ground_truth
