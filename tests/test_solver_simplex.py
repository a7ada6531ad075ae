"""Simplex projection (sparsemax) and the simplex-constrained QP."""

import numpy as np
import pytest
from scipy.optimize import minimize

from emms_ref.solver import project_to_simplex, simplex_qp_objective, solve_simplex_qp, sparsemax


def _projection_by_slsqp(v):
    """Independent reference: minimise ||t - v||^2 on the simplex with SLSQP."""
    k = len(v)
    result = minimize(
        lambda t: np.sum((t - v) ** 2),
        np.full(k, 1.0 / k),
        jac=lambda t: 2 * (t - v),
        bounds=[(0, None)] * k,
        constraints=[{"type": "eq", "fun": lambda t: t.sum() - 1, "jac": lambda t: np.ones(k)}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return result.x


def _qp_by_slsqp(Q, b):
    k = len(b)
    best = None
    for start in np.eye(k).tolist() + [np.full(k, 1.0 / k)]:
        result = minimize(
            lambda t: 0.5 * t @ Q @ t - b @ t,
            np.asarray(start),
            jac=lambda t: Q @ t - b,
            bounds=[(0, None)] * k,
            constraints=[{"type": "eq", "fun": lambda t: t.sum() - 1, "jac": lambda t: np.ones(k)}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        if best is None or result.fun < best.fun:
            best = result
    return best


@pytest.mark.parametrize("seed", range(20))
def test_projection_matches_slsqp(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(scale=2.0, size=int(rng.integers(1, 9)))
    np.testing.assert_allclose(project_to_simplex(v), _projection_by_slsqp(v), atol=1e-6)


def test_projection_known_values():
    np.testing.assert_allclose(project_to_simplex([0.2, 0.3, 0.5]), [0.2, 0.3, 0.5], atol=1e-15)
    np.testing.assert_allclose(project_to_simplex([2.0, 0.0, 0.0]), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(project_to_simplex([1.0, 1.0]), [0.5, 0.5])
    np.testing.assert_allclose(project_to_simplex([0.0, 0.0, 0.0, 0.0]), [0.25] * 4)
    # 0.9 and 0.6 share the excess: threshold (1.5 - 1) / 2 = 0.25.
    np.testing.assert_allclose(project_to_simplex([0.9, 0.6, -1.0]), [0.65, 0.35, 0.0])


def test_projection_is_shift_invariant_and_idempotent():
    rng = np.random.default_rng(1)
    v = rng.normal(size=7)
    t = project_to_simplex(v)
    np.testing.assert_allclose(project_to_simplex(v + 3.7), t, atol=1e-12)
    np.testing.assert_allclose(project_to_simplex(t), t, atol=1e-12)
    assert t.min() >= 0.0
    assert t.sum() == pytest.approx(1.0)


def test_projection_batches_rows():
    rng = np.random.default_rng(2)
    batch = rng.normal(size=(5, 4))
    projected = sparsemax(batch)
    for row, expected in zip(batch, projected):
        np.testing.assert_allclose(project_to_simplex(row), expected)


def test_projection_does_not_mutate_input():
    v = np.array([3.0, -1.0, 0.5])
    before = v.copy()
    project_to_simplex(v)
    np.testing.assert_array_equal(v, before)


@pytest.mark.parametrize("bad", [[], [[1.0, np.nan]], np.zeros((2, 2, 2))])
def test_projection_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="v"):
        project_to_simplex(bad)


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("rank_deficient", [False, True])
def test_qp_enumeration_matches_slsqp(seed, rank_deficient):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    factor = rng.normal(size=(k - 1 if rank_deficient else k + 2, k))
    Q = factor.T @ factor
    b = rng.normal(size=k)
    solution = solve_simplex_qp(Q, b, method="enumerate")
    reference = _qp_by_slsqp(Q, b)
    assert solution.value <= reference.fun + 1e-9
    assert solution.t.min() >= 0.0
    assert solution.t.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(10))
def test_qp_projected_gradient_matches_enumeration(seed):
    rng = np.random.default_rng(100 + seed)
    k = 6
    factor = rng.normal(size=(8, k))
    Q = factor.T @ factor
    exact = solve_simplex_qp(Q, method="enumerate")
    iterative = solve_simplex_qp(Q, method="projected_gradient", max_iter=200_000, tol=1e-15)
    assert iterative.value == pytest.approx(exact.value, rel=1e-8, abs=1e-12)


def test_qp_kkt_conditions_hold():
    rng = np.random.default_rng(7)
    factor = rng.normal(size=(3, 5))
    Q = factor.T @ factor + 0.01 * np.eye(5)
    t = solve_simplex_qp(Q).t
    gradient = Q @ t
    support = t > 1e-10
    # On the support the gradient is constant (the multiplier); off it, not smaller.
    np.testing.assert_allclose(gradient[support], gradient[support].mean(), atol=1e-10)
    assert np.all(gradient[~support] >= gradient[support].mean() - 1e-10)


def test_qp_large_k_uses_projected_gradient():
    rng = np.random.default_rng(3)
    factor = rng.normal(size=(20, 15))
    result = solve_simplex_qp(factor.T @ factor)
    assert result.method == "projected_gradient"
    assert result.t.sum() == pytest.approx(1.0)


def test_qp_objective_helper():
    Q = np.array([[2.0, 0.0], [0.0, 4.0]])
    assert simplex_qp_objective(Q, [0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.75 - 0.5)


def test_qp_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        solve_simplex_qp(np.ones((2, 3)))
    with pytest.raises(ValueError, match="b must have shape"):
        solve_simplex_qp(np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match="method"):
        solve_simplex_qp(np.eye(2), method="newton")
