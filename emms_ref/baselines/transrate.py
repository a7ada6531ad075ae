r"""TransRate: the coding-rate difference between all features and the features of each class.

TransRate (Huang et al., ICML 2022) estimates the mutual information between
features and labels with the coding rate of Ma et al. (2007),

    R(Z, eps) = 1/2 log det( I_D + Z^T Z / (n eps) )

for a matrix Z of n rows, and scores

    TransRate = R(Z, eps) - 1/C sum_c R(Z_c, eps)

where Z contains the centred features of all N samples and Z_c the rows of Z
in class c (centred with the mean of all samples, not of the class). The
result is in nats. It grows when the classes are compact (small R(Z_c)) and
the features overall are spread out (large R(Z)).

NOTE: the scaling 1/(n eps) with eps = 1e-4 and the unweighted mean over
classes follow the ten-line implementation that the public copies attribute
to Huang et al. Whether the formulas in their paper scale the same way is
unverified. With balanced classes the class weighting makes no difference.

eps is absolute, so TransRate depends on the scale of the features. Scaling
them by c adds about rank/2 * log c^2 to a coding rate once its eigenvalues
are far above n eps. The shifts cancel when every class has more samples
than features (all ranks equal D) but leave (rank(Z) - mean_c rank(Z_c)) log c
otherwise, and tiny features give a score near 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_features
from ..solver.backend import select_backend
from ._arrays import backend_index, backend_label, symmetric_eigenvalues
from ._labels import encode_class_labels

PUBLISHED_EPS = 1e-4


@dataclass(frozen=True)
class TransRateResult:
    """Result of :func:`transrate`.

    Attributes
    ----------
    score : float
        TransRate = ``rate - conditional_rate`` in nats; higher is better.
    rate : float
        R(Z, eps) of all centred features, in nats.
    conditional_rate : float
        Mean over the classes present of R(Z_c, eps), in nats.
    eps : float
        The distortion eps that was used.
    backend : str
        Where the O(N) work ran, ``"numpy"`` or ``"torch:<device>"``.
    """

    score: float
    rate: float
    conditional_rate: float
    eps: float
    backend: str


def transrate(features, labels, *, eps=PUBLISHED_EPS, device=None, dtype=None) -> TransRateResult:
    """Compute TransRate, the coding-rate difference of the features with and without the labels.

    Parameters
    ----------
    features : numpy.ndarray or torch.Tensor, shape (N, D)
        Features of the N target samples from one candidate model; centred
        here, not scaled.
    labels : array_like or torch.Tensor, shape (N,)
        Class labels of any sortable type; only the classes present count.
    eps : float
        Distortion of the coding rate, > 0; 1e-4 as published.
    device : None, "cpu", "cuda", "cuda:N" or "auto"
        As for :func:`emms_ref.baselines.logme`.
    dtype : None, "float64" or "float32"
        Working precision of the backend; float64 by default.

    Returns
    -------
    TransRateResult

    Raises
    ------
    ValueError
        On invalid features or labels (shape, length, NaN or inf, fewer than
        two classes) or ``eps <= 0``.

    Notes
    -----
    log det(I_D + Z^T Z / (n eps)) is computed as sum_i log1p(s_i / (n eps))
    over the eigenvalues s_i of the smaller of Z^T Z and Z Z^T, which are
    the same non-zero values. The inputs are never modified.
    """
    if not (isinstance(eps, (int, float, np.floating)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}; the published value is 1e-4.")
    checked_features = check_features(features)
    encoded = encode_class_labels(labels, checked_features.shape[0])

    backend = select_backend(device, dtype, checked_features)
    x = backend.asarray(checked_features)
    centred = x - backend.column_mean(x)

    rate = _coding_rate(backend, centred, eps)
    class_rates = [
        _coding_rate(backend, centred[backend_index(backend, np.flatnonzero(encoded.codes == code))], eps)
        for code in range(encoded.n_classes)
    ]
    conditional_rate = float(np.mean(class_rates))
    return TransRateResult(
        score=rate - conditional_rate,
        rate=rate,
        conditional_rate=conditional_rate,
        eps=float(eps),
        backend=backend_label(backend),
    )


def _coding_rate(backend, z, eps) -> float:
    n_rows, n_columns = z.shape
    gram = z.T @ z if n_rows >= n_columns else z @ z.T
    eigenvalues = np.clip(backend.to_numpy(symmetric_eigenvalues(backend, gram)), 0.0, None)
    return 0.5 * float(np.sum(np.log1p(eigenvalues / (n_rows * eps))))
