"""The CIFAR-10 experiment: training subset, F-labels, zoo features and ground truth."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]

# F-label name -> (encoder loader name in emms_ref.labels, prompt templates).
CIFAR10_FLABEL_ENCODERS = {
    "all-MiniLM-L6-v2": ("load_minilm", None),
    "all-MiniLM-L6-v2, prompt": ("load_minilm", ("a photo of a {}.",)),
    "paraphrase-MiniLM-L3-v2": ("load_paraphrase_minilm_onnx", None),
}


def book_images_per_class() -> int:
    """Return the training images per class that the book scores: 500, or 1,000 with EMMS_BOOK_FULL=1.

    Every chapter calls this, so all chapters share one feature cache.
    """
    return 1000 if os.environ.get("EMMS_BOOK_FULL", "0") == "1" else 500


def default_cache_dir() -> Path:
    """Return the cache folder: ``$EMMS_CACHE_DIR``, else ``.cache`` in the repository."""
    return Path(os.environ.get("EMMS_CACHE_DIR", REPOSITORY / ".cache"))


def cifar10_training_subset(images_per_class: int):
    """Select the first ``images_per_class`` training images of every class.

    Returns
    -------
    images : numpy.ndarray, shape (N, 32, 32, 3), uint8
    labels : numpy.ndarray, shape (N,), int
    class_names : list of str
        The 10 CIFAR-10 class names in label order.
    """
    from emms_ref.datasets import balanced_subset, load_cifar10_subset

    cifar = load_cifar10_subset()
    selected = balanced_subset(cifar.train_labels, images_per_class)
    return cifar.train_images[selected], cifar.train_labels[selected], list(cifar.class_names)


def cifar10_flabels(labels, class_names, *, cache_dir=None) -> dict[str, np.ndarray]:
    """Build the chapter's three class-name F-labels, each of shape (N, 384).

    See ``CIFAR10_FLABEL_ENCODERS`` for the encoders and prompts. Embeddings
    are cached under ``cache_dir / "embeddings"``.
    """
    from emms_ref import labels as label_module

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache = label_module.EmbeddingCache(cache_dir / "embeddings")
    encoders = {}
    f_labels = {}
    for name, (loader_name, templates) in CIFAR10_FLABEL_ENCODERS.items():
        if loader_name not in encoders:
            encoders[loader_name] = getattr(label_module, loader_name)()
        f_labels[name] = label_module.class_flabels(
            labels,
            class_names,
            encoders[loader_name],
            templates=None if templates is None else list(templates),
            cache=cache,
        )
    return f_labels


def cifar10_zoo_features(images, *, split="train", members=None, cache_dir=None, batch_size=100, progress=True):
    """Extract the features of ``images`` for every zoo member, or for ``members``, with an .npz cache.

    Parameters
    ----------
    images : numpy.ndarray
        Shape (N, 32, 32, 3), uint8.
    split : str, default "train"
        Names the cache file ``{model}_{split}{N}.npz`` under ``cache_dir / "features"``.
    members : iterable of str, optional
        Zoo member names; by default the whole zoo.
    cache_dir, batch_size, progress
        See :func:`emms_ref.experiments.default_cache_dir` and :func:`emms_ref.features.extract_features`.

    Returns
    -------
    features : dict of str to numpy.ndarray
        Model name -> (N, D) float32 features, in zoo order.
    seconds : dict of str to float
        Model name -> wall-clock seconds of this call (small on a cache hit).
    """
    from emms_ref.features import MODEL_ZOO, extract_features, get_zoo_member

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    features, seconds = {}, {}
    for name in MODEL_ZOO if members is None else members:
        member = get_zoo_member(name)
        start = time.perf_counter()
        features[member.name] = extract_features(
            member.load(),
            images,
            batch_size=batch_size,
            cache_path=cache_dir / "features" / f"{member.name}_{split}{len(images)}.npz",
            model_name=member.name,
            progress=progress,
            **member.preprocessing(),
        )
        seconds[member.name] = time.perf_counter() - start
    return features, seconds


def load_cifar10_ground_truth(path=None) -> dict:
    """Read the committed ground truth written by ``scripts/cifar10_ground_truth.py``."""
    path = REPOSITORY / "results" / "cifar10_ground_truth.json" if path is None else Path(path)
    return json.loads(Path(path).read_text())


def cifar10_comparison(*, cache_dir=None, progress=False) -> dict:
    """Score the CIFAR-10 zoo with EMMS and LogME with F-labels, for the cross-task summary.

    Reuses the feature and embedding caches of the CIFAR-10 chapter, so it
    costs only the scoring (tens of seconds) once that chapter has run.

    Returns
    -------
    dict
        ``task``, ``models``, ``ground_truth`` (test accuracy of the
        head-only protocol), ``scores`` and ``seconds`` (method -> per-model
        list / total seconds), ``weighted_tau`` (method -> float) and
        ``flabel_encoders``.
    """
    import warnings

    from emms_ref import emms_score
    from emms_ref.baselines import logme_flabels
    from emms_ref.evaluation import weighted_kendall_tau

    images, labels, class_names = cifar10_training_subset(book_images_per_class())
    f_labels = cifar10_flabels(labels, class_names, cache_dir=cache_dir)
    features, _ = cifar10_zoo_features(images, cache_dir=cache_dir, progress=progress)
    truth = load_cifar10_ground_truth()["models"]
    models = [name for name in features if name in truth]
    blocks = list(f_labels.values())
    methods = {
        "EMMS": lambda x: emms_score(x, blocks).score,
        "LogME (F-labels)": lambda x: logme_flabels(x, blocks).score,
    }
    scores = {method: [] for method in methods}
    seconds = {method: 0.0 for method in methods}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in models:
            for method, score in methods.items():
                start = time.perf_counter()
                scores[method].append(float(score(features[name])))
                seconds[method] += time.perf_counter() - start
    ground_truth = [float(truth[name]["test_accuracy_mean"]) for name in models]
    return {
        "task": "image classification (CIFAR-10)",
        "models": models,
        "ground_truth": ground_truth,
        "scores": scores,
        "seconds": seconds,
        "weighted_tau": {method: float(weighted_kendall_tau(values, ground_truth)) for method, values in scores.items()},
        "flabel_encoders": list(f_labels),
    }
