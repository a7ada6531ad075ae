"""Convergence of the EMMS solvers and the deviations of the official release.

Each test checks one statement of the chapter "Convergence of alternating
minimisation" on synthetic data.
"""

import numpy as np
import pytest
from scipy.optimize import brentq, minimize

from emms_ref import emms_score, project_to_simplex, solve_simplex_qp, sparsemax
from emms_ref.solver import (
    NumpyBackend,
    RegressionStatistics,
    alternating_minimization,
    compute_statistics,
    standardize_columns,
)

from conftest import make_problem


def _random_statistics(seed, n=60, d=5, width=4, k=3):
    """Statistics of a small noisy problem: every F-label is a scaled signal plus its own noise."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, d))
    signal = features @ rng.normal(size=(d, width))
    noise_std = rng.uniform(0.2, 3.0, size=k)
    f_labels = [rng.uniform(0.2, 2.0) * signal + s * rng.normal(size=(n, width)) for s in noise_std]
    return compute_statistics(NumpyBackend(), features, f_labels)


def _projected_gradient(residual_gram, t_start, n_iter):
    """Run projected gradient on g(t) = 1/2 t^T M t with step 1 / lambda_max(M) and return all iterates."""
    beta = np.linalg.eigvalsh(residual_gram)[-1]
    iterates = [np.asarray(t_start, dtype=float)]
    for _ in range(n_iter - 1):
        t = iterates[-1]
        iterates.append(project_to_simplex(t - residual_gram @ t / beta))
    return np.asarray(iterates), beta


# Exact block-coordinate descent.


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_exact_bcd_is_monotone_and_reaches_the_optimum(k):
    stats = _random_statistics(seed=200 + k, n=200, d=10, width=6, k=k)
    run = alternating_minimization(stats, t_step="exact", max_iter=5000, tol=1e-13)
    optimum = solve_simplex_qp(stats.residual_gram)
    rounding = 1e-12 * run.history[0]

    assert np.all(np.diff(run.history) <= rounding)
    assert np.all(run.t_step_history <= run.history[:-1] + rounding)
    assert run.history[-1] == pytest.approx(optimum.value, rel=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_fitted_objective_equals_quadratic_form(seed):
    features, f_labels = make_problem(seed=210 + seed)
    backend = NumpyBackend()
    x = standardize_columns(backend, features)
    z = [standardize_columns(backend, block) for block in f_labels]
    n = x.shape[0]
    residual_gram = emms_score(features, f_labels).residual_gram
    for t in np.random.default_rng(seed).dirichlet(np.ones(3), size=20):
        target = sum(weight * block for weight, block in zip(t, z))
        w = np.linalg.lstsq(x, target, rcond=None)[0]
        objective = np.sum((x @ w - target) ** 2) / (2 * n)
        assert objective == pytest.approx(0.5 * t @ residual_gram @ t, rel=1e-12)


def test_t_step_gradient_equals_m_times_t():
    """d/ds F(W(t), s) at s = t equals M t = grad g(t), so a projected-gradient t-step is a step on g."""
    stats = _random_statistics(seed=220, k=4)
    t = np.random.default_rng(0).dirichlet(np.ones(4))
    step = 1e-6
    finite_difference = np.array(
        [(stats.objective(t, t + step * e) - stats.objective(t, t - step * e)) / (2 * step) for e in np.eye(4)]
    )
    np.testing.assert_allclose(finite_difference, stats.residual_gram @ t, rtol=1e-6, atol=1e-9)


# Projected gradient and the O(1/k) bound.


@pytest.mark.parametrize("seed", range(4))
def test_projected_gradient_stays_under_the_bubeck_bound(seed):
    rng = np.random.default_rng(230 + seed)
    k = 8
    # Eigenvalues from 1 down to 1e-6 make the problem ill-conditioned.
    basis = np.linalg.qr(rng.normal(size=(k, k)))[0]
    residual_gram = basis @ np.diag(np.geomspace(1.0, 1e-6, k)) @ basis.T
    residual_gram = 0.5 * (residual_gram + residual_gram.T)
    optimum = solve_simplex_qp(residual_gram)
    t_start = np.zeros(k)
    t_start[seed] = 1.0

    iterates, beta = _projected_gradient(residual_gram, t_start, 3000)
    values = 0.5 * np.einsum("ij,jk,ik->i", iterates, residual_gram, iterates)
    gap = values - optimum.value
    iteration = np.arange(1, len(gap) + 1)
    bound = (3 * beta * np.sum((t_start - optimum.t) ** 2) + gap[0]) / iteration

    assert np.all(gap <= bound + 1e-15)
    assert np.all(np.diff(values) <= 1e-15)
    # The enumerated optimum is a lower bound for every iterate.
    assert gap.min() >= -1e-12
    assert gap[-1] <= 1e-2 * gap[0]


# Optimality conditions and the simplex projection.


@pytest.mark.parametrize("seed", range(5))
def test_kkt_conditions_hold_at_the_qp_optimum(seed):
    stats = _random_statistics(seed=240 + seed, n=40, d=20, width=3, k=6)
    residual_gram = stats.residual_gram
    optimum = solve_simplex_qp(residual_gram)
    gradient = residual_gram @ optimum.t
    support = optimum.t > 1e-12
    multiplier = gradient[support].mean()

    np.testing.assert_allclose(gradient[support], multiplier, rtol=1e-9, atol=1e-12)
    assert np.all(gradient[~support] >= multiplier - 1e-12)
    # t^T grad g(t) = 2 g(t) on the simplex, so the multiplier is twice the optimal value.
    assert multiplier == pytest.approx(2 * optimum.value, rel=1e-9)


def test_sparsemax_equals_euclidean_projection():
    rng = np.random.default_rng(250)
    for _ in range(50):
        k = int(rng.integers(2, 10))
        v = rng.normal(scale=rng.uniform(0.1, 5.0), size=k)
        projected = sparsemax(v)

        # Independent solver 1: a generic constrained minimiser.
        reference = minimize(
            lambda t: np.sum((t - v) ** 2),
            np.full(k, 1.0 / k),
            jac=lambda t: 2 * (t - v),
            bounds=[(0, None)] * k,
            constraints=[{"type": "eq", "fun": lambda t: t.sum() - 1, "jac": lambda t: np.ones(k)}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        ).x
        np.testing.assert_allclose(projected, reference, atol=1e-6)

        # Independent solver 2: the threshold tau with sum(max(v - tau, 0)) = 1, by root finding.
        tau = brentq(lambda c: np.maximum(v - c, 0).sum() - 1, v.min() - 1, v.max(), xtol=1e-15)
        np.testing.assert_allclose(projected, np.maximum(v - tau, 0), atol=1e-12)

        # The projection p satisfies <v - p, q - p> <= 0 for every vertex q of the simplex.
        assert np.all((v - projected) @ (np.eye(k) - projected).T <= 1e-12)


# The fast t-step of Meng et al. (NeurIPS 2023): least squares in t, then sparsemax.


def test_fast_t_step_often_raises_objective():
    raising_runs = 0
    n_instances = 200
    for seed in range(n_instances):
        stats = _random_statistics(seed=1000 + seed)
        run = alternating_minimization(stats, t_step="fast", max_iter=200, tol=1e-12)
        raised = run.t_step_history > run.history[:-1] * (1 + 1e-12)
        raising_runs += int(raised.any())
    assert raising_runs / n_instances > 0.5


def test_exact_t_step_never_raises_the_objective():
    for seed in range(50):
        stats = _random_statistics(seed=1000 + seed)
        run = alternating_minimization(stats, t_step="exact", max_iter=200, tol=1e-12)
        assert np.all(run.t_step_history <= run.history[:-1] * (1 + 1e-12))


def test_fast_t_step_stalls_away_from_the_optimum():
    distances, gaps = [], []
    for seed in range(100):
        stats = _random_statistics(seed=2000 + seed)
        run = alternating_minimization(stats, t_step="fast", max_iter=500, tol=1e-13)
        optimum = solve_simplex_qp(stats.residual_gram)
        distances.append(np.max(np.abs(run.weights - optimum.t)))
        gaps.append(run.history[-1] / optimum.value - 1)
    distances = np.asarray(distances)
    gaps = np.asarray(gaps)
    assert np.all(gaps >= -1e-10)
    assert np.mean(distances > 1e-4) > 0.5
    assert np.mean(gaps > 1e-6) > 0.5


def test_optimum_is_fixed_point_of_exact_step_only():
    """From t*, the exact t-step returns t*, while the fast t-step moves to a point with larger F."""
    moved = 0
    for seed in range(20):
        stats = _random_statistics(seed=3000 + seed)
        t_star = solve_simplex_qp(stats.residual_gram).t
        exact = alternating_minimization(stats, t_step="exact", max_iter=1, t_init=t_star)
        fast = alternating_minimization(stats, t_step="fast", max_iter=1, t_init=t_star)
        np.testing.assert_allclose(exact.weights, t_star, atol=1e-9)
        assert fast.t_step_history[0] >= exact.t_step_history[0] - 1e-12
        moved += int(fast.t_step_history[0] > stats.objective(t_star) * (1 + 1e-9))
    assert moved >= 15


def test_fast_t_step_exact_for_isotropic_q():
    """Q = c I makes the Q-metric projection Euclidean, so sparsemax of the LS solution is the exact step."""
    rng = np.random.default_rng(260)
    k = 4
    factor = rng.normal(size=(k, k))
    stats = RegressionStatistics(
        label_gram=3.0 * np.eye(k),
        projected_gram=factor @ factor.T / (2 * np.linalg.norm(factor) ** 2),
        n_samples=100,
        width=3,
        rank=5,
        n_features=5,
    )
    for t in rng.dirichlet(np.ones(k), size=10):
        fast = alternating_minimization(stats, t_step="fast", max_iter=1, t_init=t).weights
        exact = alternating_minimization(stats, t_step="exact", max_iter=1, t_init=t).weights
        np.testing.assert_allclose(fast, exact, atol=1e-10)


# Deviations of the official release.


def _standardize_in_place(stacked, epsilon=1e-8):
    """Standardise each (N, L) block of an (N, L, K) array by writing into it, as the official release does."""
    for k in range(stacked.shape[2]):
        block = stacked[:, :, k]
        stacked[:, :, k] = (block - block.mean(axis=0)) / (block.std(axis=0) + epsilon)


def test_in_place_standardisation_overwrites_input(problem):
    features, f_labels = problem
    stacked = np.stack(f_labels, axis=2)
    original = stacked.copy()
    _standardize_in_place(stacked)
    assert not np.allclose(stacked, original)
    np.testing.assert_allclose(stacked.mean(axis=0), 0.0, atol=1e-12)

    untouched = original.copy()
    emms_score(features, untouched, method="release")
    emms_score(features, untouched)
    np.testing.assert_array_equal(untouched, original)


def test_release_score_scales_with_l_squared(problem):
    features, f_labels = problem
    width = f_labels[0].shape[1]
    release = emms_score(features, f_labels, method="release")
    mean_squared = 2 * release.objective / width
    assert release.score == pytest.approx(-(width**2) * mean_squared, rel=1e-12)


def test_release_uses_stale_uniform_head(problem):
    """The release residual is F(W(uniform), t1), not g(t1), up to its std + 1e-8."""
    features, f_labels = problem
    release = emms_score(features, f_labels, method="release")
    stats = compute_statistics(NumpyBackend(), features, f_labels)
    uniform = np.full(3, 1.0 / 3)
    one_step = alternating_minimization(stats, t_step="fast", max_iter=1, tol=0.0)

    np.testing.assert_allclose(release.weights, one_step.weights, atol=1e-7)
    assert release.objective == pytest.approx(stats.objective(uniform, release.weights), rel=1e-6)
    assert release.objective >= stats.objective(release.weights) - 1e-12


def test_repeated_in_place_standardisation_grows_tiny_columns():
    """A column with std far below 1e-8 is rescaled again by every further in-place call."""
    rng = np.random.default_rng(280)
    stacked = rng.normal(size=(200, 4, 2))
    stacked[:, 0, 0] = 1e-10 * rng.normal(size=200)
    _standardize_in_place(stacked)
    after_one = stacked[:, 0, 0].std()
    _standardize_in_place(stacked)
    after_two = stacked[:, 0, 0].std()
    assert after_one == pytest.approx(1e-10 / (1e-10 + 1e-8), rel=0.1)
    assert after_two > 0.9
    # Columns with std far above 1e-8 are unchanged by the second call up to about 1e-8.
    np.testing.assert_allclose(stacked[:, 1:, :].std(axis=0), 1.0, rtol=1e-7)


def test_rounding_noise_columns_match_release(problem):
    """A column at rounding-noise level counts as constant, so ours matches the release."""
    features, f_labels = problem
    rng = np.random.default_rng(290)
    with_tiny = [np.hstack([block, 1e-30 * rng.normal(size=(block.shape[0], 1))]) for block in f_labels]
    with_zero = [np.hstack([block, np.zeros((block.shape[0], 1))]) for block in f_labels]

    def release_minus_one_step(blocks):
        stats = compute_statistics(NumpyBackend(), features, blocks)
        one_step = alternating_minimization(stats, t_step="fast", max_iter=1, tol=0.0)
        ours = stats.objective(np.full(3, 1.0 / 3), one_step.weights)
        release = emms_score(features, blocks, method="release").objective
        return abs(release - ours) / ours

    assert release_minus_one_step(with_zero) < 1e-7
    assert release_minus_one_step(with_tiny) < 1e-7


def test_release_epsilon_shrinks_near_constant_columns():
    """std + 1e-8 maps a column with std 1e-9 to std about 0.09, while ours scales it to unit std."""
    rng = np.random.default_rng(270)
    column = 5.0 + 1e-9 * rng.normal(size=1000)
    release_std = ((column - column.mean()) / (column.std() + 1e-8)).std()
    ours_std = standardize_columns(NumpyBackend(), column[:, None]).std()
    assert release_std == pytest.approx(1e-9 / (1e-9 + 1e-8), rel=0.1)
    assert ours_std == pytest.approx(1.0, rel=1e-6)
