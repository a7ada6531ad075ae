"""LogME with F-labels: LogME in regression mode on the label embeddings.

The EMMS paper (Meng et al., NeurIPS 2023) compares EMMS chiefly with this
baseline: LogME fitted to the F-label columns instead of one-hot classes, so
it applies to any task whose labels can be written as text.

With K encoders there are two ways to combine them:

``"average"`` (the default)
    LogME on each encoder's F-label columns, then the mean over encoders.
``"concatenate"``
    LogME on all F-label columns at once, that is the mean over all columns.

LogME fits every target column on its own (its own alpha and beta), so
both modes average the same per-column evidences and differ only in the
weights: every encoder counts equally in ``"average"``, every column in
``"concatenate"``. With equal widths L_k they give the same score.

NOTE: the published EMMS code does not show which combination the paper
used. Its captioning script scores LogME on one encoder per run (options
``logme_clip``, ``logme_gpt2``, ``logme_bert``) and contains no code that
combines them, so ``"average"`` is this project's choice, not a reproduction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_f_labels, check_features
from ..solver.backend import select_backend
from ._arrays import backend_label
from .logme import (
    LOGME_METHODS,
    PUBLISHED_EPSILON,
    PUBLISHED_MAX_ITER,
    PUBLISHED_TOLERANCE,
    LogMEResult,
    check_iteration_options,
    maximize_evidence,
    warn_if_not_converged,
)

COMBINE_MODES = ("average", "concatenate")


@dataclass(frozen=True)
class LogMEFLabelsResult:
    """Result of :func:`logme_flabels`.

    Attributes
    ----------
    score : float
        LogME with F-labels in nats per sample; higher is better. The mean of
        ``encoder_scores`` for ``"average"``, the mean over all F-label
        columns for ``"concatenate"``.
    encoder_scores : numpy.ndarray, shape (K,)
        Mean log evidence / N over the columns of each encoder's F-labels.
    widths : numpy.ndarray of int, shape (K,)
        L_k, the number of columns of each encoder's F-labels.
    combine : str
        ``"average"`` or ``"concatenate"``.
    logme : LogMEResult
        The per-column result over all sum(L_k) columns, encoders in order.
    """

    score: float
    encoder_scores: np.ndarray
    widths: np.ndarray
    combine: str
    logme: LogMEResult

    @property
    def converged(self) -> bool:
        """True when the iteration converged for every F-label column."""
        return self.logme.converged


def logme_flabels(
    features,
    f_labels,
    *,
    combine="average",
    method="fixed_point",
    max_iter=PUBLISHED_MAX_ITER,
    tol=None,
    epsilon=PUBLISHED_EPSILON,
    device=None,
    dtype=None,
) -> LogMEFLabelsResult:
    """Compute LogME with F-labels: LogME in regression mode on label embeddings.

    Parameters
    ----------
    features : numpy.ndarray or torch.Tensor, shape (N, D)
        Features of the N target samples from one candidate model, used as
        they are.
    f_labels : sequence of K arrays of shape (N, L_k), or one array (N, L, K)
        F-labels, as for :func:`emms_ref.emms_score`. A single (N, L) array
        means K = 1. The widths L_k may differ; nothing is padded. The columns
        are used as they are, not standardised, as in the published code.
    combine : {"average", "concatenate"}
        How the K encoders are combined; see the module documentation.
    method, max_iter, tol, epsilon, device, dtype
        As for :func:`emms_ref.baselines.logme`.

    Returns
    -------
    LogMEFLabelsResult

    Raises
    ------
    ValueError
        On invalid features or F-labels (shape, row count, NaN or inf) and on
        an unknown ``combine`` or ``method``.

    Warns
    -----
    LogMEConvergenceWarning
        When some column did not converge within ``max_iter`` updates.

    Notes
    -----
    The spectrum of the features is computed once for all columns, so both
    modes cost the same. The inputs are never modified.
    """
    if combine not in COMBINE_MODES:
        raise ValueError(f"combine must be one of {COMBINE_MODES}, got {combine!r}.")
    if method not in LOGME_METHODS:
        raise ValueError(f"method must be one of {LOGME_METHODS}, got {method!r}.")
    tol = PUBLISHED_TOLERANCE[method] if tol is None else tol
    check_iteration_options(max_iter, tol, epsilon)

    checked_features = check_features(features)
    blocks = check_f_labels(f_labels, checked_features.shape[0])

    backend = select_backend(device, dtype, checked_features, *blocks)
    targets = backend.concatenate_columns([backend.asarray(block) for block in blocks])
    run = maximize_evidence(
        backend,
        backend.asarray(checked_features),
        targets,
        method=method,
        max_iter=max_iter,
        tol=tol,
        epsilon=epsilon,
    )
    warn_if_not_converged(run.converged, max_iter, tol)

    widths = np.array([block.shape[1] for block in blocks])
    boundaries = np.concatenate([[0], np.cumsum(widths)])
    encoder_scores = np.array(
        [run.evidences[start:stop].mean() for start, stop in zip(boundaries[:-1], boundaries[1:])]
    )
    score = encoder_scores.mean() if combine == "average" else run.evidences.mean()

    per_column = LogMEResult(
        score=float(run.evidences.mean()),
        evidences=run.evidences,
        alphas=run.alphas,
        betas=run.betas,
        n_iter=run.n_iter,
        target_converged=run.converged,
        converged=bool(run.converged.all()),
        method=method,
        classes=None,
        rank=run.rank,
        backend=backend_label(backend),
    )
    return LogMEFLabelsResult(
        score=float(score),
        encoder_scores=encoder_scores,
        widths=widths,
        combine=combine,
        logme=per_column,
    )
