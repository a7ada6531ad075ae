"""emms_score against independent computations, closed forms and invariances."""

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from emms_ref import DegenerateScoreWarning, emms_score

from conftest import make_problem


def _standardize(a):
    centred = a - a.mean(axis=0)
    std = centred.std(axis=0)
    return centred / np.where(std > 0, std, 1.0)


def _residual_per_entry(features, f_labels, t):
    """Direct computation: least squares at fixed t, explicit W, mean squared residual."""
    x = _standardize(features)
    target = sum(weight * _standardize(z) for weight, z in zip(t, f_labels))
    w = np.linalg.lstsq(x, target, rcond=None)[0]
    return float(np.mean((x @ w - target) ** 2))


@pytest.mark.parametrize("seed", range(5))
def test_exact_matches_brute_force_two_labels(seed):
    features, f_labels = make_problem(seed=seed, noise_levels=(0.5, 2.0))
    result = emms_score(features, f_labels)

    search = minimize_scalar(
        lambda a: _residual_per_entry(features, f_labels, (a, 1 - a)),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    endpoints = [_residual_per_entry(features, f_labels, t) for t in ((1, 0), (0, 1))]
    best = min([search.fun, *endpoints])
    assert result.score == pytest.approx(-best, rel=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_exact_matches_brute_force_three_labels(seed):
    features, f_labels = make_problem(seed=10 + seed)
    result = emms_score(features, f_labels)

    def residual(t):
        return _residual_per_entry(features, f_labels, t)

    grid = np.linspace(0, 1, 21)
    candidates = [np.array((a, b, 1 - a - b)) for a in grid for b in grid if a + b <= 1 + 1e-12]
    start = min(candidates, key=residual)
    refined = minimize(
        residual,
        start,
        bounds=[(0, 1)] * 3,
        constraints=[{"type": "eq", "fun": lambda t: t.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    # No point of the search may beat the exact optimum, and the search gets close.
    assert -result.score <= refined.fun + 1e-12
    assert -result.score == pytest.approx(refined.fun, rel=1e-6)
    assert -result.score == pytest.approx(residual(result.weights), rel=1e-9)


def test_single_label_closed_form():
    features, f_labels = make_problem(seed=3, noise_levels=(1.0,))
    result = emms_score(features, f_labels[0])
    expected = _residual_per_entry(features, f_labels, (1.0,))
    assert result.score == pytest.approx(-expected, rel=1e-10)
    np.testing.assert_array_equal(result.weights, [1.0])


def test_noise_free_label_takes_all_weight():
    features, f_labels = make_problem(seed=4, noise_levels=(0.0, 1.0, 2.0))
    result = emms_score(features, f_labels)
    assert result.score == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(result.weights, [1.0, 0.0, 0.0], atol=1e-9)


def test_weights_favour_less_noisy_labels(problem):
    features, f_labels = problem
    result = emms_score(features, f_labels)
    assert result.weights[0] > result.weights[1] > result.weights[2]


def test_score_is_in_unit_range(problem):
    result = emms_score(*problem)
    assert -1.0 <= result.score <= 0.0


def test_objective_and_score_agree(problem):
    result = emms_score(*problem)
    width = problem[1][0].shape[1]
    assert result.score == pytest.approx(-2.0 * result.objective / width)
    assert result.objective == pytest.approx(0.5 * result.weights @ result.residual_gram @ result.weights)


@pytest.mark.parametrize("scale", [1e-8, 1e-3, 1e4, 1e9])
def test_invariant_to_feature_scale(problem, scale):
    features, f_labels = problem
    assert emms_score(features * scale, f_labels).score == pytest.approx(
        emms_score(features, f_labels).score, rel=1e-9
    )


def test_invariant_to_invertible_feature_remixing(problem):
    features, f_labels = problem
    rng = np.random.default_rng(5)
    mixing = rng.normal(size=(features.shape[1],) * 2) + 3 * np.eye(features.shape[1])
    shift = rng.normal(size=features.shape[1])
    assert emms_score(features @ mixing + shift, f_labels).score == pytest.approx(
        emms_score(features, f_labels).score, rel=1e-8
    )


def test_invariant_to_sample_permutation(problem):
    features, f_labels = problem
    order = np.random.default_rng(6).permutation(features.shape[0])
    permuted = emms_score(features[order], [z[order] for z in f_labels])
    assert permuted.score == pytest.approx(emms_score(features, f_labels).score, rel=1e-12)


def test_invariant_to_f_label_column_scale(problem):
    features, f_labels = problem
    scaled = [z * np.linspace(0.1, 10, z.shape[1]) + 5.0 for z in f_labels]
    assert emms_score(features, scaled).score == pytest.approx(
        emms_score(features, f_labels).score, rel=1e-10
    )


def test_added_features_never_lower_the_score(problem):
    features, f_labels = problem
    rng = np.random.default_rng(8)
    base = emms_score(features[:, :6], f_labels).score
    for extra in range(6, features.shape[1] + 1):
        with_more = np.hstack([features[:, :extra], rng.normal(size=(features.shape[0], 2))])
        assert emms_score(with_more, f_labels).score >= base - 1e-12
        base = emms_score(features[:, :extra], f_labels).score


def test_degenerate_when_samples_do_not_exceed_features():
    features, f_labels = make_problem(seed=9, n_samples=10, n_features=12)
    with pytest.warns(DegenerateScoreWarning, match="N > D"):
        result = emms_score(features, f_labels)
    assert result.score == 0.0
    assert np.isfinite(result.weights).all()


def test_constant_columns_are_ignored(problem):
    features, f_labels = problem
    padded_features = np.hstack([features, np.full((features.shape[0], 3), 0.1)])
    padded_labels = [np.hstack([z, np.full((z.shape[0], 2), 7.0)]) for z in f_labels]
    reference = emms_score(features, f_labels)
    result = emms_score(padded_features, padded_labels)
    width = f_labels[0].shape[1]
    # Two extra all-zero label columns: same residual, divided by L + 2.
    assert result.score == pytest.approx(reference.score * width / (width + 2), rel=1e-10)
    np.testing.assert_allclose(result.weights, reference.weights, atol=1e-9)


@pytest.mark.parametrize("factorization", ["cholesky", "gram", "svd"])
def test_factorizations_agree(problem, factorization):
    result = emms_score(*problem, factorization=factorization)
    assert result.score == pytest.approx(emms_score(*problem).score, rel=1e-10)


def test_auto_factorization_uses_cholesky(problem, monkeypatch):
    from emms_ref.solver import statistics

    def no_eigh(*args, **kwargs):
        raise AssertionError("the well-conditioned problem should not need an eigendecomposition")

    monkeypatch.setattr(statistics, "_projected_coordinates_gram_matrix", no_eigh)
    result = emms_score(*problem)
    assert result.rank == problem[0].shape[1]


def test_auto_factorization_falls_back_on_collinear_features():
    features, f_labels = make_problem(seed=12)
    collinear = np.hstack([features, features[:, :2] @ np.array([[1.0], [2.0]])])
    auto = emms_score(collinear, f_labels)
    gram = emms_score(collinear, f_labels, factorization="gram")
    assert auto.rank == gram.rank == features.shape[1]
    assert auto.score == pytest.approx(gram.score, rel=1e-10)
    assert auto.score == pytest.approx(emms_score(features, f_labels).score, rel=1e-8)
    with pytest.raises(np.linalg.LinAlgError, match="factorization='auto'"):
        emms_score(collinear, f_labels, factorization="cholesky")


def test_auto_factorization_falls_back_on_nearly_collinear_features():
    # A direction with singular-value ratio 1e-9 passes Cholesky but not the
    # condition check, so "auto" must return the eigendecomposition's result.
    features, f_labels = make_problem(seed=13)
    rng = np.random.default_rng(13)
    nearly = features[:, :1] + 1e-9 * rng.normal(size=(features.shape[0], 1))
    features = np.hstack([features, nearly])
    auto = emms_score(features, f_labels)
    gram = emms_score(features, f_labels, factorization="gram")
    assert auto.rank == gram.rank
    assert auto.score == pytest.approx(gram.score, rel=1e-10)


def test_svd_factorization_matches_lstsq_on_ill_conditioned_features():
    features, f_labels = make_problem(seed=11)
    rng = np.random.default_rng(11)
    nearly_collinear = features[:, :1] + 1e-9 * rng.normal(size=(features.shape[0], 1))
    features = np.hstack([features, nearly_collinear])
    result = emms_score(features, f_labels, factorization="svd")
    expected = _residual_per_entry(features, f_labels, result.weights)
    assert result.score == pytest.approx(-expected, rel=1e-9)
