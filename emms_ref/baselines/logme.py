r"""LogME: the log maximum evidence of Bayesian linear regression on the features.

For one target column y (N,) and features X (N, D), LogME (You et al., ICML
2021) fits y = X w + noise with the prior w ~ N(0, alpha^-1 I_D) and noise
~ N(0, beta^-1 I_N), maximises the marginal likelihood (the evidence) over
alpha and beta, and reports

    L(alpha, beta) = D/2 log alpha + N/2 log beta - 1/2 log det A
                     - beta/2 ||y - X m||^2 - alpha/2 ||m||^2 - N/2 log 2 pi

with A = alpha I + beta X^T X and m = beta A^-1 X^T y, divided by N. Both
published algorithms apply the same MacKay updates

    gamma = sum_i beta sigma_i / (alpha + beta sigma_i)
    alpha <- gamma / (||m||^2 + epsilon)
    beta  <- (N - gamma) / (||y - X m||^2 + epsilon)

(sigma_i the eigenvalues of X^T X) until alpha / beta changes by at most
``tol`` relative, for at most ``max_iter`` updates:

``"evidence"``
    The ICML 2021 iteration: eigendecomposition of the D x D matrix X^T X,
    the posterior mean m in feature space and the residual y - X m computed
    explicitly in every iteration. Published defaults: 11 updates, relative
    tolerance 1e-2.
``"fixed_point"``
    The iteration of "Ranking and Tuning Pre-trained Models" (You et al.,
    JMLR 2022, arXiv 2110.10545), the default of the public LogME code: a
    thin SVD once, after which ||m||^2 and the residual are closed-form sums
    over the singular values, so each iteration costs O(rank) per target.
    Published defaults: 11 updates, relative tolerance 1e-3.

Both use epsilon = 1e-5 in the updates. Because epsilon is absolute,
LogME is not invariant to the scale of the features or targets: without
epsilon the maximum evidence of c X is that of X (alpha scales by c^2), but
when features grow large, ||m||^2 shrinks towards epsilon and the alpha update
saturates. Standardise features if scale should not matter.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_features
from ..solver.backend import factorization_threads, select_backend
from ._arrays import backend_index, backend_label
from ._labels import check_regression_targets, encode_class_labels, one_hot
from ._spectrum import project_onto_left_vectors, thin_spectrum

LOGME_METHODS = ("fixed_point", "evidence")
# Relative tolerance on alpha / beta of the published code of each algorithm.
PUBLISHED_TOLERANCE = {"fixed_point": 1e-3, "evidence": 1e-2}
PUBLISHED_MAX_ITER = 11
PUBLISHED_EPSILON = 1e-5


class LogMEConvergenceWarning(UserWarning):
    """The LogME iteration hit ``max_iter`` before alpha / beta met the tolerance."""


@dataclass(frozen=True)
class LogMEResult:
    """Result of :func:`logme`.

    Attributes
    ----------
    score : float
        Mean over the targets of the log maximum evidence divided by N, in
        nats per sample; higher is better.
    evidences : numpy.ndarray, shape (T,)
        Log evidence / N of each target: each class (one-vs-rest) or each
        regression column.
    alphas, betas : numpy.ndarray, shape (T,)
        Prior precision of the weights and noise precision at the returned
        solution. The evidence is evaluated exactly at these values.
    n_iter : numpy.ndarray of int, shape (T,)
        Updates run for each target.
    target_converged : numpy.ndarray of bool, shape (T,)
        Whether the relative change of alpha / beta fell to ``tol`` within
        ``max_iter`` updates.
    converged : bool
        True when every target converged.
    method : str
        ``"fixed_point"`` or ``"evidence"``.
    classes : numpy.ndarray or None
        Class label of each target in classification mode, sorted; None in
        regression mode.
    rank : int
        Numerical rank of the features.
    backend : str
        Where the O(N) work ran, ``"numpy"`` or ``"torch:<device>"``.
    """

    score: float
    evidences: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    n_iter: np.ndarray
    target_converged: np.ndarray
    converged: bool
    method: str
    classes: np.ndarray | None
    rank: int
    backend: str


@dataclass(frozen=True)
class _EvidenceRun:
    evidences: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    rank: int


def logme(
    features,
    labels,
    *,
    regression=False,
    method="fixed_point",
    max_iter=PUBLISHED_MAX_ITER,
    tol=None,
    epsilon=PUBLISHED_EPSILON,
    device=None,
    dtype=None,
) -> LogMEResult:
    """Compute LogME, the log maximum evidence of the labels given the features.

    Parameters
    ----------
    features : numpy.ndarray or torch.Tensor, shape (N, D)
        Features of the N target samples from one candidate model. Used as
        they are: LogME has no intercept and does not standardise.
    labels : array_like or torch.Tensor, shape (N,) or (N, T)
        Classification (``regression=False``): one class label per sample,
        of any sortable type (integers with gaps, strings). LogME runs one
        regression per class PRESENT, on the 0/1 indicator of that class, so
        ids that never occur add nothing. Regression: real-valued targets,
        one column per target.
    regression : bool
        Treat ``labels`` as real-valued targets.
    method : {"fixed_point", "evidence"}
        The evidence-maximisation algorithm; see the module documentation.
    max_iter : int
        Maximum number of alpha/beta updates per target; 11 in the published code.
    tol : float, optional
        Stop once ``|t_new - t| <= tol * t`` for t = alpha / beta. Defaults to
        the published value of ``method``: 1e-3 for ``"fixed_point"``, 1e-2
        for ``"evidence"``.
    epsilon : float
        Non-negative constant added to ||m||^2 and to the squared residual in
        the updates, 1e-5 as published. It keeps alpha and beta finite when a
        target is orthogonal to the features or fitted exactly, and makes
        the score depend on the scale of features and targets.
    device : None, "cpu", "cuda", "cuda:N" or "auto"
        None computes in numpy for numpy inputs and in torch on the tensor's
        device for torch inputs; a device string computes in torch there.
        The Gram matrix, its eigendecomposition and the projections of the
        targets run on the backend. The per-target scalar recurrences run in
        numpy float64 (O(rank) per target and update).
        NOTE: the tests run the torch backend on the CPU only; no CUDA run
        has checked it yet.
    dtype : None, "float64" or "float32"
        Working precision of the backend; float64 by default, whatever the
        input dtype.

    Returns
    -------
    LogMEResult

    Raises
    ------
    ValueError
        On invalid inputs: features not (N, D) or not finite, a label count
        that differs from N, fewer than two classes, features with rank 0,
        ``epsilon = 0`` with a target that makes an update divide by zero.

    Warns
    -----
    LogMEConvergenceWarning
        When some target did not converge within ``max_iter`` updates. The
        published code silently returns the value after ``max_iter`` updates,
        and so does this function. ``target_converged`` marks the targets that
        converged.

    Notes
    -----
    The evidence is evaluated exactly at the returned alpha and beta, with the
    posterior mean at t = alpha / beta and log det A over all D eigenvalues
    (D - rank of them zero). The published fixed-point code differs in two
    ways, both invisible once N > D, the features have full rank and the
    iteration has converged: it reuses the posterior mean from before the last
    update, and it sums log(alpha + beta sigma_i) over the rank non-zero
    singular values only, which adds (D - rank)/2 log alpha to its value.
    The published "evidence" code also adds epsilon inside the evidence.
    The inputs are never modified.
    """
    if method not in LOGME_METHODS:
        raise ValueError(f"method must be one of {LOGME_METHODS}, got {method!r}.")
    tol = PUBLISHED_TOLERANCE[method] if tol is None else tol
    check_iteration_options(max_iter, tol, epsilon)

    checked_features = check_features(features)
    n_samples = checked_features.shape[0]
    if regression:
        targets = check_regression_targets(labels, n_samples)
        classes = None
    else:
        encoded = encode_class_labels(labels, n_samples)
        targets = one_hot(encoded)
        classes = encoded.classes

    backend = select_backend(device, dtype, checked_features, targets)
    run = maximize_evidence(
        backend,
        backend.asarray(checked_features),
        backend.asarray(targets),
        method=method,
        max_iter=max_iter,
        tol=tol,
        epsilon=epsilon,
    )
    warn_if_not_converged(run.converged, max_iter, tol)

    return LogMEResult(
        score=float(np.mean(run.evidences)),
        evidences=run.evidences,
        alphas=run.alphas,
        betas=run.betas,
        n_iter=run.n_iter,
        target_converged=run.converged,
        converged=bool(run.converged.all()),
        method=method,
        classes=classes,
        rank=run.rank,
        backend=backend_label(backend),
    )


def check_iteration_options(max_iter, tol, epsilon):
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer number of updates, got {max_iter!r}.")
    if not (isinstance(tol, (int, float, np.floating)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0 (relative change of alpha / beta), got {tol!r}.")
    if not (isinstance(epsilon, (int, float, np.floating)) and math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}; the published value is 1e-5.")


def warn_if_not_converged(converged: np.ndarray, max_iter: int, tol: float) -> None:
    n_failed = int(np.count_nonzero(~converged))
    if n_failed:
        warnings.warn(
            f"LogME did not converge for {n_failed} of {converged.size} targets within max_iter={max_iter} "
            f"updates (relative change of alpha / beta still above tol={tol:g}); the returned evidence is "
            "the value after the last update, as in the published code. Increase max_iter to converge.",
            LogMEConvergenceWarning,
            stacklevel=3,
        )


def maximize_evidence(backend, x, y, *, method, max_iter, tol, epsilon) -> _EvidenceRun:
    """Run one LogME algorithm on backend arrays x (N, D) and y (N, T)."""
    n_samples, n_features = x.shape
    if method == "fixed_point":
        statistics, log_det, rank = _fixed_point_statistics(backend, x, y)
    else:
        statistics, log_det, rank = _explicit_statistics(backend, x, y)
    if rank == 0:
        raise ValueError(
            "features have numerical rank 0 (every entry is zero), so LogME is undefined; "
            "check the feature extraction."
        )

    alphas, betas, n_iter, converged = _iterate(statistics, n_samples, y.shape[1], max_iter, tol, epsilon)

    # The evidence at the returned (alpha, beta), with the posterior mean at
    # t = alpha / beta, so that it is the exact log marginal likelihood there.
    all_targets = np.arange(y.shape[1])
    _, m_squared, residual_squared = statistics(alphas / betas, all_targets)
    log_evidence = (
        0.5 * n_features * np.log(alphas)
        + 0.5 * n_samples * np.log(betas)
        - 0.5 * log_det(alphas, betas)
        - 0.5 * betas * residual_squared
        - 0.5 * alphas * m_squared
        - 0.5 * n_samples * math.log(2.0 * math.pi)
    )
    return _EvidenceRun(
        evidences=log_evidence / n_samples,
        alphas=alphas,
        betas=betas,
        n_iter=n_iter,
        converged=converged,
        rank=rank,
    )


def _iterate(statistics, n_samples, n_targets, max_iter, tol, epsilon):
    """Apply the MacKay updates to every target until its alpha / beta settles."""
    alphas = np.ones(n_targets)
    betas = np.ones(n_targets)
    n_iter = np.zeros(n_targets, dtype=int)
    converged = np.zeros(n_targets, dtype=bool)

    for _ in range(max_iter):
        active = np.flatnonzero(~converged)
        if active.size == 0:
            break
        ratio = alphas[active] / betas[active]
        gamma, m_squared, residual_squared = statistics(ratio, active)

        alpha_denominator = m_squared + epsilon
        beta_denominator = residual_squared + epsilon
        if np.any(alpha_denominator <= 0) or np.any(beta_denominator <= 0):
            bad = active[(alpha_denominator <= 0) | (beta_denominator <= 0)]
            raise ValueError(
                f"LogME update divides by zero for target(s) {bad[:5].tolist()}: the target is orthogonal to "
                "the features (||m|| = 0) or fitted exactly (zero residual). Pass epsilon > 0, "
                "for example the published 1e-5."
            )
        new_alphas = gamma / alpha_denominator
        new_betas = (n_samples - gamma) / beta_denominator
        new_ratio = new_alphas / new_betas

        alphas[active] = new_alphas
        betas[active] = new_betas
        n_iter[active] += 1
        converged[active] = np.abs(new_ratio - ratio) <= tol * ratio

    return alphas, betas, n_iter, converged


def _fixed_point_statistics(backend, x, y):
    """Closed-form gamma, ||m||^2 and ||y - X m||^2 from one thin SVD (fixed-point algorithm)."""
    n_features = x.shape[1]
    spectrum = thin_spectrum(backend, x)
    sigma = backend.to_numpy(spectrum.sigma)[:, None]
    projections = backend.to_numpy(project_onto_left_vectors(spectrum, x, y))
    projections_squared = projections**2
    # Part of ||y||^2 outside the column space of X. The subtraction can
    # round below zero when X fits y exactly, so it is clipped.
    target_squared = backend.to_numpy((y * y).sum(0))
    outside_squared = np.clip(target_squared - projections_squared.sum(0), 0.0, None)

    def statistics(ratio, columns):
        # columns is sorted and unique, so full length means every target.
        all_columns = columns.size == projections_squared.shape[1]
        x2 = projections_squared if all_columns else projections_squared[:, columns]
        inverse = 1.0 / (sigma + ratio[None, :])
        gamma = sigma[:, 0] @ inverse
        # x_i^2 / (sigma_i + t)^2 gives both sums: ||m||^2 weighs it by sigma_i,
        # the in-span residual by t^2.
        weighted = x2 * inverse * inverse
        m_squared = sigma[:, 0] @ weighted
        residual_squared = ratio**2 * weighted.sum(0) + outside_squared[columns]
        return gamma, m_squared, residual_squared

    def log_det(alphas, betas):
        # log det(alpha I_D + beta X^T X): the D - rank zero eigenvalues give log alpha each.
        nonzero = np.log(alphas[None, :] + betas[None, :] * sigma).sum(0)
        return nonzero + (n_features - spectrum.rank) * np.log(alphas)

    return statistics, log_det, spectrum.rank


def _explicit_statistics(backend, x, y):
    """gamma, ||m||^2 and ||y - X m||^2 with m and the residual formed explicitly (ICML algorithm)."""
    with factorization_threads(backend, x.shape[1]):
        eigenvalues, eigenvectors = backend.eigh(x.T @ x)
    s = np.clip(backend.to_numpy(eigenvalues), 0.0, None)[:, None]
    rotated = eigenvectors.T @ (x.T @ y)  # V^T X^T y, shape (D, T)
    cutoff = s.max() * max(x.shape) * backend.eps
    rank = int(np.count_nonzero(s > cutoff))

    def statistics(ratio, columns):
        denominator = s + ratio[None, :]
        gamma = (s / denominator).sum(0)
        column_index = backend_index(backend, columns)
        # m = (X^T X + t I)^-1 X^T y = V diag(1 / (s + t)) V^T X^T y.
        mean = eigenvectors @ (rotated[:, column_index] * backend.asarray(1.0 / denominator))
        residual = y[:, column_index] - x @ mean
        m_squared = backend.to_numpy((mean * mean).sum(0))
        residual_squared = backend.to_numpy((residual * residual).sum(0))
        return gamma, m_squared, residual_squared

    def log_det(alphas, betas):
        return np.log(alphas[None, :] + betas[None, :] * s).sum(0)

    return statistics, log_det, rank
