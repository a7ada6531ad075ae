"""EMMS transferability score: the public entry point."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_f_labels, check_features, pad_to_common_width
from .solver.alternating import alternating_minimization
from .solver.backend import machine_epsilon, select_backend
from .solver.release import release_score
from .solver.simplex import solve_simplex_qp
from .solver.statistics import compute_statistics

METHODS = ("exact", "alternating", "release")


@dataclass(frozen=True)
class EMMSResult:
    """Result of :func:`emms_score`.

    Attributes
    ----------
    score : float
        Transferability score; higher is better. For ``"exact"`` and
        ``"alternating"`` it is -||X W - sum_k t_k Z_k||_F^2 / (N * L) at the
        returned weights, a mean squared residual per entry, so it lies in
        [-1, 0] for standardised F-labels. ``"release"`` reports the official
        code's value instead; see :func:`emms_score`.
    weights : numpy.ndarray, shape (K,)
        Simplex weights t of the F-labels.
    method : str
        ``"exact"``, ``"alternating"`` or ``"release"``.
    objective : float
        F(W, t) = ||X W - sum_k t_k Z_k||_F^2 / (2N) at the returned solution.
    history : numpy.ndarray or None
        ``"alternating"`` only: F(W(t_k), t_k) after each W-step, from uniform t.
    t_step_history : numpy.ndarray or None
        ``"alternating"`` only: F(W(t_k), t_{k+1}) right after each t-step.
    converged : bool
        Whether the solver met its tolerance (always True for ``"exact"`` and
        ``"release"``, which are not iterative).
    n_iter : int
        Iterations run (0 for non-iterative methods).
    rank : int or None
        Numerical rank of the standardised features (None for ``"release"``).
    residual_gram : numpy.ndarray or None
        M, shape (K, K): g(t) = 1/2 t^T M t (None for ``"release"``).
    backend : str
        Where the O(N) work ran, for example ``"numpy"`` or ``"torch:cuda:0"``.
    """

    score: float
    weights: np.ndarray
    method: str
    objective: float
    history: np.ndarray | None = None
    t_step_history: np.ndarray | None = None
    converged: bool = True
    n_iter: int = 0
    rank: int | None = None
    residual_gram: np.ndarray | None = None
    backend: str = "numpy"


def emms_score(
    features,
    f_labels,
    *,
    method="exact",
    t_step="exact",
    max_iter=100,
    tol=1e-10,
    device=None,
    dtype=None,
    factorization="auto",
) -> EMMSResult:
    """Score how well a model's features fit the F-labels of a target task.

    Solves min over W in R^{D x L} and t in the simplex of
    F(W, t) = ||X W - sum_k t_k Z_k||_F^2 / (2N) after standardising every
    column of X and of each Z_k (zero mean, unit population std). Constant
    columns, and columns whose std is below the rounding level of their
    array's largest entries at the input's precision, are set to 0. It returns score = -2 F / L, that is the negative mean
    squared residual per entry, -||X W - sum_k t_k Z_k||_F^2 / (N * L).
    Dividing by N * L makes scores comparable across data sets; rankings on one
    data set are the same under any positive factor.

    Parameters
    ----------
    features : numpy.ndarray or torch.Tensor, shape (N, D)
        Features of the N target samples from one candidate model.
    f_labels : sequence of K arrays of shape (N, L_k), or one array (N, L, K)
        F-labels: label embeddings from K foundation models, one row per sample.
        A single (N, L) array means K = 1. Different widths L_k are zero-padded
        on the right to the widest, which leaves the fit unchanged and sets L
        to the widest width.
    method : {"exact", "alternating", "release"}
        ``"exact"`` eliminates W and solves the K x K simplex QP
        min_t 1/2 t^T M t exactly. ``"alternating"`` runs the alternating
        minimisation of Meng et al. (NeurIPS 2023), see ``t_step``. ``"release"`` reproduces the
        official one-step scorer: W0 fitted to uniform weights, one
        sparsemax-projected least-squares t-step, the stale W0 in the residual,
        std + 1e-8 standardisation, and its normalisation
        ``sum(residual**2) / N*L`` = (sum / N) * L by operator precedence. Its
        score is therefore L**2 times the negative mean squared residual of
        its own (W0, t1); compare its rankings with ours, not its values.
    t_step : {"exact", "fast"}
        For ``"alternating"``: the exact simplex-QP t-step, or the fast step
        of Meng et al. (least squares then sparsemax), which is not a descent step.
    max_iter : int
        Iteration cap for ``"alternating"``.
    tol : float
        ``"alternating"`` stops once an iteration moves t by at most ``tol``.
    device : None, "cpu", "cuda", "cuda:N" or "auto"
        None computes in numpy for numpy inputs and in torch on the tensor's
        device for torch inputs. A device string computes in torch there;
        "auto" picks CUDA when available.
    dtype : None, "float64" or "float32"
        Working precision of the O(N) part; float64 by default, whatever the
        input dtype. The K x K part always runs in float64.
    factorization : {"auto", "cholesky", "gram", "svd"}
        How the projection onto the feature space is computed; see
        :func:`emms_ref.solver.compute_statistics`. The default ``"auto"``
        costs one Cholesky factorisation of a D x D matrix on top of the
        products X^T X and X^T Z, and gives the ``"gram"`` result.

    Returns
    -------
    EMMSResult

    Raises
    ------
    ValueError
        For invalid inputs (NaN or inf, wrong shapes, mismatched row counts,
        fewer than 2 samples), and when an F-label block is constant over the
        samples: any features fit it exactly, so every model would get the
        best score, 0. Also when features or F-labels are too large to square
        in the working precision (magnitudes near 1e154 in float64, lower for
        many samples); dividing them by their largest absolute value leaves
        the score unchanged.

    Warns
    -----
    DegenerateScoreWarning
        When the standardised features have rank >= N - 1 (for example N <= D):
        they then fit any centred target exactly and the score is 0.

    Notes
    -----
    The inputs are never modified. Memory-mapped inputs (``numpy.memmap``, as
    from ``np.load(path, mmap_mode="r")``) are read in row blocks through
    :func:`emms_ref.emms_score_blocks`, so memory stays independent of N,
    except for ``method="release"`` and ``factorization="svd"``, which load
    them whole. For other data that does not fit in memory, pass row blocks
    to :func:`emms_ref.emms_score_blocks`.

    NOTE: features with magnitudes below about 1e-150 underflow when squared
    in float64, count as constant columns and score -1 without a warning;
    rescale such features first.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if _is_memory_mapped(features, f_labels) and method != "release" and factorization != "svd":
        # Reading a memory-mapped file block by block keeps memory independent of N.
        from .out_of_core import emms_score_blocks, iter_row_blocks

        return emms_score_blocks(
            iter_row_blocks(features, f_labels),
            method=method,
            t_step=t_step,
            max_iter=max_iter,
            tol=tol,
            device=device,
            dtype=dtype,
            factorization=factorization,
        )
    checked_features = check_features(features)
    blocks = check_f_labels(f_labels, checked_features.shape[0])

    backend = select_backend(device, dtype, checked_features, *blocks)
    x = backend.asarray(checked_features)
    z = pad_to_common_width(backend, [backend.asarray(block) for block in blocks])
    backend_label = backend.name if backend.name == "numpy" else f"torch:{backend.device}"

    if method == "release":
        score, weights, squared_residual = release_score(backend, x, z)
        return EMMSResult(
            score=score,
            weights=weights,
            method=method,
            objective=squared_residual / (2.0 * x.shape[0]),
            backend=backend_label,
        )

    input_eps = [machine_epsilon(checked_features)] + [machine_epsilon(block) for block in blocks]
    stats = compute_statistics(backend, x, z, factorization=factorization, input_eps=input_eps)
    return result_from_statistics(
        stats, method=method, t_step=t_step, max_iter=max_iter, tol=tol, backend_label=backend_label
    )


def result_from_statistics(stats, *, method, t_step="exact", max_iter=100, tol=1e-10, backend_label="numpy"):
    """Solve the K x K problem of ``stats`` with ``method`` ("exact" or "alternating")."""
    residual_gram = stats.residual_gram
    if method == "exact":
        weights = solve_simplex_qp(residual_gram).t
        objective = stats.objective(weights)
        history = t_step_history = None
        converged, n_iter = True, 0
    elif method == "alternating":
        run = alternating_minimization(stats, t_step=t_step, max_iter=max_iter, tol=tol)
        weights, objective = run.weights, float(run.history[-1])
        history, t_step_history = run.history, run.t_step_history
        converged, n_iter = run.converged, run.n_iter
    else:
        raise ValueError(
            f"method must be 'exact' or 'alternating' here, got {method!r}; 'release' needs the "
            "whole data in memory (use emms_score)."
        )

    return EMMSResult(
        # 0.0 - ... keeps a zero residual from printing as -0.0.
        score=0.0 - 2.0 * objective / stats.width,
        weights=weights,
        method=method,
        objective=objective,
        history=history,
        t_step_history=t_step_history,
        converged=converged,
        n_iter=n_iter,
        rank=stats.rank,
        residual_gram=residual_gram,
        backend=backend_label,
    )


def _is_memory_mapped(features, f_labels) -> bool:
    if isinstance(features, np.memmap):
        return True
    if isinstance(f_labels, np.memmap):
        return True
    return isinstance(f_labels, (list, tuple)) and any(isinstance(block, np.memmap) for block in f_labels)
