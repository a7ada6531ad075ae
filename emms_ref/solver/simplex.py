"""Euclidean projection onto the probability simplex and simplex-constrained QPs.

The EMMS weights t live on the simplex Delta_K = {t in R^K : t >= 0, sum(t) = 1}.
Two small problems appear again and again:

* the Euclidean projection onto Delta_K, which equals sparsemax
  (Martins and Astudillo, ICML 2016), used by the paper's fast t-step;
* the quadratic program min_{t in Delta_K} 1/2 t^T Q t - b^T t with Q positive
  semi-definite, which is what EMMS reduces to once the regression weights are
  eliminated.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

# Supports of size up to this K are enumerated exactly: 2**12 - 1 = 4095 tiny
# linear solves, far below the cost of the regression statistics.
MAX_ENUMERATION_K = 12


def project_to_simplex(v):
    """Project vectors onto the probability simplex in the Euclidean norm.

    Computes argmin_{t in Delta_K} ||t - v||_2 with the sort-based algorithm
    (Held, Wolfe and Crowder 1974; Duchi et al. 2008). This is the same map as
    sparsemax.

    Parameters
    ----------
    v : array_like, shape (K,) or (B, K)
        One vector, or a batch of B vectors in its rows. Must be finite.

    Returns
    -------
    numpy.ndarray, float64, same shape as ``v``
        Non-negative entries summing to 1 along the last axis.
    """
    values = np.array(v, dtype=np.float64, copy=True)
    if values.ndim not in (1, 2) or values.shape[-1] == 0:
        raise ValueError(
            f"v must have shape (K,) or (B, K) with K >= 1, got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("v contains NaN or inf; pass finite values.")

    rows = np.atleast_2d(values)
    k = rows.shape[1]
    sorted_desc = -np.sort(-rows, axis=1)
    cumulative = np.cumsum(sorted_desc, axis=1) - 1.0
    index = np.arange(1, k + 1)

    # The support size is the largest j with sorted_j > (cumsum_j - 1) / j.
    in_support = sorted_desc * index > cumulative
    support_size = k - np.argmax(in_support[:, ::-1], axis=1)
    threshold = cumulative[np.arange(rows.shape[0]), support_size - 1] / support_size

    projected = np.maximum(rows - threshold[:, None], 0.0)
    return projected[0] if values.ndim == 1 else projected


def sparsemax(v):
    """Apply sparsemax to the last axis of ``v``.

    Sparsemax is the Euclidean projection onto the probability simplex; this
    alias of :func:`project_to_simplex` exists so that code following the EMMS
    paper reads like the paper.
    """
    return project_to_simplex(v)


class SimplexQPResult(NamedTuple):
    """Solution of a simplex-constrained quadratic program."""

    t: np.ndarray
    """Minimiser on the simplex, shape (K,)."""
    value: float
    """Objective 1/2 t^T Q t - b^T t at ``t``."""
    method: str
    """``"enumerate"`` or ``"projected_gradient"``."""
    n_iter: int
    """Supports tried (enumeration) or gradient steps taken."""


def simplex_qp_objective(Q, t, b=None) -> float:
    """Evaluate 1/2 t^T Q t - b^T t."""
    Q = np.asarray(Q, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    value = 0.5 * float(t @ Q @ t)
    if b is not None:
        value -= float(np.asarray(b, dtype=np.float64) @ t)
    return value


def solve_simplex_qp(Q, b=None, *, method="auto", max_iter=100_000, tol=1e-14):
    """Minimise 1/2 t^T Q t - b^T t over the probability simplex.

    Parameters
    ----------
    Q : array_like, shape (K, K)
        Symmetric positive semi-definite matrix. It is symmetrised as
        (Q + Q^T) / 2 before use.
    b : array_like, shape (K,), optional
        Linear term; zero when omitted.
    method : {"auto", "enumerate", "projected_gradient"}
        ``"enumerate"`` solves the KKT system on every support and keeps the
        best feasible point, which is exact up to rounding. ``"projected_gradient"``
        runs accelerated projected gradient (FISTA) with step 1/lambda_max(Q).
        ``"auto"`` enumerates for K <= 12 and uses projected gradient beyond.
    max_iter : int
        Gradient steps for ``"projected_gradient"``.
    tol : float
        Projected gradient stops when an iteration changes t by less than
        ``tol`` in the max norm.

    Returns
    -------
    SimplexQPResult
        ``t`` (K,), ``value``, ``method`` and ``n_iter``.
    """
    Q = np.array(Q, dtype=np.float64, copy=True)
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] == 0:
        raise ValueError(f"Q must be a non-empty square matrix, got shape {Q.shape}.")
    k = Q.shape[0]
    b = np.zeros(k) if b is None else np.array(b, dtype=np.float64, copy=True)
    if b.shape != (k,):
        raise ValueError(f"b must have shape ({k},) to match Q, got shape {b.shape}.")
    if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(b))):
        raise ValueError("Q and b must be finite; found NaN or inf.")
    Q = 0.5 * (Q + Q.T)

    if method == "auto":
        method = "enumerate" if k <= MAX_ENUMERATION_K else "projected_gradient"
    if method == "enumerate":
        if k > 20:
            raise ValueError(
                f"method='enumerate' tries 2**K - 1 supports; K={k} is too large. "
                "Use method='projected_gradient'."
            )
        return _solve_by_enumeration(Q, b)
    if method == "projected_gradient":
        return _solve_by_projected_gradient(Q, b, max_iter=max_iter, tol=tol)
    raise ValueError(
        f"method must be 'auto', 'enumerate' or 'projected_gradient', got {method!r}."
    )


def _solve_by_enumeration(Q, b):
    k = Q.shape[0]
    best_t, best_value = None, np.inf
    tried = 0
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            tried += 1
            t = _stationary_point_on_face(Q, b, list(support))
            if t is None:
                continue
            value = simplex_qp_objective(Q, t, b)
            if value < best_value:
                best_t, best_value = t, value
    return SimplexQPResult(best_t, best_value, "enumerate", tried)


def _stationary_point_on_face(Q, b, support):
    """Solve the KKT system of the QP restricted to one face of the simplex.

    On the face, t_S solves Q_SS t_S - b_S = mu * 1 with sum(t_S) = 1. The
    bordered system is solved by least squares, so a singular Q_SS (common: M is
    rank-deficient when two F-labels coincide) still yields a minimiser.
    Returns None when that point leaves the face.
    """
    size = len(support)
    bordered = np.zeros((size + 1, size + 1))
    bordered[:size, :size] = Q[np.ix_(support, support)]
    bordered[:size, size] = -1.0
    bordered[size, :size] = 1.0
    rhs = np.concatenate([b[support], [1.0]])
    solution = np.linalg.lstsq(bordered, rhs, rcond=None)[0]

    t_face = solution[:size]
    if np.any(t_face < -1e-12) or not np.isclose(t_face.sum(), 1.0, atol=1e-9):
        return None
    t = np.zeros(Q.shape[0])
    t[support] = np.maximum(t_face, 0.0)
    return t / t.sum()


def _solve_by_projected_gradient(Q, b, *, max_iter, tol):
    k = Q.shape[0]
    lipschitz = float(np.linalg.eigvalsh(Q)[-1])
    t = np.full(k, 1.0 / k)
    if lipschitz <= 0.0:
        # Q = 0: the objective is linear, so its minimum sits at a vertex.
        t = np.zeros(k)
        t[int(np.argmax(b))] = 1.0
        return SimplexQPResult(t, simplex_qp_objective(Q, t, b), "projected_gradient", 0)

    step = 1.0 / lipschitz
    momentum_point, momentum = t.copy(), 1.0
    n_iter = max_iter
    for iteration in range(1, max_iter + 1):
        gradient = Q @ momentum_point - b
        t_next = project_to_simplex(momentum_point - step * gradient)
        momentum_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum**2))
        momentum_point = t_next + ((momentum - 1.0) / momentum_next) * (t_next - t)
        change = np.max(np.abs(t_next - t))
        t, momentum = t_next, momentum_next
        if change < tol:
            n_iter = iteration
            break
    return SimplexQPResult(t, simplex_qp_objective(Q, t, b), "projected_gradient", n_iter)
