"""Validation of class labels and regression targets for the baseline metrics.

Class labels may be any hashable values that numpy can sort: integers with
gaps ({3, 17, 40}), strings, booleans. Every metric maps them to the codes
0 .. C-1 of the classes present, in sorted order, so an id that never occurs
adds nothing. The public copies of LogME, LEEP, NCE, H-score and TransRate
loop over range(max(labels) + 1) instead, which scores absent ids as empty
classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_finite
from ..solver.backend import is_torch_tensor

MIN_CLASSES = 2


@dataclass(frozen=True)
class EncodedLabels:
    """Class labels mapped to the codes 0 .. C-1.

    Attributes
    ----------
    codes : numpy.ndarray of int, shape (N,)
        Code of each sample's class: its index in ``classes``.
    classes : numpy.ndarray, shape (C,)
        The distinct label values, sorted; ``classes[codes]`` equals the labels.
    counts : numpy.ndarray of int, shape (C,)
        Number of samples in each class.
    """

    codes: np.ndarray
    classes: np.ndarray
    counts: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)


def _as_label_array(labels, name):
    if labels is None:
        raise ValueError(f"{name} is missing; pass one class label per sample, shape (N,).")
    if is_torch_tensor(labels):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        raise ValueError(
            f"{name} must be one-dimensional with one class label per sample, got shape {array.shape}; "
            "flatten it with .ravel()."
        )
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional with one class label per sample, got shape {array.shape}. "
            "For one-hot labels pass their argmax; for real-valued targets use regression=True."
        )
    return array


def encode_class_labels(
    labels, n_samples, name="labels", *, min_classes=MIN_CLASSES, reference="the features have"
) -> EncodedLabels:
    """Validate class labels and map them to codes 0 .. C-1 of the classes present.

    Parameters
    ----------
    labels : array_like or torch.Tensor, shape (N,)
        One class label per sample: integers, strings or booleans.
    n_samples : int
        N, the number of feature rows the labels must match.
    name : str
        Argument name used in error messages.
    min_classes : int
        Smallest number of distinct classes accepted.
    reference : str
        What ``n_samples`` counts, for the length-mismatch message
        ("the features have" N rows).

    Returns
    -------
    EncodedLabels

    Raises
    ------
    ValueError
        If ``labels`` is missing, not one-dimensional, has a length other than
        ``n_samples``, contains NaN or inf, mixes incomparable types, or contains
        fewer than ``min_classes`` distinct classes.
    """
    array = _as_label_array(labels, name)
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {array.shape[0]} entries but {reference} {n_samples}; "
            "pass one label per sample, in the same sample order."
        )
    if array.dtype.kind == "f":
        check_finite(array, name)
    elif array.dtype.kind == "c":
        raise TypeError(f"{name} must not be complex, got dtype {array.dtype}.")

    try:
        classes, codes, counts = np.unique(array, return_inverse=True, return_counts=True)
    except TypeError as error:
        raise ValueError(
            f"{name} mixes values that cannot be sorted together ({error}); "
            "convert all labels to one type, for example with labels.astype(str)."
        ) from None

    if classes.size < min_classes:
        raise ValueError(
            f"{name} contains {classes.size} distinct class(es) ({classes.tolist()[:5]}), but the score needs "
            f"at least {min_classes}: with one class there is nothing to tell apart, so the score measures "
            "no transferability (LEEP, NCE, H-score and TransRate are 0 for every model). "
            "Check that the labels were not filtered to one class."
        )
    return EncodedLabels(codes=codes.reshape(-1).astype(np.intp), classes=classes, counts=counts)


def one_hot(encoded: EncodedLabels) -> np.ndarray:
    """Return the (N, C) float64 indicator matrix of the encoded classes."""
    indicators = np.zeros((encoded.codes.size, encoded.n_classes), dtype=np.float64)
    indicators[np.arange(encoded.codes.size), encoded.codes] = 1.0
    return indicators


def check_regression_targets(targets, n_samples, name="labels"):
    """Validate real-valued targets and return them as a float array of shape (N, T).

    A 1-D array of length N is one target. Torch tensors are returned as
    tensors and other input as a numpy array, without a copy; nothing writes
    into the result.
    """
    if targets is None:
        raise ValueError(f"{name} is missing; pass real-valued targets of shape (N,) or (N, T).")
    if is_torch_tensor(targets):
        if targets.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {targets.dtype}.")
        array = targets
    else:
        array = np.asarray(targets)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} must hold real numbers for regression, got dtype {array.dtype}; "
                "for class labels use regression=False."
            )
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N,) or (N, T) for regression, got shape {tuple(array.shape)}.")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but the features have {n_samples}; "
            "pass one target row per feature row, in the same sample order."
        )
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no target columns, got shape {tuple(array.shape)}.")
    check_finite(array, name)
    return array
