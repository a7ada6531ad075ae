"""Input checks shared by the public functions of emms_ref.

Each check raises ValueError (or TypeError for unsupported types) with the
argument's name, what is wrong and how to fix it. No check copies or writes
into the caller's data. Every public entry point uses these checks: the scores
and baselines for features, F-labels and labels, feature extraction for images
(``check_images``), class-name F-labels for class indices
(``check_class_indices``), and the text encoders for texts (``check_texts``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .solver.backend import is_torch_tensor


def _shape(value):
    return tuple(value.shape)


def _as_checkable(value, name):
    """Return ``value`` as a numpy array or torch tensor, without copying when possible."""
    if is_torch_tensor(value):
        if value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {value.dtype}.")
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {array.dtype}; "
            "convert it with np.asarray(..., dtype=float)."
        )
    return array


def check_finite(value, name):
    """Raise ValueError naming the first NaN or inf position in ``value``."""
    if is_torch_tensor(value):
        import torch

        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            position = tuple(int(i) for i in torch.nonzero(bad)[0].tolist())
            raise ValueError(
                f"{name} contains NaN or inf, first at index {position}. "
                "Remove or impute those entries before scoring."
            )
        return
    bad = ~np.isfinite(value)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains NaN or inf, first at index {position}. "
            "Remove or impute those entries before scoring."
        )


def check_features(features, name="features"):
    """Validate a feature matrix of shape (N, D) with N >= 2 and finite entries."""
    if features is None:
        raise ValueError(f"{name} is missing; pass an (N, D) array of features.")
    array = _as_checkable(features, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (N, D), got shape {_shape(array)}; "
            "flatten or pool the features of each sample into one row."
        )
    n_samples, n_features = array.shape
    if n_samples < 2:
        raise ValueError(f"{name} needs at least 2 samples (rows), got shape {_shape(array)}.")
    if n_features < 1:
        raise ValueError(f"{name} has no feature columns, got shape {_shape(array)}.")
    check_finite(array, name)
    return array


def check_f_labels(f_labels, n_samples, name="f_labels"):
    """Validate F-labels and return them as a list of K arrays of shape (N, L_k).

    Accepts a sequence of K arrays of shape (N, L_k), one array of shape
    (N, L, K), or one array of shape (N, L) meaning K = 1.
    """
    if f_labels is None:
        raise ValueError(f"{name} is missing; pass a list of (N, L) arrays, one per encoder.")

    if is_torch_tensor(f_labels) or isinstance(f_labels, np.ndarray):
        stacked = _as_checkable(f_labels, name)
        if stacked.ndim == 3:
            blocks = [stacked[:, :, k] for k in range(stacked.shape[2])]
        elif stacked.ndim == 2:
            blocks = [stacked]
        else:
            raise ValueError(
                f"{name} as one array must have shape (N, L, K) or (N, L), "
                f"got shape {_shape(stacked)}."
            )
    elif isinstance(f_labels, Sequence) and not isinstance(f_labels, (str, bytes)):
        blocks = [_as_checkable(block, f"{name}[{k}]") for k, block in enumerate(f_labels)]
    else:
        raise TypeError(
            f"{name} must be a sequence of (N, L_k) arrays or one (N, L, K) array, "
            f"got {type(f_labels).__name__}."
        )

    if len(blocks) == 0:
        raise ValueError(f"{name} is empty; pass at least one (N, L) array of F-labels.")
    for k, block in enumerate(blocks):
        label = f"{name}[{k}]"
        if block.ndim != 2:
            raise ValueError(
                f"{label} must have shape (N, L), got shape {_shape(block)}; "
                "reshape a single column with .reshape(-1, 1)."
            )
        if block.shape[0] != n_samples:
            raise ValueError(
                f"{label} has {block.shape[0]} rows but the features have {n_samples}; "
                f"both need one row per sample (got {label} shape {_shape(block)})."
            )
        if block.shape[1] < 1:
            raise ValueError(f"{label} has no columns, got shape {_shape(block)}.")
        check_finite(block, label)
    return blocks


def pad_to_common_width(backend, blocks):
    """Zero-pad F-label blocks on the right to the widest width.

    Padded columns are constant, so standardisation keeps them at 0 and they
    add nothing to the fit. Only the normalisation by L uses the widest width.
    """
    width = max(block.shape[1] for block in blocks)
    padded = []
    for block in blocks:
        missing = width - block.shape[1]
        if missing:
            block = backend.concatenate_columns([block, backend.zeros((block.shape[0], missing))])
        padded.append(block)
    return padded


# Offending label values quoted in an error message.
_MAX_VALUES_IN_MESSAGE = 5


def check_images(images, name="images") -> None:
    """Raise if ``images`` is not a batch of uint8 RGB images.

    Parameters
    ----------
    images : numpy.ndarray
        Expected shape (N, H, W, 3) and dtype uint8, with N >= 1.
    name : str
        Argument name used in error messages.

    Raises
    ------
    TypeError
        If ``images`` is not a NumPy array or its dtype is not uint8.
    ValueError
        If the shape is not (N, H, W, 3) with N, H and W positive.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array of shape (N, H, W, 3), got {type(images).__name__}."
        )
    if images.dtype != np.uint8:
        raise TypeError(
            f"{name} must have dtype uint8 (pixel values 0-255), got {images.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8) if the values are pixels."
        )
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W, 3) with RGB channels last, got {images.shape}."
        )
    if min(images.shape[:3]) < 1:
        raise ValueError(f"{name} must not be empty, got shape {images.shape}.")


def check_class_indices(labels, num_classes: int) -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array after checking that it indexes ``num_classes`` classes.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, has a non-integer dtype, or has values
        outside ``0 .. num_classes-1``. The message names the fix.
    """
    label_array = np.asarray(labels)
    if label_array.ndim == 2 and label_array.shape[1] == num_classes and label_array.shape[1] > 1:
        raise ValueError(
            f"labels must have shape (N,), got {label_array.shape}, which looks one-hot or like "
            "per-class scores; pass labels.argmax(axis=1) for single-label data"
        )
    if label_array.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {label_array.shape}; pass one class index per sample")
    if label_array.size == 0:
        return label_array.astype(np.int64)
    if not np.issubdtype(label_array.dtype, np.integer):
        raise ValueError(
            f"labels must have an integer dtype, got {label_array.dtype}; if the values are whole "
            "numbers, pass labels.astype(np.int64), otherwise map class names to indices first"
        )

    out_of_range = np.unique(label_array[(label_array < 0) | (label_array >= num_classes)])
    if out_of_range.size:
        quoted_values = out_of_range[:_MAX_VALUES_IN_MESSAGE].tolist()
        remaining = out_of_range.size - len(quoted_values)
        more = f" and {remaining} more" if remaining > 0 else ""
        raise ValueError(
            f"labels must be class indices in 0..{num_classes - 1} because class_names has "
            f"{num_classes} entries, got {quoted_values}{more}; pass all class names or remap the labels"
        )
    return label_array.astype(np.int64)


def check_texts(texts, argument="texts") -> list[str]:
    """Return ``texts`` as a new list after checking that every item is a string.

    Raises
    ------
    TypeError
        If ``texts`` is a bare string or bytes, or an item is not a string.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{argument} must be a sequence of strings, got a single {type(texts).__name__}; wrap it in a list")
    text_list = list(texts)
    for index, text in enumerate(text_list):
        if not isinstance(text, str):
            raise TypeError(f"{argument}[{index}] must be a str, got {type(text).__name__}: {text!r}")
    return text_list
