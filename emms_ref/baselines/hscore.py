r"""H-score, plain and with Ledoit-Wolf shrinkage of the feature covariance.

H-score (Bao et al., ICIP 2019) measures how much of the feature covariance
is explained by the class means:

    H = tr( cov(f)^+ cov(E[f | y]) )

with cov(f) = Xc^T Xc / N for the centred features Xc and cov(E[f | y]) =
sum_c (n_c / N) mu_c mu_c^T for the centred class means mu_c. It equals
tr(P_X P_Y), the trace of the product of the orthogonal projectors onto the
centred feature columns and onto the class indicators. That is Pillai's
trace of a one-way MANOVA, the sum of squared canonical correlations between
the features and the one-hot labels. Hence 0 <= H <= min(C - 1, rank(Xc)), and
H = C - 1 exactly when the centred features span all N - 1 centred
directions, which generic features do once D >= N - 1. In that regime
H-score is C - 1 for every model and cannot rank them.

The shrinkage version (Ibrahim et al., 2022, "Newer is not always better")
replaces cov(f) by the Ledoit-Wolf estimate
cov_a = (1 - a) cov(f) + a (tr cov(f) / D) I and scores

    H_a = tr( cov_a^-1 (1 - a) cov(E[f | y]) ).

In the eigenbasis of cov(f) (eigenvalues lambda_i), H_a weighs the
squared canonical correlations of each direction by the filter factor
(1 - a) lambda_i / ((1 - a) lambda_i + a tr cov(f) / D), in [0, 1], so
H_a <= H and the small, noisy directions count less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_features
from ..solver.backend import select_backend
from ._arrays import backend_label
from ._labels import encode_class_labels, one_hot
from ._spectrum import project_onto_left_vectors, thin_spectrum

SHRINKAGE_ESTIMATORS = ("ledoit_wolf",)


@dataclass(frozen=True)
class HScoreResult:
    """Result of :func:`h_score`.

    Attributes
    ----------
    score : float
        H-score, dimensionless, in [0, min(C - 1, rank)]; higher is better.
    shrinkage : float
        Shrinkage intensity a in [0, 1] that was used; 0 for the plain H-score.
    n_classes : int
        C, the number of classes present.
    rank : int
        Numerical rank of the centred features.
    backend : str
        Where the O(N) work ran, ``"numpy"`` or ``"torch:<device>"``.
    """

    score: float
    shrinkage: float
    n_classes: int
    rank: int
    backend: str


def h_score(features, labels, *, shrinkage=None, device=None, dtype=None) -> HScoreResult:
    """Compute the H-score of class labels given features, optionally with shrinkage.

    Parameters
    ----------
    features : numpy.ndarray or torch.Tensor, shape (N, D)
        Features of the N target samples from one candidate model.
    labels : array_like or torch.Tensor, shape (N,)
        Class labels of any sortable type; only the classes present count.
    shrinkage : None, "ledoit_wolf" or float in [0, 1]
        None gives the plain H-score with the pseudo-inverse of cov(f),
        dropping directions below the numerical-rank cut-off
        (max(N, D) * machine epsilon relative to the largest eigenvalue).
        ``"ledoit_wolf"`` estimates the shrinkage intensity with the formula
        of Ledoit and Wolf (2004); a float fixes it.
    device : None, "cpu", "cuda", "cuda:N" or "auto"
        As for :func:`emms_ref.baselines.logme`.
    dtype : None, "float64" or "float32"
        Working precision of the backend; float64 by default.

    Returns
    -------
    HScoreResult

    Raises
    ------
    ValueError
        On invalid features or labels (shape, length, NaN or inf, fewer
        than two classes) or an invalid ``shrinkage``.

    Notes
    -----
    Both covariances use the 1/N normalisation, so the plain score equals
    the shrinkage score with ``shrinkage=0`` on full-rank features. The
    public regularised copy mixes 1/N (Ledoit-Wolf) with 1/(N - 1)
    (``np.cov``) and is larger by N / (N - 1). The inputs are never modified.
    """
    _check_shrinkage(shrinkage)
    checked_features = check_features(features)
    n_samples, n_features = checked_features.shape
    encoded = encode_class_labels(labels, n_samples)

    backend = select_backend(device, dtype, checked_features)
    x = backend.asarray(checked_features)
    centred = x - backend.column_mean(x)
    spectrum = thin_spectrum(backend, centred)

    # Class sums of the left singular vectors: column c of U^T Y is U^T 1_c.
    class_sums = backend.to_numpy(project_onto_left_vectors(spectrum, centred, backend.asarray(one_hot(encoded))))
    # Squared canonical-correlation mass of each direction i: sum_c (U^T 1_c)_i^2 / n_c.
    direction_mass = (class_sums**2 / encoded.counts[None, :]).sum(axis=1)

    if shrinkage is None:
        intensity = 0.0
        filter_factors = np.ones_like(direction_mass)
    else:
        covariance_eigenvalues = spectrum.all_eigenvalues / n_samples
        if shrinkage == "ledoit_wolf":
            fourth_moment = float(backend.to_numpy(((centred * centred).sum(1) ** 2).sum()))
            intensity = ledoit_wolf_shrinkage(covariance_eigenvalues, fourth_moment, n_samples, n_features)
        else:
            intensity = float(shrinkage)
        # The zero eigenvalues of cov(f) that the Gram matrix of the smaller side omits do not change the trace.
        target_variance = covariance_eigenvalues.sum() / n_features
        shrunk = (1.0 - intensity) * backend.to_numpy(spectrum.sigma) / n_samples
        denominator = shrunk + intensity * target_variance
        filter_factors = np.divide(shrunk, denominator, out=np.zeros_like(shrunk), where=denominator > 0)

    return HScoreResult(
        score=float(np.sum(filter_factors * direction_mass)),
        shrinkage=intensity,
        n_classes=encoded.n_classes,
        rank=spectrum.rank,
        backend=backend_label(backend),
    )


def ledoit_wolf_shrinkage(covariance_eigenvalues, fourth_moment, n_samples, n_features) -> float:
    """Return the Ledoit-Wolf (2004) shrinkage intensity towards a scaled identity.

    Parameters
    ----------
    covariance_eigenvalues : numpy.ndarray
        Non-zero (or all) eigenvalues of the sample covariance S = Xc^T Xc / N.
    fourth_moment : float
        sum_i ||x_i||^4 over the centred rows x_i.
    n_samples, n_features : int
        N and D.

    Returns
    -------
    float
        min(b^2, d^2) / d^2 in [0, 1], with d^2 = ||S - mu I||_F^2 / D,
        mu = tr S / D, and b^2 = (sum_i ||x_i x_i^T - S||_F^2) / (N^2 D);
        0 when S is a multiple of the identity.
    """
    trace = float(np.sum(covariance_eigenvalues))
    frobenius_squared = float(np.sum(covariance_eigenvalues**2))
    mu = trace / n_features
    dispersion = (frobenius_squared - n_features * mu**2) / n_features
    # sum_i ||x_i x_i^T - S||_F^2 = sum_i ||x_i||^4 - N ||S||_F^2.
    sampling_error = (fourth_moment - n_samples * frobenius_squared) / (n_samples**2 * n_features)
    sampling_error = min(max(sampling_error, 0.0), dispersion)
    if dispersion <= 0:
        return 0.0
    return sampling_error / dispersion


def _check_shrinkage(shrinkage):
    if shrinkage is None or shrinkage in SHRINKAGE_ESTIMATORS:
        return
    if isinstance(shrinkage, str) or isinstance(shrinkage, bool):
        raise ValueError(f"shrinkage must be None, 'ledoit_wolf' or a number in [0, 1], got {shrinkage!r}.")
    if not (isinstance(shrinkage, (int, float, np.floating)) and math.isfinite(shrinkage) and 0 <= shrinkage <= 1):
        raise ValueError(f"shrinkage must be None, 'ledoit_wolf' or a number in [0, 1], got {shrinkage!r}.")
