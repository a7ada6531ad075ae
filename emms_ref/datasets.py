"""Loaders for the image data sets shipped in ``data/``.

``data/cifar10_subset.npz`` is a class-balanced subset of CIFAR-10
(Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009):
the first 1,000 training and the first 200 test images of every class. It was
decoded from a JPEG copy of CIFAR-10, so it carries JPEG compression
artefacts; ``data/README.md`` gives the full provenance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_SUBSET_PATH",
    "CIFAR10Subset",
    "balanced_subset",
    "load_cifar10_subset",
]

CIFAR10_SUBSET_PATH = Path(__file__).resolve().parents[1] / "data" / "cifar10_subset.npz"

_IMAGE_KEYS = ("train_images", "test_images")
_LABEL_KEYS = ("train_labels", "test_labels")


@dataclass(frozen=True)
class CIFAR10Subset:
    """Train and test split of the CIFAR-10 subset.

    Attributes
    ----------
    train_images : np.ndarray
        Shape (N_train, 32, 32, 3), dtype uint8, RGB.
    train_labels : np.ndarray
        Shape (N_train,), dtype int64, class indices in [0, 10).
    test_images : np.ndarray
        Shape (N_test, 32, 32, 3), dtype uint8, RGB.
    test_labels : np.ndarray
        Shape (N_test,), dtype int64.
    class_names : tuple of str
        The 10 class names, indexed by label.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]


def load_cifar10_subset(path: str | os.PathLike | None = None) -> CIFAR10Subset:
    """Load the CIFAR-10 subset from an ``.npz`` file.

    Parameters
    ----------
    path : path-like, optional
        File with the keys ``train_images``, ``train_labels``, ``test_images``,
        ``test_labels`` and ``class_names``. Defaults to
        ``data/cifar10_subset.npz`` of the source checkout (10,000 train and
        2,000 test images).

    Returns
    -------
    CIFAR10Subset
        Arrays in memory, independent of the file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a key is missing or an array has the wrong dtype, shape or label range.
    """
    file_path = Path(path) if path is not None else CIFAR10_SUBSET_PATH
    if not file_path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 subset not found: {file_path}. The default file is data/cifar10_subset.npz "
            "of a source checkout; pass path= to use another copy."
        )

    with np.load(file_path, allow_pickle=False) as archive:
        missing = [key for key in (*_IMAGE_KEYS, *_LABEL_KEYS, "class_names") if key not in archive.files]
        if missing:
            raise ValueError(f"{file_path} is missing the arrays {missing}.")
        arrays = {key: np.array(archive[key]) for key in (*_IMAGE_KEYS, *_LABEL_KEYS)}
        class_names = tuple(str(name) for name in archive["class_names"])

    for image_key, label_key in zip(_IMAGE_KEYS, _LABEL_KEYS):
        images, labels = arrays[image_key], arrays[label_key]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            raise ValueError(
                f"{image_key} in {file_path} must be uint8 of shape (N, 32, 32, 3), "
                f"got {images.dtype} {images.shape}."
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{label_key} in {file_path} must have shape ({images.shape[0]},), got {labels.shape}."
            )
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(
                f"{label_key} in {file_path} must lie in [0, {len(class_names)}), "
                f"got values from {labels.min()} to {labels.max()}."
            )
        arrays[label_key] = labels.astype(np.int64)

    return CIFAR10Subset(class_names=class_names, **arrays)


def balanced_subset(labels: np.ndarray, per_class: int, *, seed: int | None = None) -> np.ndarray:
    """Select the same number of examples from every class.

    Parameters
    ----------
    labels : np.ndarray
        Shape (N,), integer class labels. Not modified.
    per_class : int
        Examples to select from each class present in ``labels``.
    seed : int, optional
        If None, take the first ``per_class`` examples of each class in index
        order. Otherwise draw them uniformly without replacement with
        ``np.random.default_rng(seed)``.

    Returns
    -------
    np.ndarray
        Sorted indices into ``labels``, shape (per_class * n_classes,), dtype int64.

    Raises
    ------
    ValueError
        If ``labels`` is not a 1-D integer array, ``per_class`` is not
        positive, or a class has fewer than ``per_class`` examples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}.")
    if per_class < 1:
        raise ValueError(f"per_class must be positive, got {per_class}.")

    classes, counts = np.unique(labels, return_counts=True)
    if counts.size and counts.min() < per_class:
        short = classes[counts < per_class].tolist()
        raise ValueError(
            f"classes {short} have fewer than per_class={per_class} examples "
            f"(smallest class has {counts.min()}); lower per_class."
        )

    rng = np.random.default_rng(seed) if seed is not None else None
    selected = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        if rng is None:
            selected.append(members[:per_class])
        else:
            selected.append(rng.choice(members, size=per_class, replace=False))
    if not selected:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(selected)).astype(np.int64)
