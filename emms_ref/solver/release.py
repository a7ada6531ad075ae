"""The one-step scorer of the official EMMS release, reproduced for comparison.

The function ``EMMS`` in ``metrics.py`` of github.com/OpenGVLab/Multitask-Model-Selector
(commit 24d1008) differs from the method of Meng et al. (NeurIPS 2023, arXiv 2308.06262):

1. It runs one alternation only: W0 is fitted to the uniform-weight target,
   t1 = sparsemax(unconstrained least-squares t), and the score uses the stale
   W0 with t1 rather than refitting W.
2. Its normalisation ``np.sum(residual**2) / N*L`` parses as (sum / N) * L, so
   the score scales with L**2 relative to the per-entry mean squared residual.
3. It standardises with (x - mean) / (std + 1e-8) rather than treating
   constant columns separately.
4. It standardises the F-label array in place, overwriting the caller's data.

This module reproduces items 1-3 with the same arithmetic. It works on copies,
so item 4 does not happen here.
"""

from __future__ import annotations

import numpy as np

from .simplex import project_to_simplex

RELEASE_STD_EPSILON = 1e-8


def release_score(backend, features, f_labels):
    """Compute the official release's EMMS score and its weights.

    Parameters
    ----------
    backend : NumpyBackend or TorchBackend
    features : backend array, shape (N, D)
    f_labels : list of K backend arrays, each of shape (N, L)

    Returns
    -------
    score : float
        -(sum of squared residuals / N) * L, as the release computes it.
    weights : numpy.ndarray, shape (K,)
        The sparsemax weights t1.
    squared_residual : float
        Sum of squared residuals ||X W0 - sum_k t1_k Z_k||_F^2.
    """
    n_samples = features.shape[0]
    width = f_labels[0].shape[1]
    k = len(f_labels)

    x = _release_standardize(backend, features)
    z = [_release_standardize(backend, block) for block in f_labels]

    uniform_target = z[0] / k
    for block in z[1:]:
        uniform_target = uniform_target + block / k
    w0 = _lstsq(backend, x, uniform_target)
    fitted = x @ w0

    design = backend.concatenate_columns([block.reshape(-1, 1) for block in z])
    t_unconstrained = _lstsq(backend, design, fitted.reshape(-1, 1))
    weights = project_to_simplex(backend.to_numpy(t_unconstrained).reshape(-1))

    target = z[0] * float(weights[0])
    for weight, block in zip(weights[1:], z[1:]):
        target = target + block * float(weight)
    squared_residual = backend.scalar(((fitted - target) ** 2).sum())
    score = -(squared_residual / n_samples * width)
    return score, weights, squared_residual


def _release_standardize(backend, x):
    centred = x - backend.column_mean(x)
    std = backend.sqrt(backend.column_mean(centred * centred))
    return centred / (std + RELEASE_STD_EPSILON)


def _lstsq(backend, a, b):
    if backend.name == "numpy":
        return np.linalg.lstsq(a, b, rcond=None)[0]
    torch = backend.torch
    if a.device.type == "cpu":
        return torch.linalg.lstsq(a, b, driver="gelsd").solution
    # NOTE: CUDA's lstsq supports only full-rank inputs (driver "gels"), so the
    # pseudo-inverse replaces numpy's minimum-norm solution there.
    return torch.linalg.pinv(a) @ b
