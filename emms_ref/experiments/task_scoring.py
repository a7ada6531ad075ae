"""Scoring a zoo on one task with EMMS and the baselines, with an on-disk cache of scores and times.

The per-task chapters (VQA, referring expressions) score every zoo member
with several methods, which takes seconds per method and member.
:func:`score_zoo` stores each score and its wall-clock time in a JSON file
keyed by a SHA-256 of the inputs. A second run, for example the summary
chapter after the task chapter, reads them back in milliseconds. The times it
reports are those of the run that filled the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "EQUAL_WIDTH_COMPONENTS",
    "array_digest",
    "equal_width_features",
    "principal_components",
    "rank_summary",
    "score_zoo",
    "source_probabilities",
]

# Width to which the per-task chapters reduce every member's image features:
# the width of the narrowest zoo members, the CIFAR ResNets. With 1,000
# images, a full 1,280-d image part lets least squares fit any per-image
# target exactly, so EMMS and LogME would see every wide member alike.
EQUAL_WIDTH_COMPONENTS = 64

# Bump when a scorer's meaning changes, so cached scores are recomputed.
_SCORE_CACHE_VERSION = 1


def array_digest(*arrays) -> str:
    """Return a SHA-256 hex digest of the dtypes, shapes and bytes of ``arrays``."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def principal_components(features, n_components: int = EQUAL_WIDTH_COMPONENTS) -> np.ndarray:
    """Project centred features onto their top ``n_components`` principal directions.

    Parameters
    ----------
    features : array-like
        Shape (N, D). Not modified.
    n_components : int
        At most ``min(N, D)``.

    Returns
    -------
    numpy.ndarray
        Shape (N, n_components), float64. Each direction's sign makes its
        largest-magnitude loading positive, so the result does not depend on
        the SVD routine's sign choice.

    Raises
    ------
    ValueError
        If ``features`` is not 2-D or ``n_components`` is outside [1, min(N, D)].
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {features.shape}.")
    if not 1 <= n_components <= min(features.shape):
        raise ValueError(f"n_components must lie in [1, {min(features.shape)}] for shape {features.shape}, got {n_components}.")
    centred = features - features.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    directions = directions[:n_components]
    signs = np.sign(directions[np.arange(n_components), np.argmax(np.abs(directions), axis=1)])
    return centred @ (directions * signs[:, None]).T


def equal_width_features(image_features: Mapping[str, np.ndarray], n_components: int = EQUAL_WIDTH_COMPONENTS) -> dict:
    """Reduce every member's image features to ``n_components`` principal components (see :func:`principal_components`)."""
    return {name: principal_components(features, n_components) for name, features in image_features.items()}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(content), encoding="utf-8")
    os.replace(temporary, path)


def score_zoo(
    scorers: Mapping[str, Callable[[str], object]],
    models,
    *,
    input_digests: Mapping[str, str],
    cache_dir,
    progress: bool = False,
) -> tuple[dict, dict]:
    """Run every scorer on every model, reading and filling a cache of scores and times.

    Parameters
    ----------
    scorers : mapping of str to callable
        Method name -> ``compute(model_name)``, which returns a result with a
        float ``score``, or None when the method does not apply to that model.
    models : sequence of str
    input_digests : mapping of str to str
        Model name -> digest of everything the scorers read for that model
        (see :func:`array_digest`). A changed digest recomputes the scores.
    cache_dir : path-like
        Scores are cached as JSON under ``cache_dir / "scores"``.

    Returns
    -------
    scores, seconds : dict of str to dict of str to float
        Method -> model -> score, and method -> model -> wall-clock seconds
        of the call that computed it. Models a method does not apply to are absent.
    """
    scores = {method: {} for method in scorers}
    seconds = {method: {} for method in scorers}
    cache_root = Path(cache_dir) / "scores"
    jobs = [(model, method) for model in models for method in scorers]
    for model, method in tqdm(jobs, desc="scores", unit="score", disable=not progress):
        key = hashlib.sha256(f"{_SCORE_CACHE_VERSION}|{method}|{model}|{input_digests[model]}".encode()).hexdigest()
        path = cache_root / f"{key}.json"
        entry = _read_json(path)
        if entry is None:
            with warnings.catch_warnings():
                # LogME warns about targets that stop at its published cap of 11 updates. The score is
                # the published one either way, and the warnings would flood the chapter output.
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                result = scorers[method](model)
                elapsed = time.perf_counter() - start
            entry = {"score": None if result is None else float(result.score), "seconds": elapsed}
            _write_json(path, {"method": method, "model": model, **entry})
        if entry["score"] is not None:
            scores[method][model] = entry["score"]
            seconds[method][model] = entry["seconds"]
    return scores, seconds


def source_probabilities(name: str, image_features: np.ndarray) -> np.ndarray | None:
    """Apply a zoo member's own classifier to its pooled features, for LEEP and NCE.

    The full EfficientNet-Lites keep their 1,000-class ImageNet classifier
    (the random-init control a random one), and the CIFAR ResNets their
    10-class CIFAR-10 classifier. The truncated EfficientNet-Lites have none.

    Returns
    -------
    numpy.ndarray or None
        Shape (N, C) float64 softmax probabilities, or None without a classifier.
    """
    import torch

    from emms_ref.features import get_zoo_member

    module = get_zoo_member(name).load()
    if hasattr(module, "network"):
        classifier = module.network.linear
    elif getattr(module, "num_blocks", None) is None and hasattr(module, "backbone"):
        classifier = module.backbone._fc
    else:
        return None
    with torch.no_grad():
        logits = classifier(torch.from_numpy(np.ascontiguousarray(image_features, dtype=np.float32)))
    return torch.softmax(logits.double(), dim=1).numpy()


def rank_summary(task: str, models, ground_truth, scores, seconds, flabel_encoders) -> dict:
    """Build the summary chapter's comparison dict from per-model scores.

    Only methods that scored every model are included, because weighted
    Kendall tau needs one score per model.
    """
    from emms_ref.evaluation import weighted_kendall_tau

    complete = [method for method in scores if all(model in scores[method] for model in models)]
    return {
        "task": task,
        "models": list(models),
        "ground_truth": [float(value) for value in ground_truth],
        "scores": {method: [float(scores[method][model]) for model in models] for method in complete},
        "seconds": {method: float(sum(seconds[method][model] for model in models)) for method in complete},
        "weighted_tau": {
            method: float(weighted_kendall_tau([scores[method][model] for model in models], ground_truth))
            for method in complete
        },
        "flabel_encoders": list(flabel_encoders),
    }
