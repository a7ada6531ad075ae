"""Inputs of the book's experiments, shared by its chapters.

Each function here performs one step that a chapter explains once and later
chapters reuse with the same cache, so the book never computes the same
features twice.
"""

from .cifar10 import (
    CIFAR10_FLABEL_ENCODERS,
    book_images_per_class,
    cifar10_comparison,
    cifar10_flabels,
    cifar10_training_subset,
    cifar10_zoo_features,
    default_cache_dir,
    load_cifar10_ground_truth,
)

__all__ = [
    "CIFAR10_FLABEL_ENCODERS",
    "book_images_per_class",
    "cifar10_comparison",
    "cifar10_flabels",
    "cifar10_training_subset",
    "cifar10_zoo_features",
    "default_cache_dir",
    "load_cifar10_ground_truth",
]
