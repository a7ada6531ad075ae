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

from .backend import CONSTANT_COLUMN_EPS_FACTOR, factorization_threads, standardize_columns
from .moments import RegressionMoments

logger = logging.getLogger(__name__)

FACTORIZATIONS = ("auto", "cholesky", "gram", "svd")

# "auto" takes the Cholesky route when LAPACK's estimate of the reciprocal
# condition number of the standardised Gram matrix exceeds the eigenvalue
# cutoff ratio of the "gram" route times this margin. The estimate bounds
# lambda_min / lambda_max from below up to the estimator's slack (rarely more
# than a factor of 10), so "auto" then keeps every direction exactly as "gram"
# would, and otherwise falls back to "gram".
CHOLESKY_CONDITION_MARGIN = 1000.0


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


def compute_statistics(backend, features, f_labels, *, factorization="auto", input_eps=None):
    """Standardise the inputs and compute :class:`RegressionStatistics`.

    Parameters
    ----------
    backend : NumpyBackend or TorchBackend
        Where the O(N) work runs.
    features : backend array, shape (N, D)
    f_labels : list of K backend arrays, each of shape (N, L)
        Already padded to one width L.
    factorization : {"auto", "cholesky", "gram", "svd"}
        How the projection onto the feature space is computed. ``"gram"``
        eigendecomposes the standardised X^T X (D x D); eigenvalues below
        lambda_max * max(N, D) * eps count as zero, so feature directions
        with a singular-value ratio under about 1e-6 (float64) are treated
        as collinear. ``"cholesky"`` factors the same matrix with a Cholesky
        decomposition, several times cheaper than ``eigh``, and raises
        ``numpy.linalg.LinAlgError`` when it is not positive definite or its
        estimated condition number is too large for the ``"gram"`` rank rule
        to keep every direction.
        ``"auto"`` (the default) uses Cholesky when the matrix is well
        conditioned (see ``CHOLESKY_CONDITION_MARGIN``) and ``"gram"``
        otherwise, so it returns the ``"gram"`` result at the Cholesky cost.
        These three need only the moments of the data, which is what makes
        out-of-core scoring possible. ``"svd"`` takes the thin SVD of X
        itself, about four times the cost of forming X^T X, and resolves
        singular-value ratios down to max(N, D) * eps, the same rank rule as
        ``numpy.linalg.lstsq``.
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
    if factorization != "svd":
        moments = RegressionMoments.from_block(backend, features, f_labels)
        return statistics_from_moments(moments, factorization=factorization, input_eps=input_eps, stacklevel=4)

    n_samples, n_features = features.shape
    width = f_labels[0].shape[1]
    if input_eps is None:
        input_eps = [None] * (len(f_labels) + 1)
    x = standardize_columns(backend, features, input_eps=input_eps[0])
    z = [standardize_columns(backend, block, input_eps=eps) for block, eps in zip(f_labels, input_eps[1:])]
    stacked = backend.concatenate_columns(z)
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
    return _finish(label_gram, projected_gram, n_samples, width, rank, n_features, stacklevel=4)


def statistics_from_moments(moments, *, factorization="auto", input_eps=None, stacklevel=2):
    """Compute :class:`RegressionStatistics` from accumulated centred moments.

    Parameters
    ----------
    moments : RegressionMoments
        Moments of all N rows, from one block or merged over many.
    factorization : {"auto", "cholesky", "gram"}
        See :func:`compute_statistics`; ``"svd"`` needs the data itself.
    input_eps : sequence of K + 1 floats, optional
        Machine epsilon of the features and of each F-label block at their
        input precision, for the constant-column rule.
    """
    if factorization == "svd":
        raise ValueError(
            "factorization='svd' needs the whole feature matrix in memory; out-of-core and "
            "sharded scoring work from moments, so use 'auto', 'cholesky' or 'gram'."
        )
    if factorization not in FACTORIZATIONS:
        raise ValueError(f"factorization must be one of {FACTORIZATIONS}, got {factorization!r}.")
    backend = moments.backend
    n_samples, n_features, width = moments.n, moments.n_features, moments.width
    k = moments.n_flabels
    if input_eps is None:
        input_eps = [None] * (k + 1)
    eps = [backend.eps if value is None else max(value, backend.eps) for value in input_eps]

    feature_squares = _diagonal(backend, moments.s_xx)
    _check_squares_finite(backend, feature_squares, "features")
    for j in range(k):
        _check_squares_finite(backend, moments.s_zz[j, j], f"f_labels[{j}]")
    inverse_std_x = _inverse_std(backend, feature_squares, n_samples, eps[0], moments.max_abs_x)
    inverse_std_z = backend.concatenate_columns(
        [
            _inverse_std(backend, moments.s_zz[j, j], n_samples, eps[j + 1], moments.max_abs_z[j])[None, :]
            for j in range(k)
        ]
    )[0]
    gram = moments.s_xx * inverse_std_x[:, None] * inverse_std_x[None, :]
    cross = moments.s_xz * inverse_std_x[:, None] * inverse_std_z[None, :]

    with factorization_threads(backend, n_features):
        coordinates, rank = _projected_coordinates(backend, gram, cross, n_samples, factorization)

    label_gram = np.empty((k, k))
    projected_gram = np.empty((k, k))
    scales = inverse_std_z.reshape(k, width)
    for i in range(k):
        for j in range(i, k):
            block_i = slice(i * width, (i + 1) * width)
            block_j = slice(j * width, (j + 1) * width)
            label_gram[i, j] = label_gram[j, i] = backend.scalar((moments.s_zz[i, j] * scales[i] * scales[j]).sum())
            projected_gram[i, j] = projected_gram[j, i] = backend.scalar(
                (coordinates[:, block_i] * coordinates[:, block_j]).sum()
            )
    return _finish(label_gram, projected_gram, n_samples, width, rank, n_features, stacklevel=stacklevel + 1)


def _finish(label_gram, projected_gram, n_samples, width, rank, n_features, *, stacklevel):
    # A block whose columns were all zeroed by the constant-column rule would
    # be fitted exactly by any features, so every model would score 0, the best score.
    constant_blocks = [index for index in range(label_gram.shape[0]) if not label_gram[index, index] > 0]
    if constant_blocks:
        raise ValueError(
            f"f_labels[{constant_blocks[0]}] is constant over the {n_samples} samples: every column has "
            "zero variance after centring, or values too small to square in the working precision. A constant block is "
            "fitted exactly by any features and would give every model the best score, 0. Remove it, or "
            "check the encoder that produced it (every label may have received the same embedding)."
        )
    if rank >= n_samples - 1:
        warnings.warn(
            f"The standardised features have rank {rank} with N={n_samples} samples, so "
            "they fit any centred target exactly and the EMMS score degenerates to 0 for "
            "every model. Use more samples than feature dimensions (N > D + 1), or reduce "
            "the features (for example with PCA) before scoring.",
            DegenerateScoreWarning,
            stacklevel=stacklevel,
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


def _check_squares_finite(backend, sum_of_squares, name):
    """Raise when the centred sums of squares of ``name`` overflowed the working precision."""
    largest = backend.max_abs(sum_of_squares)
    if not np.isfinite(largest):
        raise ValueError(
            f"{name} overflow when squared in the working precision; divide them by their largest absolute "
            "value before scoring (the EMMS score does not depend on the scale of features or F-labels)."
        )


def _diagonal(backend, matrix):
    if backend.name == "numpy":
        return np.diagonal(matrix).copy()
    return backend.torch.diagonal(matrix).clone()


def _inverse_std(backend, sum_of_squares, n_samples, eps, max_abs):
    """1 / std per column, and 0 for the columns the constant-column rule zeroes."""
    variance = sum_of_squares / n_samples
    std = backend.sqrt(backend.where(variance > 0, variance, 0.0))
    constant = std <= CONSTANT_COLUMN_EPS_FACTOR * eps * max_abs
    safe_std = backend.where(constant, 1.0, std)
    return backend.where(constant, 0.0, 1.0 / safe_std)


def _projected_coordinates(backend, gram, cross, n_samples, factorization):
    """Coordinates of P Z in an orthonormal basis of col(X), from the standardised Gram matrix."""
    n_features = gram.shape[0]
    if factorization in ("auto", "cholesky"):
        threshold = max(n_samples, n_features) * backend.eps * CHOLESKY_CONDITION_MARGIN
        result = _cholesky_coordinates(backend, gram, cross, threshold)
        if result is not None:
            return result
        if factorization == "cholesky":
            raise np.linalg.LinAlgError(
                "factorization='cholesky' failed: the standardised feature Gram matrix is not "
                "positive definite or too ill conditioned to factor safely (collinear feature "
                "columns, or N <= D). Use factorization='auto', which falls back to an "
                "eigendecomposition."
            )
    return _projected_coordinates_gram_matrix(backend, gram, cross, n_samples)


def _cholesky_coordinates(backend, gram, cross, threshold):
    """L^{-1} X^T Z with X^T X = L L^T over the non-constant columns, or None when ill conditioned."""
    if backend.name == "numpy":
        active = np.flatnonzero(np.diagonal(gram) > 0)
    else:
        active = backend.torch.nonzero(backend.torch.diagonal(gram) > 0).reshape(-1)
    rank = int(active.shape[0])
    if rank == 0:
        return None
    gram_active = gram[active][:, active]
    cross_active = cross[active]
    if backend.name == "numpy":
        # numpy's own LAPACK: scipy's potrf was 100x slower on a loaded
        # 2-core machine for D = 256 (thread contention), numpy's was not.
        try:
            factor = np.linalg.cholesky(gram_active)
        except np.linalg.LinAlgError:
            return None
        factor_cpu, norm = factor, float(np.abs(gram_active).sum(0).max())
    else:
        torch = backend.torch
        factor, info = torch.linalg.cholesky_ex(gram_active)
        if int(info.item()) != 0:
            return None
        factor_cpu = factor.detach().cpu().numpy()
        norm = float(gram_active.abs().sum(0).max().item())
    from scipy.linalg import lapack

    pocon = lapack.get_lapack_funcs("pocon", (factor_cpu,))
    rcond, info = pocon(factor_cpu, norm, uplo="L")
    if info != 0 or not rcond > threshold:
        return None
    if backend.name == "numpy":
        from scipy.linalg import solve_triangular

        coordinates = solve_triangular(factor, cross_active, lower=True, check_finite=False)
    else:
        coordinates = backend.torch.linalg.solve_triangular(factor, cross_active, upper=False)
    return coordinates, rank


def _projected_coordinates_gram_matrix(backend, gram, cross, n_samples):
    """Coordinates of P Z from the eigendecomposition of the standardised X^T X."""
    n_features = gram.shape[0]
    eigenvalues, eigenvectors = backend.eigh(gram)
    largest = backend.scalar(eigenvalues[-1])
    cutoff = largest * max(n_samples, n_features) * backend.eps
    keep = eigenvalues > cutoff
    rank = int(backend.scalar(keep.sum()))
    if rank == 0:
        return backend.zeros((1, cross.shape[1])), 0
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
