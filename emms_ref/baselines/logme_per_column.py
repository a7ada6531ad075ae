"""LogME with F-labels computed one target column at a time, as the published code does.

The LogME reference code (You et al., ICML 2021, github.com/thuml/LogME) and
the EMMS release that calls it factor the features once, then loop in Python
over the target columns. Each pass projects one column onto the left singular
vectors (a matrix-vector product of N x rank) and runs the fixed-point updates
for that column alone. :func:`emms_ref.baselines.logme_flabels` computes the
same evidences for all columns at once with one matrix-matrix product.

This module exists for the speed comparison of the benchmark page: the paper's
speed-ups of EMMS over LogME with F-labels were measured against the loop.
Both functions return the same evidences up to rounding, which the tests check.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_f_labels, check_features
from ..solver.backend import NumpyBackend, factorization_threads
from .logme import PUBLISHED_EPSILON, PUBLISHED_MAX_ITER, PUBLISHED_TOLERANCE


def logme_flabels_per_column(
    features,
    f_labels,
    *,
    max_iter=PUBLISHED_MAX_ITER,
    tol=PUBLISHED_TOLERANCE["fixed_point"],
    epsilon=PUBLISHED_EPSILON,
) -> float:
    """LogME with F-labels (``combine="average"``, fixed-point updates), one column per loop pass.

    Parameters
    ----------
    features : numpy.ndarray, shape (N, D)
    f_labels : sequence of K numpy arrays of shape (N, L_k)
    max_iter, tol, epsilon
        As for :func:`emms_ref.baselines.logme`.

    Returns
    -------
    float
        The mean over encoders of the mean log evidence per sample of their
        columns, the value of ``logme_flabels(features, f_labels).score``.
    """
    x = np.asarray(check_features(features), dtype=np.float64)
    blocks = [np.asarray(block, dtype=np.float64) for block in check_f_labels(f_labels, x.shape[0])]
    n_samples, n_features = x.shape

    # One factorisation for all columns: eigenvectors of the smaller Gram
    # matrix, then the left singular vectors U explicitly, as the loop needs.
    gram = x.T @ x if n_samples >= n_features else x @ x.T
    with factorization_threads(NumpyBackend(), gram.shape[0]):
        eigenvalues, vectors = np.linalg.eigh(gram)
    if n_samples >= n_features:
        right = vectors
    else:
        left_vectors = vectors
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    cutoff = eigenvalues.max() * max(n_samples, n_features) * np.finfo(np.float64).eps
    keep = eigenvalues > cutoff
    sigma = eigenvalues[keep]
    if n_samples >= n_features:
        left = (x @ right[:, keep]) / np.sqrt(sigma)
    else:
        left = left_vectors[:, keep]
    rank = int(sigma.size)

    encoder_means = []
    for block in blocks:
        evidences = [
            _column_evidence(left, sigma, rank, block[:, column], n_samples, n_features, max_iter, tol, epsilon)
            for column in range(block.shape[1])
        ]
        encoder_means.append(float(np.mean(evidences)))
    return float(np.mean(encoder_means))


def _column_evidence(left, sigma, rank, y, n_samples, n_features, max_iter, tol, epsilon):
    projection = left.T @ y
    projection_squared = projection**2
    outside = max(float(y @ y) - float(projection_squared.sum()), 0.0)

    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        ratio = alpha / beta
        inverse = 1.0 / (sigma + ratio)
        gamma = float(sigma @ inverse)
        weighted = projection_squared * inverse * inverse
        m_squared = float(sigma @ weighted)
        residual_squared = ratio**2 * float(weighted.sum()) + outside
        alpha = gamma / (m_squared + epsilon)
        beta = (n_samples - gamma) / (residual_squared + epsilon)
        if abs(alpha / beta - ratio) <= tol * ratio:
            break

    # The evidence at the returned (alpha, beta), as in logme.maximize_evidence.
    ratio = alpha / beta
    inverse = 1.0 / (sigma + ratio)
    weighted = projection_squared * inverse * inverse
    m_squared = float(sigma @ weighted)
    residual_squared = ratio**2 * float(weighted.sum()) + outside
    log_det = float(np.log(alpha + beta * sigma).sum()) + (n_features - rank) * math.log(alpha)
    evidence = (
        0.5 * n_features * math.log(alpha)
        + 0.5 * n_samples * math.log(beta)
        - 0.5 * log_det
        - 0.5 * beta * residual_squared
        - 0.5 * alpha * m_squared
        - 0.5 * n_samples * math.log(2.0 * math.pi)
    )
    return evidence / n_samples
