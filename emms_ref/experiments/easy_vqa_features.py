"""Zoo features and question encodings of the synthetic easy-VQA images, cached on disk.

The VQA, referring expression and captioning chapters all score the same
easy-VQA images, so they share these caches: a chapter that runs after
another one reads the features instead of extracting them again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .cifar10 import default_cache_dir

__all__ = [
    "EASY_VQA_QUESTION_ENCODER",
    "book_easy_vqa_images",
    "easy_vqa_question_features",
    "easy_vqa_zoo_features",
    "zoo_role",
]

# Encoder of the question part of every VQA and referring expression feature.
EASY_VQA_QUESTION_ENCODER = "all-MiniLM-L6-v2"


def book_easy_vqa_images() -> int:
    """Return how many easy-VQA train images the book scores: 1,000, or all 4,000 with EMMS_BOOK_FULL=1."""
    return 4000 if os.environ.get("EMMS_BOOK_FULL", "0") == "1" else 1000


def zoo_role(member) -> str:
    """Name a zoo member's role in the easy-VQA tables: ImageNet, control or CIFAR-10."""
    if member.is_control:
        return "control (random init)"
    if member.trained_on_target:
        return "CIFAR-10 ResNet"
    return "ImageNet"


def easy_vqa_zoo_features(
    images: np.ndarray,
    *,
    split: str,
    members=None,
    cache_dir=None,
    batch_size: int = 100,
    progress: bool = True,
):
    """Extract the features of easy-VQA ``images`` for zoo members, with an .npz cache per member.

    Parameters
    ----------
    images : numpy.ndarray
        Shape (N, 64, 64, 3), uint8. Not modified.
    split : str
        Split name used in the cache file name, for example "train" or "test".
        The cache also checks the image bytes, so a wrong name costs a
        recomputation, never stale features.
    members : sequence of str, optional
        Zoo member names; all of ``emms_ref.features.MODEL_ZOO`` by default.
    cache_dir : path-like, optional
        Defaults to :func:`emms_ref.experiments.default_cache_dir`.

    Returns
    -------
    features : dict of str to numpy.ndarray
        Member name -> (N, D) float32 features, in the order of ``members``.
    seconds : dict of str to float
        Member name -> wall-clock seconds of this call (small on a cache hit).
    """
    from emms_ref.features import MODEL_ZOO, extract_features, get_zoo_member

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    names = list(MODEL_ZOO) if members is None else list(members)
    features, seconds = {}, {}
    for name in names:
        member = get_zoo_member(name)
        start = time.perf_counter()
        features[name] = extract_features(
            member.load(),
            images,
            batch_size=batch_size,
            cache_path=cache_dir / "features" / f"{name}_easyvqa_{split}{len(images)}.npz",
            model_name=name,
            progress=progress,
            **member.preprocessing(),
        )
        seconds[name] = time.perf_counter() - start
    return features, seconds


def easy_vqa_question_features(texts, *, encoder=None, cache_dir=None) -> np.ndarray:
    """Encode questions or phrases with all-MiniLM-L6-v2, one row per text, through the embedding cache.

    Each distinct text is encoded once, so the templated easy-VQA questions
    (a few hundred distinct ones) cost seconds even for tens of thousands of rows.

    Parameters
    ----------
    texts : sequence of str
    encoder : emms_ref.labels.TextEncoder, optional
        Defaults to :func:`emms_ref.labels.load_minilm`.
    cache_dir : path-like, optional
        Embeddings are cached under ``cache_dir / "embeddings"``.

    Returns
    -------
    numpy.ndarray
        Shape (len(texts), 384), float32.
    """
    from emms_ref import labels as label_module

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    encoder = label_module.load_minilm() if encoder is None else encoder
    distinct, inverse = np.unique(np.asarray(list(texts), dtype=object).astype(str), return_inverse=True)
    cache = label_module.EmbeddingCache(cache_dir / "embeddings")
    embeddings = label_module.encode_cached(encoder, list(distinct), cache)
    return np.asarray(embeddings, dtype=np.float32)[inverse.reshape(-1)]


def easy_vqa_train_features(images, name: str, *, cache_dir=None) -> tuple[np.ndarray, float]:
    """Extract one member's features of easy-VQA training images and return them with the seconds taken.

    The first ``book_easy_vqa_images()`` images go to the cache file that the
    chapters use, the rest to a second file, so the ground-truth scripts and
    the chapters share their features.
    """
    book_images = min(book_easy_vqa_images(), len(images))
    parts, seconds = [], 0.0
    for split, part in (("train", images[:book_images]), (f"train_from{book_images}_", images[book_images:])):
        if len(part) == 0:
            continue
        features, timing = easy_vqa_zoo_features(part, split=split, members=[name], cache_dir=cache_dir, progress=False)
        parts.append(features[name])
        seconds += timing[name]
    return np.concatenate(parts), seconds
