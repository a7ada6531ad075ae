"""Tests for the CIFAR-10 subset loader and balanced_subset."""

import numpy as np
import pytest

from emms_ref.datasets import CIFAR10_SUBSET_PATH, balanced_subset, load_cifar10_subset


@pytest.fixture(scope="module")
def cifar10():
    return load_cifar10_subset()


def test_cifar10_subset_shapes(cifar10):
    assert cifar10.train_images.shape == (10000, 32, 32, 3)
    assert cifar10.test_images.shape == (2000, 32, 32, 3)
    assert cifar10.train_images.dtype == np.uint8
    assert cifar10.train_labels.shape == (10000,)
    assert cifar10.test_labels.dtype == np.int64


def test_cifar10_subset_is_balanced(cifar10):
    np.testing.assert_array_equal(np.bincount(cifar10.train_labels), np.full(10, 1000))
    np.testing.assert_array_equal(np.bincount(cifar10.test_labels), np.full(10, 200))


def test_cifar10_class_names(cifar10):
    assert cifar10.class_names[0] == "airplane"
    assert cifar10.class_names[-1] == "truck"
    assert len(cifar10.class_names) == 10


def test_load_cifar10_subset_explicit_path():
    assert load_cifar10_subset(CIFAR10_SUBSET_PATH).train_images.shape[0] == 10000


def test_load_cifar10_subset_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_cifar10_subset(tmp_path / "missing.npz")


def write_subset(path, **overrides):
    arrays = {
        "train_images": np.zeros((4, 32, 32, 3), dtype=np.uint8),
        "train_labels": np.array([0, 1, 0, 1]),
        "test_images": np.zeros((2, 32, 32, 3), dtype=np.uint8),
        "test_labels": np.array([0, 1]),
        "class_names": np.array(["a", "b"]),
    }
    arrays.update(overrides)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def test_load_cifar10_subset_small_file(tmp_path):
    data = load_cifar10_subset(write_subset(tmp_path / "ok.npz"))
    assert data.class_names == ("a", "b")
    assert data.train_labels.dtype == np.int64


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"test_labels": None}, "missing"),
        ({"train_images": np.zeros((4, 32, 32, 3), dtype=np.float32)}, "uint8"),
        ({"train_labels": np.array([0, 1, 0])}, "shape"),
        ({"test_labels": np.array([0, 2])}, r"\[0, 2\)"),
    ],
)
def test_load_cifar10_subset_rejects_malformed(tmp_path, overrides, message):
    path = write_subset(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=message):
        load_cifar10_subset(path)


def test_balanced_subset_first_k():
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2])
    index = balanced_subset(labels, 2)

    np.testing.assert_array_equal(index, [0, 1, 2, 3, 4, 5])
    assert index.dtype == np.int64


def test_balanced_subset_seeded_is_reproducible_and_balanced():
    labels = np.repeat(np.arange(5), 20)
    first = balanced_subset(labels, 4, seed=7)
    second = balanced_subset(labels, 4, seed=7)
    other = balanced_subset(labels, 4, seed=8)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(np.bincount(labels[first]), np.full(5, 4))
    assert np.all(np.diff(first) > 0)


def test_balanced_subset_does_not_mutate_labels():
    labels = np.array([1, 0, 1, 0])
    original = labels.copy()
    balanced_subset(labels, 1, seed=0)
    np.testing.assert_array_equal(labels, original)


def test_balanced_subset_rejects_small_class():
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        balanced_subset(np.array([0, 0, 1]), 2)


@pytest.mark.parametrize(
    ("labels", "per_class", "message"),
    [
        (np.array([0.0, 1.0]), 1, "integer"),
        (np.array([[0, 1]]), 1, "1-D"),
        (np.array([0, 1]), 0, "positive"),
    ],
)
def test_balanced_subset_rejects_bad_arguments(labels, per_class, message):
    with pytest.raises(ValueError, match=message):
        balanced_subset(labels, per_class)
