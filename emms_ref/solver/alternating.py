"""Alternating minimisation over the regression weights W and the simplex weights t.

This is Algorithm 1 of Meng et al., "Foundation Model is Efficient Multimodal
Multitask Model Selector" (NeurIPS 2023), run on the K x K statistics: the W-step
is the exact least-squares fit W = X^+ sum_k t_k Z_k, so it never has to be
formed. The t-step minimises F(W, s) = ||X W - sum_k s_k Z_k||^2 / (2N) over s
with W fixed, which is the quadratic 1/2 s^T Q s - s^T H t + const.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .simplex import project_to_simplex, solve_simplex_qp
from .statistics import RegressionStatistics

T_STEPS = ("exact", "fast")


@dataclass(frozen=True)
class AlternatingResult:
    """Outcome of :func:`alternating_minimization`.

    Attributes
    ----------
    weights : numpy.ndarray, shape (K,)
        Final simplex weights t.
    history : numpy.ndarray, shape (n_iter + 1,)
        g(t_k) = F(W(t_k), t_k) after each W-step, starting from uniform t.
    t_step_history : numpy.ndarray, shape (n_iter,)
        F(W(t_k), t_{k+1}) right after each t-step, before the next W-step.
    converged : bool
        Whether an iteration moved t by at most ``tol`` (max norm).
    n_iter : int
        Number of (t-step, W-step) pairs run.
    """

    weights: np.ndarray
    history: np.ndarray
    t_step_history: np.ndarray
    converged: bool
    n_iter: int


def alternating_minimization(
    stats: RegressionStatistics, *, t_step="exact", max_iter=100, tol=1e-10, t_init=None
) -> AlternatingResult:
    """Minimise F(W, t) over W and t in the simplex by block-coordinate descent.

    Parameters
    ----------
    stats : RegressionStatistics
        Statistics of the standardised problem.
    t_step : {"exact", "fast"}
        ``"exact"`` solves the t-step as a simplex-constrained QP, so F never
        increases. ``"fast"`` is the step of Meng et al.: unconstrained least squares
        in t followed by sparsemax. That Euclidean projection ignores the metric
        Q of the least-squares problem, so the fast step can raise F and may
        stall away from the optimum.
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop once an iteration changes t by at most ``tol`` in the max norm.
    t_init : array_like, shape (K,), optional
        Starting weights. Uniform by default, as in Algorithm 1 of Meng et al.

    Returns
    -------
    AlternatingResult
    """
    if t_step not in T_STEPS:
        raise ValueError(f"t_step must be one of {T_STEPS}, got {t_step!r}.")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")

    label_gram = stats.label_gram
    projected_gram = stats.projected_gram
    k = label_gram.shape[0]
    if t_init is None:
        t = np.full(k, 1.0 / k)
    else:
        t = project_to_simplex(np.asarray(t_init, dtype=np.float64))

    history = [stats.objective(t)]
    t_step_history = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # The W-step for target weights t stays implicit because its fit enters only through H t.
        linear_term = projected_gram @ t
        if t_step == "exact":
            t_next = solve_simplex_qp(label_gram, linear_term).t
        else:
            unconstrained = np.linalg.lstsq(label_gram, linear_term, rcond=None)[0]
            t_next = project_to_simplex(unconstrained)

        t_step_history.append(stats.objective(t, t_next))
        history.append(stats.objective(t_next))
        change = float(np.max(np.abs(t_next - t)))
        t = t_next
        if change <= tol:
            converged = True
            break

    return AlternatingResult(
        weights=t,
        history=np.asarray(history),
        t_step_history=np.asarray(t_step_history),
        converged=converged,
        n_iter=n_iter,
    )
