"""The derivation of EMMS, step by step: noise model, weighted least squares, the K x K QP, invariances.

Each test checks one step of the chapter "From noisy labels to weighted least
squares" on synthetic data, against a computation that does not go through
emms_ref's solver.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from emms_ref import DegenerateScoreWarning, emms_score, solve_simplex_qp
from emms_ref.solver import NumpyBackend, TorchBackend, compute_statistics, standardize_columns

from conftest import make_problem


def _precision_weights(noise_std):
    precision = 1.0 / np.asarray(noise_std, dtype=float) ** 2
    return precision / precision.sum()


def _explicit_residuals(features, f_labels):
    """Residuals (I - P_X) Z_k of the standardised F-labels, from numpy's least squares."""
    backend = NumpyBackend()
    x = standardize_columns(backend, np.asarray(features, dtype=float))
    z = [standardize_columns(backend, np.asarray(block, dtype=float)) for block in f_labels]
    residuals = []
    for block in z:
        coefficients = np.linalg.lstsq(x, block, rcond=None)[0]
        residuals.append(block - x @ coefficients)
    return x, z, residuals


# Step 1: the noise model and its marginal likelihood.


def test_gaussian_product_completes_the_square():
    """sum_k (y_k - z)^2 / s_k^2 = tau (z - sum_k t_k y_k)^2 + a term free of z."""
    rng = np.random.default_rng(0)
    noise_std = np.array([0.4, 1.0, 2.5])
    tau = np.sum(noise_std**-2.0)
    t = _precision_weights(noise_std)
    y = rng.normal(size=3)
    z_values = rng.normal(scale=3.0, size=20)

    left = np.array([np.sum((y - z) ** 2 / noise_std**2) for z in z_values])
    square = tau * (z_values - t @ y) ** 2
    remainder = left - square
    np.testing.assert_allclose(remainder, remainder[0], rtol=1e-12, atol=1e-12)


def test_marginal_likelihood_is_weighted_least_squares():
    """Integrating out the true label leaves -(t^T y - mu)^2 / (2 (s^2 + 1/tau)) + const(y)."""
    rng = np.random.default_rng(1)
    noise_std = np.array([0.3, 0.8, 2.0])
    true_label_std = 0.5
    tau = np.sum(noise_std**-2.0)
    t = _precision_weights(noise_std)
    # One coordinate of the K F-labels is Gaussian with mean mu * 1 and this covariance.
    covariance = true_label_std**2 * np.ones((3, 3)) + np.diag(noise_std**2)
    y = rng.normal(size=3)

    means = rng.normal(scale=2.0, size=15)
    log_likelihood = np.array([multivariate_normal(np.full(3, mu), covariance).logpdf(y) for mu in means])
    weighted_square = (t @ y - means) ** 2 / (2.0 * (true_label_std**2 + 1.0 / tau))
    free_of_mean = log_likelihood + weighted_square
    np.testing.assert_allclose(free_of_mean, free_of_mean[0], rtol=0, atol=1e-10)


def test_precision_weights_minimise_expected_residual():
    """E (mu - sum_k t_k y_k)^2 = s^2 + sum_k t_k^2 s_k^2 is smallest on the simplex at t_k ~ s_k^-2."""
    noise_std = np.array([0.5, 1.0, 2.0, 4.0])
    true_label_std = 0.7
    population_gram = true_label_std**2 * np.ones((4, 4)) + np.diag(noise_std**2)
    solution = solve_simplex_qp(population_gram)
    np.testing.assert_allclose(solution.t, _precision_weights(noise_std), atol=1e-12)
    minimum = 2.0 * solution.value
    assert minimum == pytest.approx(true_label_std**2 + 1.0 / np.sum(noise_std**-2.0), rel=1e-12)


def test_simulated_residual_matches_its_expectation():
    rng = np.random.default_rng(2)
    noise_std = np.array([0.5, 1.5])
    true_label_std = 0.6
    n = 200_000
    true_noise = rng.normal(scale=true_label_std, size=n)
    label_noise = rng.normal(size=(n, 2)) * noise_std
    for t_first in (0.0, 0.3, _precision_weights(noise_std)[0], 1.0):
        t = np.array([t_first, 1.0 - t_first])
        residual = true_noise + label_noise @ t
        expected = true_label_std**2 + np.sum(t**2 * noise_std**2)
        assert np.mean(residual**2) == pytest.approx(expected, rel=0.02)


def test_posterior_mean_is_precision_weighted_average():
    """With a flat prior on z, E[z | y_1..y_K] = sum_k t_k y_k, checked by quadrature."""
    noise_std = np.array([0.5, 1.0, 3.0])
    y = np.array([1.2, -0.4, 2.0])
    grid = np.linspace(-15, 15, 300_001)
    log_density = -0.5 * np.sum((y[:, None] - grid[None, :]) ** 2 / noise_std[:, None] ** 2, axis=0)
    density = np.exp(log_density - log_density.max())
    posterior_mean = np.sum(grid * density) / np.sum(density)
    assert posterior_mean == pytest.approx(_precision_weights(noise_std) @ y, abs=1e-8)


def test_unstandardised_objective_recovers_precision_weights():
    """Minimising the residual of sum_k t_k Z_k over t estimates the precision weights."""
    rng = np.random.default_rng(3)
    n, d, width = 20_000, 6, 8
    noise_std = np.array([0.5, 1.0, 2.0])
    features = rng.normal(size=(n, d))
    true_labels = features @ rng.normal(size=(d, width)) + rng.normal(scale=0.5, size=(n, width))
    f_labels = [true_labels + rng.normal(scale=s, size=(n, width)) for s in noise_std]

    design = np.hstack([np.ones((n, 1)), features])
    residuals = [z - design @ np.linalg.lstsq(design, z, rcond=None)[0] for z in f_labels]
    gram = np.array([[np.sum(a * b) / n for b in residuals] for a in residuals])
    weights = solve_simplex_qp(gram).t
    np.testing.assert_allclose(weights, _precision_weights(noise_std), atol=0.01)


def test_emms_weights_match_the_standardised_population_minimiser():
    """Standardising each F-label block rescales it, so t* is the minimiser of the rescaled population M."""
    rng = np.random.default_rng(4)
    n, d, width = 40_000, 4, 6
    noise_std = np.array([0.5, 1.0, 2.0])
    true_label_std = 0.5
    features = rng.normal(size=(n, d))
    coefficients = rng.normal(size=(d, width))
    true_labels = features @ coefficients + rng.normal(scale=true_label_std, size=(n, width))
    f_labels = [true_labels + rng.normal(scale=s, size=(n, width)) for s in noise_std]

    # Column j of block k has variance ||W_j||^2 + s^2 + s_k^2 and residual (e_j + e^k_j) / c_kj.
    column_std = np.sqrt(np.sum(coefficients**2, axis=0)[None, :] + true_label_std**2 + noise_std[:, None] ** 2)
    noise_covariance = true_label_std**2 * np.ones((3, 3)) + np.diag(noise_std**2)
    population_gram = noise_covariance * (1.0 / column_std @ (1.0 / column_std).T)

    result = emms_score(features, f_labels)
    expected = solve_simplex_qp(population_gram).t
    np.testing.assert_allclose(result.weights, expected, atol=0.01)
    # Dividing by c_k compresses the residual variances (s^2 + s_k^2) / c_k^2 towards
    # each other, so t keeps the order of the precision weights but moves towards uniform.
    precision_weights = _precision_weights(noise_std)
    assert np.all(np.diff(result.weights) < 0)
    assert np.ptp(result.weights) < np.ptp(precision_weights) - 0.05


# Step 2: eliminating W gives g(t) = 1/2 t^T M t.


@pytest.mark.parametrize("seed", range(3))
def test_residual_gram_matches_explicit_projection(seed):
    features, f_labels = make_problem(seed=100 + seed)
    n = features.shape[0]
    _, _, residuals = _explicit_residuals(features, f_labels)
    explicit = np.array([[np.sum(a * b) / n for b in residuals] for a in residuals])
    np.testing.assert_allclose(emms_score(features, f_labels).residual_gram, explicit, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_quadratic_form_equals_least_squares_residual(seed):
    features, f_labels = make_problem(seed=110 + seed, noise_levels=(0.2, 0.7, 1.5, 4.0))
    x, z, _ = _explicit_residuals(features, f_labels)
    n = x.shape[0]
    stats = compute_statistics(NumpyBackend(), features, f_labels)
    rng = np.random.default_rng(seed)
    for t in rng.dirichlet(np.ones(len(z)), size=10):
        target = sum(weight * block for weight, block in zip(t, z))
        fitted = x @ np.linalg.lstsq(x, target, rcond=None)[0]
        direct = np.sum((fitted - target) ** 2) / (2 * n)
        assert 0.5 * t @ stats.residual_gram @ t == pytest.approx(direct, rel=1e-11)


def test_residual_gram_is_label_gram_minus_projected_gram(problem):
    features, f_labels = problem
    stats = compute_statistics(NumpyBackend(), features, f_labels)
    residual_gram = stats.residual_gram
    np.testing.assert_allclose(residual_gram, stats.label_gram - stats.projected_gram, atol=1e-14)
    assert np.linalg.eigvalsh(residual_gram).min() >= -1e-12
    # Standardised blocks have N * L squared entries in total, so Q_kk = L.
    np.testing.assert_allclose(np.diag(stats.label_gram), f_labels[0].shape[1], rtol=1e-12)


@pytest.mark.parametrize("factorization", ["gram", "svd"])
def test_statistics_numpy_and_torch_agree(problem, factorization):
    features, f_labels = problem
    reference = compute_statistics(NumpyBackend(), features, f_labels, factorization=factorization)
    backend = TorchBackend(device="cpu")
    stats = compute_statistics(
        backend,
        backend.asarray(features),
        [backend.asarray(block) for block in f_labels],
        factorization=factorization,
    )
    np.testing.assert_allclose(stats.label_gram, reference.label_gram, rtol=1e-12)
    np.testing.assert_allclose(stats.projected_gram, reference.projected_gram, rtol=1e-11)
    np.testing.assert_allclose(stats.residual_gram, reference.residual_gram, rtol=1e-10, atol=1e-13)
    assert stats.rank == reference.rank


def test_statistics_torch_float32_are_close(problem):
    features, f_labels = problem
    reference = compute_statistics(NumpyBackend(), features, f_labels)
    backend = TorchBackend(device="cpu", dtype="float32")
    stats = compute_statistics(backend, backend.asarray(features), [backend.asarray(block) for block in f_labels])
    np.testing.assert_allclose(stats.residual_gram, reference.residual_gram, rtol=1e-3, atol=1e-4)


# Step 3: the score depends on X only through the column space of the centred X.


def test_features_inside_the_column_space_change_nothing(problem):
    features, f_labels = problem
    rng = np.random.default_rng(5)
    combinations = features @ rng.normal(size=(features.shape[1], 5)) + 3.0
    widened = np.hstack([features, combinations])
    assert emms_score(widened, f_labels).score == pytest.approx(emms_score(features, f_labels).score, rel=1e-9)


def test_random_features_shrink_residual_on_average():
    """K = 1: appending k Gaussian columns keeps a fraction 1 - k / (N - 1 - r) of the residual on average."""
    rng = np.random.default_rng(6)
    n, d, width = 80, 8, 5
    features = rng.normal(size=(n, d))
    f_labels = features @ rng.normal(size=(d, width)) + rng.normal(size=(n, width))
    base = emms_score(features, f_labels)
    free_dimensions = n - 1 - base.rank

    for extra in (10, 60):
        ratios = []
        for _ in range(100):
            widened = np.hstack([features, rng.normal(size=(n, extra))])
            ratios.append(emms_score(widened, f_labels).score / base.score)
        ratios = np.asarray(ratios)
        expected = 1.0 - extra / free_dimensions
        standard_error = ratios.std(ddof=1) / np.sqrt(ratios.size)
        assert abs(ratios.mean() - expected) < 5 * standard_error + 1e-12
        assert np.all(ratios <= 1.0 + 1e-12)


def test_degeneracy_follows_the_rank_not_the_dimension():
    """Features of rank r in D > N dimensions degenerate at N = r + 1 samples, not at N = D."""
    rng = np.random.default_rng(7)
    rank, n_features, width = 30, 200, 4
    mixing = rng.normal(size=(rank, n_features))
    for n_samples, degenerate in ((rank + 1, True), (rank + 2, False), (rank + 20, False)):
        latent = rng.normal(size=(n_samples, rank))
        features = latent @ mixing
        f_labels = [rng.normal(size=(n_samples, width)) for _ in range(2)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = emms_score(features, f_labels)
        warned = any(issubclass(item.category, DegenerateScoreWarning) for item in caught)
        assert result.rank == rank
        assert warned == degenerate
        if degenerate:
            assert result.score == 0.0
        else:
            assert result.score < -1e-3


def test_degenerate_score_is_the_limit_of_shrinking_n():
    """Below N = D + 2 the residual vanishes, and just above it the score is small but negative."""
    rng = np.random.default_rng(8)
    n_features, width = 40, 6
    scores = {}
    for n_samples in (n_features + 1, n_features + 2, n_features + 5, 4 * n_features):
        features = rng.normal(size=(n_samples, n_features))
        f_labels = [rng.normal(size=(n_samples, width)) for _ in range(2)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateScoreWarning)
            scores[n_samples] = emms_score(features, f_labels).score
    assert scores[n_features + 1] == 0.0
    assert -0.2 < scores[n_features + 2] < 0.0
    assert scores[4 * n_features] < scores[n_features + 5] < scores[n_features + 2]


def test_torch_inputs_give_the_same_statistics_as_numpy(problem):
    features, f_labels = problem
    tensors = [torch.from_numpy(block) for block in f_labels]
    result = emms_score(torch.from_numpy(features), tensors)
    np.testing.assert_allclose(result.residual_gram, emms_score(features, f_labels).residual_gram, rtol=1e-10)
