"""LEEP and NCE: transferability from the source model's predictions on the target data.

Both scores need a model with a classifier for its source task (for example
ImageNet's 1,000 classes). Write theta(x) for its predicted source-class
distribution on a target input x, y for the target label and z for a source
class.

LEEP (Nguyen et al., ICML 2020) estimates the empirical joint
P(y, z) = 1/N sum_{i: y_i = y} theta(x_i)_z, the conditional
P(y | z) = P(y, z) / P(z), and scores the log-likelihood of the target labels
under the "expected empirical predictor":

    LEEP = 1/N sum_i log sum_z P(y_i | z) theta(x_i)_z   (nats per sample, <= 0)

NCE (Tran et al., ICCV 2019) uses hard source labels z_i instead and scores
minus the conditional entropy of the target labels given them:

    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z)   (nats, in [-log C, 0])

Both are 0 when the source prediction determines the target label. Several
public copies drop the log in LEEP and so score a mean probability. Others
index classes by range(max(label) + 1). Here the classes are the label
values present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_finite
from ..solver.backend import is_torch_tensor
from ._labels import EncodedLabels, encode_class_labels, one_hot

# Largest |row sum - 1| accepted for source probabilities. A float32 softmax
# over 1,000 classes sums to 1 within about 1e-6.
PROBABILITY_SUM_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LEEPResult:
    """Result of :func:`leep`.

    Attributes
    ----------
    score : float
        LEEP in nats per sample, at most 0; higher is better.
    conditional : numpy.ndarray, shape (C_t, C_s)
        P(y | z): column z is the target-class distribution given source
        class z (all zeros for a source class that no sample predicts).
    classes : numpy.ndarray, shape (C_t,)
        Target class labels, sorted; the rows of ``conditional``.
    """

    score: float
    conditional: np.ndarray
    classes: np.ndarray


@dataclass(frozen=True)
class NCEResult:
    """Result of :func:`nce`.

    Attributes
    ----------
    score : float
        NCE = -H(Y | Z) in nats, in [-log C_t, 0]; higher is better.
    conditional_entropy : float
        H(Y | Z) in nats.
    n_source_classes : int
        Number of distinct source labels that occur.
    classes : numpy.ndarray, shape (C_t,)
        Target class labels, sorted.
    """

    score: float
    conditional_entropy: float
    n_source_classes: int
    classes: np.ndarray


def _to_numpy(value):
    if is_torch_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _source_probabilities(source, n_samples, name) -> np.ndarray:
    """Return source predictions as an (N, C_s) float64 matrix of probabilities."""
    if source is None:
        raise ValueError(f"{name} is missing; pass (N, C_s) source-class probabilities or (N,) source labels.")
    array = _to_numpy(source)
    if array.ndim == 1:
        encoded = encode_class_labels(array, n_samples, name, min_classes=1, reference="labels has")
        return one_hot(encoded)

    if array.ndim != 2:
        raise ValueError(
            f"{name} must be (N, C_s) source-class probabilities or (N,) hard source labels, "
            f"got shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} as an (N, C_s) matrix must hold probabilities, got dtype {array.dtype}.")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but labels has {n_samples} entries; "
            "pass one row of source predictions per target sample."
        )
    check_finite(array, name)

    probabilities = array.astype(np.float64)
    if probabilities.min() < 0:
        raise ValueError(
            f"{name} contains negative values (minimum {probabilities.min():.3g}); pass probabilities, "
            "for example the softmax of the source classifier's logits, not the logits."
        )

    row_sums = probabilities.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise ValueError(
            f"{name} rows must sum to 1 (probabilities over the C_s source classes), but row {worst} sums to "
            f"{row_sums[worst]:.6g}; apply a softmax over the class axis (axis=1), not over samples."
        )
    return probabilities


def _encode_targets(labels) -> EncodedLabels:
    if labels is None:
        raise ValueError("labels is missing; pass one target class label per sample, shape (N,).")
    array = _to_numpy(labels)
    n_samples = array.shape[0] if array.ndim >= 1 else 0
    return encode_class_labels(array, n_samples, "labels")


def leep(source_predictions, labels) -> LEEPResult:
    """Compute LEEP, the log expected empirical prediction, from source-model predictions.

    Parameters
    ----------
    source_predictions : array_like or torch.Tensor, shape (N, C_s) or (N,)
        The source model's predicted distribution over its C_s classes for
        each target sample: rows of non-negative numbers summing to 1.
        Alternatively one hard source label per sample (any sortable
        values), which counts as a one-hot distribution.
    labels : array_like or torch.Tensor, shape (N,)
        Target class labels of any sortable type.

    Returns
    -------
    LEEPResult

    Raises
    ------
    ValueError
        If the sample counts differ, a probability row is negative or does
        not sum to 1 (within 1e-4), an entry is NaN or inf, or ``labels``
        contains fewer than two classes (LEEP is then 0 for every model).

    Notes
    -----
    LEEP = 0 when every source class is predicted with probability 1 and
    maps to a single target class; LEEP = log(1/C_t) for uniform source
    predictions and balanced target classes. The inputs are never modified.
    """
    encoded = _encode_targets(labels)
    theta = _source_probabilities(source_predictions, encoded.codes.size, "source_predictions")
    n_samples = encoded.codes.size

    joint = one_hot(encoded).T @ theta / n_samples  # P(y, z), shape (C_t, C_s)
    source_marginal = joint.sum(axis=0)  # P(z)
    # A source class with P(z) = 0 has theta(x)_z = 0 for every sample, so
    # its column never contributes; 0 keeps it out of the sum.
    predicted = source_marginal > 0
    conditional = np.zeros_like(joint)
    conditional[:, predicted] = joint[:, predicted] / source_marginal[predicted]

    expected_prediction = theta @ conditional.T  # (N, C_t)
    likelihood = expected_prediction[np.arange(n_samples), encoded.codes]
    return LEEPResult(
        score=float(np.mean(np.log(likelihood))),
        conditional=conditional,
        classes=encoded.classes,
    )


def nce(source_labels, labels) -> NCEResult:
    """Compute NCE, the negative conditional entropy of the target labels given source labels.

    Parameters
    ----------
    source_labels : array_like or torch.Tensor, shape (N,) or (N, C_s)
        One hard source label per sample (any sortable values), or the
        source model's (N, C_s) predictions, which are reduced to their
        argmax as NCE is defined on hard labels.
    labels : array_like or torch.Tensor, shape (N,)
        Target class labels of any sortable type.

    Returns
    -------
    NCEResult

    Raises
    ------
    ValueError
        If the sample counts differ, an entry is NaN or inf, or ``labels``
        contains fewer than two classes (NCE is then 0 for every model).

    Notes
    -----
    NCE = 0 when each source label occurs with one target class only, and
    NCE = -H(Y) (= -log C_t for balanced classes) when the source labels
    are independent of the target labels, for example all equal. The inputs
    are never modified.
    """
    encoded = _encode_targets(labels)
    n_samples = encoded.codes.size
    array = _to_numpy(source_labels) if source_labels is not None else None
    if array is not None and array.ndim == 2:
        hard_source = np.argmax(_source_probabilities(array, n_samples, "source_labels"), axis=1)
    else:
        hard_source = array
    source = encode_class_labels(hard_source, n_samples, "source_labels", min_classes=1, reference="labels has")

    counts = np.zeros((encoded.n_classes, source.n_classes))
    np.add.at(counts, (encoded.codes, source.codes), 1.0)
    source_counts = counts.sum(axis=0)
    nonzero = counts > 0
    # H(Y | Z) = -sum_{y,z} P(y, z) log P(y | z), with 0 log 0 = 0.
    conditional = counts / source_counts[None, :]
    entropy = -float(np.sum(counts[nonzero] / n_samples * np.log(conditional[nonzero])))
    return NCEResult(
        score=-entropy,
        conditional_entropy=entropy,
        n_source_classes=source.n_classes,
        classes=encoded.classes,
    )
