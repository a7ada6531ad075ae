"""The K x K statistics that the whole EMMS problem reduces to.

After standardisation, write Z_k (N x L) for the F-labels and P for the
orthogonal projector onto the column space of the features X. The least-squares
W-step for a target sum_k t_k Z_k leaves the residual (I - P) sum_k t_k Z_k, so
every objective in EMMS is a quadratic form in t built from two K x K matrices:

    Q_jk = <Z_j, Z_k>_F / N            (Gram matrix of the F-labels)
    H_jk = <P Z_j, P Z_k>_F / N        (Gram matrix of their projections)

and the residual Gram matrix M = Q - H gives g(t) = min_W F(W, t) = 1/2 t^T M t
with F(W, t) = ||X W - sum_k t_k Z_k||_F^2 / (2N).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .backend import standardize_columns

logger = logging.getLogger(__name__)

FACTORIZATIONS = ("gram", "svd")


class DegenerateScoreWarning(UserWarning):
    """The features span every centred direction, so the EMMS residual is 0."""


@dataclass(frozen=True)
class RegressionStatistics:
    """Sufficient statistics of one EMMS problem, all divided by N.

    Attributes
    ----------
    label_gram : numpy.ndarray, shape (K, K)
        Q, the Frobenius inner products of the standardised F-labels.
    projected_gram : numpy.ndarray, shape (K, K)
        H, the inner products of their projections onto the feature space.
    n_samples : int
        N.
    width : int
        L, the common F-label width after zero padding.
    rank : int
        Numerical rank of the standardised features.
    n_features : int
        D.
    """

    label_gram: np.ndarray
    projected_gram: np.ndarray
    n_samples: int
    width: int
    rank: int
    n_features: int

    @property
    def residual_gram(self) -> np.ndarray:
        """M = Q - H, the Gram matrix of the residuals (I - P) Z_k, shape (K, K)."""
        residual = self.label_gram - self.projected_gram
        return 0.5 * (residual + residual.T)

    def objective(self, t_target, t_labels=None) -> float:
        """Evaluate F(W, t) = ||X W - sum_k t_k Z_k||_F^2 / (2N).

        Here W is the least-squares fit to the target sum_k t_target_k Z_k and
        ``t_labels`` (default: ``t_target``) weighs the F-labels it is compared
        with. With ``t_labels = t_target`` this is g(t) = 1/2 t^T M t.
        """
        t_target = np.asarray(t_target, dtype=np.float64)
        t_labels = t_target if t_labels is None else np.asarray(t_labels, dtype=np.float64)
        squared = (
            t_target @ self.projected_gram @ t_target
            - 2.0 * t_labels @ self.projected_gram @ t_target
            + t_labels @ self.label_gram @ t_labels
        )
        return 0.5 * max(float(squared), 0.0)


def compute_statistics(backend, features, f_labels, *, factorization="gram", input_eps=None):
    """Standardise the inputs and compute :class:`RegressionStatistics`.

    Parameters
    ----------
    backend : NumpyBackend or TorchBackend
        Where the O(N) work runs.
    features : backend array, shape (N, D)
    f_labels : list of K backend arrays, each of shape (N, L)
        Already padded to one width L.
    factorization : {"gram", "svd"}
        ``"gram"`` eigendecomposes X^T X (D x D), the cheapest route and the one
        that works on accumulated chunks. Eigenvalues below
        lambda_max * max(N, D) * eps count as zero, so feature directions with a
        singular-value ratio under about 1e-6 (float64) are treated as
        collinear. ``"svd"`` takes the thin SVD of X itself, about four times
        the cost, and resolves singular-value ratios down to max(N, D) * eps,
        the same rank rule as ``numpy.linalg.lstsq``.
    input_eps : sequence of K + 1 floats, optional
        Machine epsilon of the features and of each F-label block before
        conversion to the working precision; see
        :func:`~emms_ref.solver.standardize_columns`.

    Returns
    -------
    RegressionStatistics
    """
    if factorization not in FACTORIZATIONS:
        raise ValueError(f"factorization must be one of {FACTORIZATIONS}, got {factorization!r}.")

    n_samples, n_features = features.shape
    width = f_labels[0].shape[1]
    if input_eps is None:
        input_eps = [None] * (len(f_labels) + 1)
    x = standardize_columns(backend, features, input_eps=input_eps[0])
    z = [
        standardize_columns(backend, block, input_eps=eps)
        for block, eps in zip(f_labels, input_eps[1:])
    ]
    stacked = backend.concatenate_columns(z)

    if factorization == "gram":
        coordinates, rank = _projected_coordinates_gram(backend, x, stacked)
    else:
        coordinates, rank = _projected_coordinates_svd(backend, x, stacked)

    k = len(z)
    label_gram = np.empty((k, k))
    projected_gram = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            block_i = slice(i * width, (i + 1) * width)
            block_j = slice(j * width, (j + 1) * width)
            label_gram[i, j] = label_gram[j, i] = backend.scalar((z[i] * z[j]).sum())
            projected_gram[i, j] = projected_gram[j, i] = backend.scalar(
                (coordinates[:, block_i] * coordinates[:, block_j]).sum()
            )

    if rank >= n_samples - 1:
        warnings.warn(
            f"The standardised features have rank {rank} with N={n_samples} samples, so "
            "they fit any centred target exactly and the EMMS score degenerates to 0 for "
            "every model. Use more samples than feature dimensions (N > D + 1), or reduce "
            "the features (for example with PCA) before scoring.",
            DegenerateScoreWarning,
            stacklevel=3,
        )
        projected_gram = label_gram.copy()

    return RegressionStatistics(
        label_gram=label_gram / n_samples,
        projected_gram=projected_gram / n_samples,
        n_samples=n_samples,
        width=width,
        rank=rank,
        n_features=n_features,
    )


def _projected_coordinates_gram(backend, x, stacked):
    """Coordinates of P Z in an orthonormal basis of col(X), from X^T X."""
    n_samples, n_features = x.shape
    gram = x.T @ x
    cross = x.T @ stacked
    eigenvalues, eigenvectors = backend.eigh(gram)

    largest = backend.scalar(eigenvalues[-1])
    cutoff = largest * max(n_samples, n_features) * backend.eps
    keep = eigenvalues > cutoff
    rank = int(backend.scalar(keep.sum()))
    if rank == 0:
        return backend.zeros((1, stacked.shape[1])), 0

    # Q_X = X V_r diag(lambda_r)^(-1/2) is an orthonormal basis of col(X), so
    # the coordinates of P Z in it are diag(lambda_r)^(-1/2) V_r^T X^T Z.
    basis = eigenvectors[:, keep]
    coordinates = (basis.T @ cross) / backend.sqrt(eigenvalues[keep])[:, None]
    return coordinates, rank


def _projected_coordinates_svd(backend, x, stacked):
    """Coordinates of P Z in an orthonormal basis of col(X), from the thin SVD of X."""
    n_samples, n_features = x.shape
    left, singular_values, _ = backend.svd(x)
    largest = backend.scalar(singular_values[0]) if singular_values.shape[0] else 0.0
    keep = singular_values > largest * max(n_samples, n_features) * backend.eps
    rank = int(backend.scalar(keep.sum()))
    if rank == 0:
        return backend.zeros((1, stacked.shape[1])), 0
    return left[:, keep].T @ stacked, rank
