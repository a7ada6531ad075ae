"""H-score: the C - 1 degeneracy, Pillai's trace, bounds, invariance and Ledoit-Wolf shrinkage."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emms_ref.baselines import h_score, ledoit_wolf_shrinkage


def make_classification(seed=0, n_samples=200, n_features=12, n_classes=4):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n_samples - n_classes)])
    features = rng.normal(size=(n_classes, n_features))[labels] + 1.5 * rng.normal(size=(n_samples, n_features))
    return features, labels


def textbook_h_score(features, labels):
    """tr(pinv(cov f) cov(E[f | y])) with both covariances normalised by 1/N."""
    centred = features - features.mean(axis=0)
    class_means = np.zeros_like(centred)
    for value in np.unique(labels):
        class_means[labels == value] = centred[labels == value].mean(axis=0)
    covariance = centred.T @ centred / len(labels)
    between = class_means.T @ class_means / len(labels)
    return np.trace(np.linalg.pinv(covariance) @ between)


def squared_canonical_correlations(features, labels):
    """Sum of squared canonical correlations between centred features and centred one-hot labels."""
    centred = features - features.mean(axis=0)
    indicators = (labels[:, None] == np.unique(labels)[None, :]).astype(float)
    indicators -= indicators.mean(axis=0)
    feature_basis = np.linalg.qr(centred)[0]
    label_basis = np.linalg.svd(indicators, full_matrices=False)[0][:, : len(np.unique(labels)) - 1]
    return np.sum(np.linalg.svd(feature_basis.T @ label_basis, compute_uv=False) ** 2)


# The degeneracy for N <= D


@pytest.mark.parametrize("shape", [(20, 19), (20, 20), (20, 100), (50, 400)])
def test_c_minus_1_once_d_reaches_n_minus_1(shape):
    # Exact when rank(centred X) = N - 1, which generic features reach once D >= N - 1.
    features, labels = make_classification(n_samples=shape[0], n_features=shape[1], n_classes=4)
    result = h_score(features, labels)
    assert result.rank == shape[0] - 1
    assert result.score == pytest.approx(3.0, abs=1e-8)


def test_low_rank_features_stay_below_c_minus_1():
    # D = 100 >= N = 20, but the features have rank 3, so the statement fails.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(20, 3)) @ rng.normal(size=(3, 100))
    labels = np.arange(20) % 4
    result = h_score(features, labels)
    assert result.rank == 3
    assert result.score < 3.0 - 0.1


def test_shrinkage_breaks_the_degeneracy():
    scores = []
    for seed in range(3):
        features, labels = make_classification(seed=seed, n_samples=20, n_features=100)
        scores.append(h_score(features, labels, shrinkage="ledoit_wolf").score)
    assert max(scores) < 3.0
    assert len(set(np.round(scores, 6))) == 3


# Independent computations


@pytest.mark.parametrize("shape", [(200, 12), (15, 40)])
def test_equals_textbook_formula(shape):
    features, labels = make_classification(n_samples=shape[0], n_features=shape[1])
    assert h_score(features, labels).score == pytest.approx(textbook_h_score(features, labels), rel=1e-8)


def test_equals_pillai_trace():
    features, labels = make_classification()
    assert h_score(features, labels).score == pytest.approx(squared_canonical_correlations(features, labels), rel=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_features=st.integers(1, 30), n_classes=st.integers(2, 6))
def test_bounds_hold(seed, n_features, n_classes):
    features, labels = make_classification(seed=seed, n_samples=40, n_features=n_features, n_classes=n_classes)
    plain = h_score(features, labels).score
    shrunk = h_score(features, labels, shrinkage="ledoit_wolf").score
    assert -1e-10 <= plain <= min(n_classes - 1, n_features) + 1e-8
    assert -1e-10 <= shrunk <= plain + 1e-10


def test_invariant_to_invertible_feature_maps():
    features, labels = make_classification()
    mixing = np.random.default_rng(1).normal(size=(12, 12))
    shifted = features @ mixing + 5.0
    assert h_score(shifted, labels).score == pytest.approx(h_score(features, labels).score, rel=1e-8)


# Shrinkage


def test_ledoit_wolf_intensity_matches_scikit_learn():
    covariance = pytest.importorskip("sklearn.covariance")
    for shape in [(200, 12), (30, 80)]:
        features, labels = make_classification(n_samples=shape[0], n_features=shape[1])
        expected = covariance.ledoit_wolf_shrinkage(features)
        assert h_score(features, labels, shrinkage="ledoit_wolf").shrinkage == pytest.approx(expected, rel=1e-10)


def test_shrunk_score_matches_direct_formula():
    covariance = pytest.importorskip("sklearn.covariance")
    features, labels = make_classification(n_samples=40, n_features=60)
    estimator = covariance.LedoitWolf().fit(features)
    centred = features - features.mean(axis=0)
    class_means = np.zeros_like(centred)
    for value in np.unique(labels):
        class_means[labels == value] = centred[labels == value].mean(axis=0)
    between = class_means.T @ class_means / len(labels)
    expected = np.trace(np.linalg.solve(estimator.covariance_, (1 - estimator.shrinkage_) * between))
    assert h_score(features, labels, shrinkage="ledoit_wolf").score == pytest.approx(expected, rel=1e-8)


def test_zero_shrinkage_equals_plain():
    features, labels = make_classification()
    assert h_score(features, labels, shrinkage=0.0).score == pytest.approx(h_score(features, labels).score, rel=1e-12)


def test_full_shrinkage_gives_zero():
    features, labels = make_classification()
    assert h_score(features, labels, shrinkage=1.0).score == 0.0


def test_ledoit_wolf_zero_for_isotropic_covariance():
    assert ledoit_wolf_shrinkage(np.full(5, 2.0), fourth_moment=1e3, n_samples=10, n_features=5) == 0.0


@pytest.mark.parametrize("shrinkage", ["auto", -0.1, 1.5, float("nan"), True])
def test_invalid_shrinkage_rejected(shrinkage):
    features, labels = make_classification()
    with pytest.raises(ValueError, match="shrinkage must be None, 'ledoit_wolf' or a number in"):
        h_score(features, labels, shrinkage=shrinkage)


def test_torch_cpu_matches_numpy():
    features, labels = make_classification()
    for shrinkage in (None, "ledoit_wolf"):
        reference = h_score(features, labels, shrinkage=shrinkage).score
        assert h_score(features, labels, shrinkage=shrinkage, device="cpu").score == pytest.approx(reference, abs=1e-10)
