"""The referring expression experiment: phrase samples, box F-labels, zoo scores and ground truth.

The default task is derived from the synthetic easy-VQA data set: each image
is one sample, its referring expression is the templated phrase "the
<colour> <shape>" and its target is the exact box of that shape from
background thresholding (:func:`emms_ref.tasks.boxes.shape_box`). With
``EMMS_REFCOCO_ROOT`` set, :func:`load_refexp_task` reads RefCOCO instead
(:mod:`emms_ref.tasks.refcoco_published`).

A sample's feature for a zoo member is the concatenation of the member's
pooled image features, reduced to 64 principal components
(:func:`emms_ref.experiments.task_scoring.equal_width_features`), and the
all-MiniLM-L6-v2 encoding of the phrase. The phrase part is the same for
every member. Its F-labels are the box written as
text (:func:`emms_ref.tasks.boxes.box_to_text`) and embedded by sentence encoders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cifar10 import REPOSITORY, default_cache_dir
from .easy_vqa_features import book_easy_vqa_images, easy_vqa_question_features, easy_vqa_zoo_features
from .task_scoring import array_digest, equal_width_features, rank_summary, score_zoo

__all__ = [
    "REFEXP_FLABEL_ENCODERS",
    "load_refexp_ground_truth",
    "load_refexp_task",
    "referring_phrase",
    "refexp_comparison",
    "refexp_flabel_texts",
    "refexp_flabels",
    "refexp_sample_features",
    "refexp_scorers",
]

# F-label name -> (encoder loader name in emms_ref.labels, text kind: "box" or "phrase and box").
REFEXP_FLABEL_ENCODERS = {
    "all-MiniLM-L6-v2, box": ("load_minilm", "box"),
    "paraphrase-MiniLM-L3-v2, box": ("load_paraphrase_minilm_onnx", "box"),
    "all-MiniLM-L6-v2, phrase and box": ("load_minilm", "phrase and box"),
}


def referring_phrase(shape: str, color: str) -> str:
    """Write the synthetic referring expression of an easy-VQA shape, for example "the blue triangle"."""
    return f"the {color} {shape}"


def load_refexp_task(*, max_samples: int | None = None):
    """Load the referring expression samples: easy-VQA train images, or RefCOCO when ``EMMS_REFCOCO_ROOT`` is set.

    Returns
    -------
    samples : emms_ref.tasks.refcoco_published.RefExpSamples
        Images (one per sample), phrases, boxes in pixels and the image side.
    name : str
        "easy-VQA shapes (synthetic)" or "RefCOCO".
    """
    from emms_ref.tasks.refcoco_published import RefExpSamples, load_refcoco, refcoco_root_from_environment

    max_samples = book_easy_vqa_images() if max_samples is None else max_samples
    root = refcoco_root_from_environment()
    if root is not None:
        return load_refcoco(root, "train", max_samples=max_samples), "RefCOCO"
    from emms_ref.tasks.easy_vqa import EASY_VQA_IMAGE_SIZE, load_easy_vqa

    data = load_easy_vqa("train", max_images=max_samples)
    samples = RefExpSamples(
        images=data.images,
        image_ids=data.image_ids,
        phrases=[referring_phrase(shape, color) for shape, color in zip(data.shapes, data.colors)],
        boxes=data.boxes,
        image_size=EASY_VQA_IMAGE_SIZE,
    )
    return samples, "easy-VQA shapes (synthetic)"


def refexp_flabel_texts(phrases, boxes, image_size: int, kind: str) -> list[str]:
    """Write each sample's label as text: the box alone, or "<phrase> at <box>".

    Raises
    ------
    ValueError
        If ``kind`` is not "box" or "phrase and box".
    """
    from emms_ref.tasks.boxes import box_to_text

    box_texts = [box_to_text(box, image_size) for box in np.asarray(boxes)]
    if kind == "box":
        return box_texts
    if kind == "phrase and box":
        return [f"{phrase} at {text}" for phrase, text in zip(phrases, box_texts, strict=True)]
    raise ValueError(f"kind must be 'box' or 'phrase and box', got {kind!r}.")


def refexp_flabels(phrases, boxes, image_size: int, *, cache_dir=None) -> dict[str, np.ndarray]:
    """Embed each sample's box text once per entry of ``REFEXP_FLABEL_ENCODERS``.

    Each distinct text is encoded once and cached under ``cache_dir / "embeddings"``.

    Returns
    -------
    dict of str to numpy.ndarray
        F-label name -> (N, 384) float32.
    """
    from emms_ref import labels as label_module

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache = label_module.EmbeddingCache(cache_dir / "embeddings")
    encoders, f_labels = {}, {}
    for name, (loader_name, kind) in REFEXP_FLABEL_ENCODERS.items():
        if loader_name not in encoders:
            encoders[loader_name] = getattr(label_module, loader_name)()
        texts = refexp_flabel_texts(phrases, boxes, image_size, kind)
        distinct, inverse = np.unique(np.array(texts, dtype=object).astype(str), return_inverse=True)
        embeddings = label_module.encode_cached(encoders[loader_name], list(distinct), cache)
        f_labels[name] = np.asarray(embeddings, dtype=np.float32)[inverse.reshape(-1)]
    return f_labels


def refexp_sample_features(image_features: dict, phrase_encoding) -> dict[str, np.ndarray]:
    """Concatenate each member's image features with the phrase encoding, one row per sample.

    Raises
    ------
    ValueError
        If a member's features and ``phrase_encoding`` differ in row count.
    """
    phrase_encoding = np.asarray(phrase_encoding, dtype=np.float32)
    combined = {}
    for name, features in image_features.items():
        if len(features) != len(phrase_encoding):
            raise ValueError(
                f"{name} has {len(features)} feature rows but phrase_encoding has {len(phrase_encoding)}; "
                "pass one phrase per image."
            )
        combined[name] = np.concatenate([np.asarray(features, dtype=np.float32), phrase_encoding], axis=1)
    return combined


def refexp_scorers(features: dict, f_labels: dict, boxes, image_size: int) -> dict:
    """Return method name -> ``compute(model)`` for EMMS and the baselines that apply to box targets.

    The class-label baselines (H-score, TransRate, LEEP, NCE) need class ids,
    which a box is not, so only the LogME variants compare: on the F-labels,
    and in regression mode on the 4 box coordinates divided by the image side.
    """
    from emms_ref import emms_score
    from emms_ref.baselines import logme, logme_flabels

    blocks = list(f_labels.values())
    coordinates = np.asarray(boxes, dtype=np.float64) / image_size
    return {
        "EMMS": lambda name: emms_score(features[name], blocks),
        "LogME (F-labels)": lambda name: logme_flabels(features[name], blocks),
        "LogME (box coordinates)": lambda name: logme(features[name], coordinates, regression=True),
    }


def load_refexp_ground_truth(path=None) -> dict:
    """Read the committed ground truth written by ``scripts/refexp_ground_truth.py``."""
    path = REPOSITORY / "results" / "refexp_ground_truth.json" if path is None else Path(path)
    return json.loads(Path(path).read_text(encoding="utf-8"))


def refexp_comparison(*, cache_dir=None, progress=False) -> dict:
    """Score the zoo on the synthetic easy-VQA referring expressions and compare with the ground truth.

    Reuses the caches of the referring expression chapter (features, embeddings, scores).

    Returns
    -------
    dict
        The keys of :func:`emms_ref.experiments.task_scoring.rank_summary`,
        with ground_truth the test accuracy at IoU >= 0.5.
    """
    from emms_ref.tasks.easy_vqa import EASY_VQA_IMAGE_SIZE, load_easy_vqa

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    ground_truth = load_refexp_ground_truth()
    models = list(ground_truth["models"])
    data = load_easy_vqa("train", max_images=book_easy_vqa_images())
    phrases = [referring_phrase(shape, color) for shape, color in zip(data.shapes, data.colors)]

    image_features, _ = easy_vqa_zoo_features(data.images, split="train", members=models, cache_dir=cache_dir, progress=progress)
    phrase_encoding = easy_vqa_question_features(phrases, cache_dir=cache_dir)
    features = refexp_sample_features(equal_width_features(image_features), phrase_encoding)
    f_labels = refexp_flabels(phrases, data.boxes, EASY_VQA_IMAGE_SIZE, cache_dir=cache_dir)
    digests = {name: array_digest(features[name], data.boxes, *f_labels.values()) for name in models}
    scores, seconds = score_zoo(
        refexp_scorers(features, f_labels, data.boxes, EASY_VQA_IMAGE_SIZE),
        models,
        input_digests=digests,
        cache_dir=cache_dir,
        progress=progress,
    )
    accuracy = [ground_truth["models"][name]["test_accuracy_mean"] for name in models]
    return rank_summary(
        "referring expressions (easy-VQA shapes, synthetic)", models, accuracy, scores, seconds, REFEXP_FLABEL_ENCODERS
    )
