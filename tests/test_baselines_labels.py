"""Properties shared by every feature-based baseline: label values, sample order, inputs, errors."""

import numpy as np
import pytest
import torch

from emms_ref.baselines import h_score, logme, transrate
from emms_ref.baselines._labels import encode_class_labels

METRICS = {
    "logme": lambda x, y: logme(x, y).score,
    "logme-evidence": lambda x, y: logme(x, y, method="evidence").score,
    "h_score": lambda x, y: h_score(x, y).score,
    "h_score-ledoit-wolf": lambda x, y: h_score(x, y, shrinkage="ledoit_wolf").score,
    "transrate": lambda x, y: transrate(x, y).score,
}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.arange(3), rng.integers(0, 3, 147)])
    features = 2.0 * rng.normal(size=(3, 9))[labels] + rng.normal(size=(150, 9))
    return features, labels


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize(
    "relabel",
    [
        lambda codes: np.array([3, 17, 40])[codes],
        lambda codes: np.array(["truck", "cat", "airplane"])[codes],
        lambda codes: np.array([-5, 0, 5])[codes],
    ],
    ids=["sparse-ids", "strings", "negative-ids"],
)
def test_relabelling_classes_keeps_score(name, relabel, data):
    features, labels = data
    metric = METRICS[name]
    assert metric(features, relabel(labels)) == pytest.approx(metric(features, labels), rel=1e-12)


@pytest.mark.parametrize("name", METRICS)
def test_sample_permutation_keeps_score(name, data):
    features, labels = data
    order = np.random.default_rng(1).permutation(len(labels))
    metric = METRICS[name]
    assert metric(features[order], labels[order]) == pytest.approx(metric(features, labels), rel=1e-9)


@pytest.mark.parametrize("name", METRICS)
def test_inputs_are_not_mutated(name, data):
    features, labels = data
    features_before, labels_before = features.copy(), labels.copy()
    METRICS[name](features, labels)
    np.testing.assert_array_equal(features, features_before)
    np.testing.assert_array_equal(labels, labels_before)


@pytest.mark.parametrize("name", METRICS)
def test_torch_and_list_inputs_accepted(name, data):
    features, labels = data
    metric = METRICS[name]
    expected = metric(features, labels)
    assert metric(torch.from_numpy(features), torch.from_numpy(labels)) == pytest.approx(expected, abs=1e-9)
    assert metric(features, labels.tolist()) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("name", METRICS)
def test_float32_features_within_1e_6_of_float64(name, data):
    features, labels = data
    metric = METRICS[name]
    assert metric(features.astype(np.float32), labels) == pytest.approx(metric(features, labels), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", METRICS)
def test_single_class_rejected(name, data):
    features, _ = data
    with pytest.raises(ValueError, match="at least 2"):
        METRICS[name](features, np.full(len(features), 7))


@pytest.mark.parametrize("name", METRICS)
def test_label_count_mismatch_rejected(name, data):
    features, labels = data
    with pytest.raises(ValueError, match="labels has 149 entries but the features have 150"):
        METRICS[name](features, labels[:-1])


@pytest.mark.parametrize("name", METRICS)
def test_non_finite_features_rejected(name, data):
    features, labels = data
    broken = features.copy()
    broken[10, 4] = np.inf
    with pytest.raises(ValueError, match=r"features contains NaN or inf, first at index \(10, 4\)"):
        METRICS[name](broken, labels)


@pytest.mark.parametrize("name", METRICS)
def test_two_dimensional_labels_rejected(name, data):
    features, labels = data
    with pytest.raises(ValueError, match="ravel"):
        METRICS[name](features, labels[:, None])
    with pytest.raises(ValueError, match="one-hot labels pass their argmax"):
        METRICS[name](features, np.eye(3)[labels])


def test_encoding_sorts_classes_and_counts():
    encoded = encode_class_labels(np.array(["b", "a", "b", "c"]), 4)
    np.testing.assert_array_equal(encoded.classes, ["a", "b", "c"])
    np.testing.assert_array_equal(encoded.codes, [1, 0, 1, 2])
    np.testing.assert_array_equal(encoded.counts, [1, 2, 1])


def test_nan_label_rejected():
    with pytest.raises(ValueError, match=r"labels contains NaN or inf, first at index \(1,\)"):
        encode_class_labels(np.array([0.0, np.nan, 1.0]), 3)


def test_unsortable_label_mix_rejected():
    with pytest.raises(ValueError, match="cannot be sorted together"):
        encode_class_labels(np.array([1, "a", None], dtype=object), 3)
