"""TransRate: the coding-rate formula, its properties and errors."""

import numpy as np
import pytest

from emms_ref.baselines import transrate


def make_classification(seed=0, n_samples=120, n_features=8, n_classes=3, separation=2.0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n_samples - n_classes)])
    means = separation * rng.normal(size=(n_classes, n_features))
    return means[labels] + rng.normal(size=(n_samples, n_features)), labels


def coding_rate_slogdet(z, eps):
    n_rows, n_columns = z.shape
    sign, log_det = np.linalg.slogdet(np.eye(n_columns) + z.T @ z / (n_rows * eps))
    assert sign > 0
    return 0.5 * log_det


def transrate_slogdet(features, labels, eps=1e-4):
    centred = features - features.mean(axis=0)
    classes = np.unique(labels)
    conditional = np.mean([coding_rate_slogdet(centred[labels == value], eps) for value in classes])
    return coding_rate_slogdet(centred, eps) - conditional


@pytest.mark.parametrize("shape", [(120, 8), (30, 50)], ids=["N>D", "N<D"])
def test_equals_slogdet_formula(shape):
    features, labels = make_classification(n_samples=shape[0], n_features=shape[1])
    result = transrate(features, labels)
    assert result.score == pytest.approx(transrate_slogdet(features, labels), rel=1e-9)
    assert result.score == pytest.approx(result.rate - result.conditional_rate, rel=1e-15)


def test_eps_is_a_parameter():
    features, labels = make_classification()
    assert transrate(features, labels, eps=1e-2).score == pytest.approx(
        transrate_slogdet(features, labels, eps=1e-2), rel=1e-9
    )


def test_separated_classes_score_higher():
    features, labels = make_classification(separation=3.0)
    mixed, _ = make_classification(separation=0.0)
    assert transrate(features, labels).score > transrate(mixed, labels).score


def test_scale_effect_depends_on_class_sizes():
    # eps is absolute. When every eigenvalue is far above n eps, scaling by c
    # adds rank/2 * log c^2 to each coding rate; with n_c > D every rate has
    # rank D and the shift cancels.
    features, labels = make_classification(n_samples=120, n_features=8)
    assert transrate(10 * features, labels).score == pytest.approx(transrate(features, labels).score, rel=1e-3)

    # With n_c < D the class rates have rank n_c < D and the shift remains:
    # (rank(Z) - mean_c rank(Z_c)) * log(10) = (29 - 10) * log(10), about 44 nats.
    wide, wide_labels = make_classification(n_samples=30, n_features=50)
    shift = transrate(10 * wide, wide_labels).score - transrate(wide, wide_labels).score
    assert shift > 10.0


def test_tiny_features_score_near_zero():
    features, labels = make_classification()
    assert abs(transrate(1e-6 * features, labels).score) < 1e-3


def test_invariant_to_shift_and_rotation():
    features, labels = make_classification()
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(8, 8)))[0]
    moved = features @ rotation - 7.0
    assert transrate(moved, labels).score == pytest.approx(transrate(features, labels).score, rel=1e-9)


def test_torch_cpu_matches_numpy():
    features, labels = make_classification()
    assert transrate(features, labels, device="cpu").score == pytest.approx(
        transrate(features, labels).score, abs=1e-9
    )


@pytest.mark.parametrize("eps", [0.0, -1e-4, float("inf")])
def test_invalid_eps_rejected(eps):
    features, labels = make_classification()
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        transrate(features, labels, eps=eps)
