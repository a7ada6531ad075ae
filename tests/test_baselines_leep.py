"""LEEP and NCE: closed forms, an independent loop, bounds, label handling and errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emms_ref.baselines import leep, nce


def balanced_labels(n_classes, per_class, seed=0):
    labels = np.repeat(np.arange(n_classes), per_class)
    return np.random.default_rng(seed).permutation(labels)


def random_predictions(n_samples, n_source, seed=0):
    return np.random.default_rng(seed).dirichlet(np.full(n_source, 0.5), size=n_samples)


def leep_by_definition(theta, labels):
    """LEEP from the formulas of Nguyen et al. (2020), one loop per sum."""
    n_samples, n_source = theta.shape
    classes = sorted(set(labels.tolist()))
    joint = {(y, z): sum(theta[i, z] for i in range(n_samples) if labels[i] == y) / n_samples
             for y in classes for z in range(n_source)}
    marginal = {z: sum(joint[(y, z)] for y in classes) for z in range(n_source)}
    total = 0.0
    for i in range(n_samples):
        total += math.log(sum(joint[(labels[i], z)] / marginal[z] * theta[i, z] for z in range(n_source)))
    return total / n_samples


# Closed forms


def test_leep_zero_for_perfect_source_predictions():
    # Six source classes, two per target class, predicted with probability 1.
    labels = balanced_labels(3, 20)
    source_class = 2 * labels + np.random.default_rng(1).integers(0, 2, labels.size)
    theta = np.eye(6)[source_class]
    assert leep(theta, labels).score == pytest.approx(0.0, abs=1e-12)
    assert nce(source_class, labels).score == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 5, 10])
def test_leep_uniform_is_log_one_over_c(n_classes):
    labels = balanced_labels(n_classes, 12)
    theta = np.full((labels.size, 7), 1 / 7)
    assert leep(theta, labels).score == pytest.approx(math.log(1 / n_classes), rel=1e-12)


def test_leep_uniform_unbalanced_is_minus_entropy():
    labels = np.array([0] * 30 + [1] * 10 + [2] * 20)
    frequencies = np.array([30, 10, 20]) / 60
    theta = np.full((labels.size, 4), 0.25)
    assert leep(theta, labels).score == pytest.approx(np.sum(frequencies * np.log(frequencies)), rel=1e-12)


def test_nce_constant_source_label_is_minus_log_c():
    labels = balanced_labels(4, 15)
    assert nce(np.zeros(labels.size, dtype=int), labels).score == pytest.approx(-math.log(4), rel=1e-12)


def test_leep_of_hard_labels_equals_nce():
    # With one-hot predictions the expected empirical predictor is P(y | z_i),
    # so LEEP = sum P(y, z) log P(y | z) = NCE.
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 200)
    source = (labels + rng.integers(0, 3, 200)) % 6
    assert leep(source, labels).score == pytest.approx(nce(source, labels).score, rel=1e-12)


def test_leep_matches_definition_loop():
    labels = np.random.default_rng(4).integers(0, 3, 40)
    theta = random_predictions(40, 5, seed=4)
    assert leep(theta, labels).score == pytest.approx(leep_by_definition(theta, labels), rel=1e-12)


def test_hard_labels_equal_one_hot_predictions():
    labels = balanced_labels(3, 10)
    source = np.random.default_rng(5).integers(0, 4, labels.size)
    assert leep(source, labels).score == leep(np.eye(4)[source], labels).score


def test_nce_uses_argmax_of_predictions():
    labels = balanced_labels(3, 10)
    theta = random_predictions(labels.size, 5, seed=6)
    assert nce(theta, labels).score == nce(theta.argmax(axis=1), labels).score


def test_unpredicted_source_class_is_ignored():
    labels = balanced_labels(3, 10)
    theta = random_predictions(labels.size, 5, seed=7)
    padded = np.hstack([theta, np.zeros((labels.size, 2))])
    result = leep(padded, labels)
    assert result.score == pytest.approx(leep(theta, labels).score, rel=1e-13)
    np.testing.assert_array_equal(result.conditional[:, 5:], 0.0)


# Bounds


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_classes=st.integers(2, 5), n_source=st.integers(1, 6))
def test_bounds_hold(seed, n_classes, n_source):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, 30)])
    theta = rng.dirichlet(np.ones(n_source), size=labels.size)
    frequencies = np.bincount(labels) / labels.size
    label_entropy = -np.sum(frequencies * np.log(frequencies))

    leep_score = leep(theta, labels).score
    nce_score = nce(theta, labels).score
    assert leep_score <= 1e-12
    # H(Y | Z) <= H(Y), so NCE >= -H(Y) >= -log C.
    assert -label_entropy - 1e-12 <= nce_score <= 1e-12
    assert nce_score >= -math.log(n_classes) - 1e-12


# Labels: values present, any type; samples in any order


@pytest.mark.parametrize(
    "relabel",
    [lambda codes: np.array([3, 17, 40])[codes], lambda codes: np.array(["cat", "dog", "ship"])[codes]],
    ids=["sparse-ids", "strings"],
)
def test_relabelling_targets_keeps_scores(relabel):
    labels = np.random.default_rng(8).integers(0, 3, 50)
    theta = random_predictions(50, 4, seed=8)
    assert leep(theta, relabel(labels)).score == pytest.approx(leep(theta, labels).score, rel=1e-13)
    assert nce(theta, relabel(labels)).score == pytest.approx(nce(theta, labels).score, rel=1e-13)


def test_source_and_sample_permutation_invariance():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 3, 50)
    theta = random_predictions(50, 4, seed=9)
    columns, rows = rng.permutation(4), rng.permutation(50)
    assert leep(theta[rows][:, columns], labels[rows]).score == pytest.approx(leep(theta, labels).score, rel=1e-12)
    assert nce(theta[rows][:, columns], labels[rows]).score == pytest.approx(nce(theta, labels).score, rel=1e-12)


def test_string_source_labels_accepted():
    labels = balanced_labels(2, 10)
    source = np.where(labels == 0, "tench", "goldfish")
    assert nce(source, labels).score == pytest.approx(0.0, abs=1e-12)


def test_torch_inputs_accepted():
    labels = balanced_labels(3, 10)
    theta = random_predictions(labels.size, 5)
    assert leep(torch.from_numpy(theta), torch.from_numpy(labels)).score == leep(theta, labels).score


def test_inputs_are_not_mutated():
    labels = balanced_labels(3, 10)
    theta = random_predictions(labels.size, 5)
    theta_before, labels_before = theta.copy(), labels.copy()
    leep(theta, labels)
    nce(theta, labels)
    np.testing.assert_array_equal(theta, theta_before)
    np.testing.assert_array_equal(labels, labels_before)


# Errors


def test_logits_rejected_with_softmax_hint():
    labels = balanced_labels(2, 10)
    logits = np.random.default_rng(10).normal(size=(labels.size, 3))
    with pytest.raises(ValueError, match="softmax"):
        leep(logits, labels)


def test_softmax_over_samples_rejected():
    labels = balanced_labels(2, 10)
    scores = np.random.default_rng(11).random((labels.size, 3))
    normalised_over_samples = scores / scores.sum(axis=0, keepdims=True)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        leep(normalised_over_samples, labels)


def test_single_target_class_rejected():
    theta = random_predictions(10, 3)
    with pytest.raises(ValueError, match="at least 2"):
        leep(theta, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="at least 2"):
        nce(theta, np.zeros(10, dtype=int))


def test_sample_count_mismatch_rejected():
    labels = balanced_labels(2, 10)
    with pytest.raises(ValueError, match="source_predictions has 19 rows but labels has 20"):
        leep(random_predictions(19, 3), labels)
    with pytest.raises(ValueError, match="source_labels has 19 entries but labels has 20"):
        nce(np.zeros(19, dtype=int), labels)


def test_nan_prediction_rejected():
    labels = balanced_labels(2, 10)
    theta = random_predictions(labels.size, 3)
    theta[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"source_predictions contains NaN or inf, first at index \(4, 1\)"):
        leep(theta, labels)
