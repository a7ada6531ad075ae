"""The VQA experiment: (image, question) samples, answer F-labels, zoo scores and ground truth.

The default data is the synthetic easy-VQA data set (:mod:`emms_ref.tasks.easy_vqa`).
With ``EMMS_VQA_V2_ROOT`` set, :func:`load_vqa_task` reads VQA v2 instead
(:mod:`emms_ref.tasks.vqa_published`).

A sample is one (image, question) pair. Its feature for a zoo member is the
concatenation of the member's pooled image features, reduced to 64 principal
components (:func:`emms_ref.experiments.task_scoring.equal_width_features`),
and the all-MiniLM-L6-v2 encoding of the question. The question part is the
same for every member. Its label is the answer, one of a closed vocabulary, embedded
like a class name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .cifar10 import REPOSITORY, default_cache_dir
from .easy_vqa_features import (
    book_easy_vqa_images,
    easy_vqa_question_features,
    easy_vqa_zoo_features,
)
from .task_scoring import array_digest, equal_width_features, rank_summary, score_zoo, source_probabilities

__all__ = [
    "VQA_FLABEL_ENCODERS",
    "VQA_QUESTIONS_PER_IMAGE",
    "load_vqa_ground_truth",
    "load_vqa_task",
    "vqa_comparison",
    "vqa_flabels",
    "vqa_sample_features",
    "vqa_scorers",
    "vqa_scoring_rows",
]

# F-label name -> (encoder loader name in emms_ref.labels, prompt templates).
VQA_FLABEL_ENCODERS = {
    "all-MiniLM-L6-v2": ("load_minilm", None),
    "all-MiniLM-L6-v2, prompt": ("load_minilm", ("the answer is {}.",)),
    "paraphrase-MiniLM-L3-v2": ("load_paraphrase_minilm_onnx", None),
}

# Questions scored per image. The questions of one image share its image
# features, so more questions per image add little that a linear fit can use.
VQA_QUESTIONS_PER_IMAGE = 2


def load_vqa_task(*, max_images: int | None = None):
    """Load the VQA data the chapter scores: easy-VQA train images, or VQA v2 when ``EMMS_VQA_V2_ROOT`` is set.

    Returns
    -------
    data : EasyVQA or VQASamples
        Both have ``images``, ``questions``, ``answers``, ``question_image``,
        ``answer_vocabulary`` and ``answer_indices()``.
    name : str
        "easy-VQA (synthetic)" or "VQA v2".
    """
    from emms_ref.tasks.vqa_published import load_vqa_v2, vqa_v2_root_from_environment

    max_images = book_easy_vqa_images() if max_images is None else max_images
    root = vqa_v2_root_from_environment()
    if root is not None:
        return load_vqa_v2(root, "train2014", max_images=max_images), "VQA v2"
    from emms_ref.tasks.easy_vqa import load_easy_vqa

    return load_easy_vqa("train", max_images=max_images), "easy-VQA (synthetic)"


def vqa_scoring_rows(question_image, *, per_image: int = VQA_QUESTIONS_PER_IMAGE, seed: int = 0) -> np.ndarray:
    """Draw up to ``per_image`` questions of every image without replacement; return their sorted indices."""
    question_image = np.asarray(question_image)
    if per_image < 1:
        raise ValueError(f"per_image must be positive, got {per_image}.")
    rng = np.random.default_rng(seed)
    rows = []
    for image in np.unique(question_image):
        candidates = np.flatnonzero(question_image == image)
        rows.append(rng.choice(candidates, size=min(per_image, len(candidates)), replace=False))
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


def vqa_flabels(answer_indices, answer_vocabulary, *, cache_dir=None) -> dict[str, np.ndarray]:
    """Embed each sample's answer like a class name, once per entry of ``VQA_FLABEL_ENCODERS``.

    Returns
    -------
    dict of str to numpy.ndarray
        F-label name -> (N, 384) float32.
    """
    from emms_ref import labels as label_module

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache = label_module.EmbeddingCache(cache_dir / "embeddings")
    encoders, f_labels = {}, {}
    for name, (loader_name, templates) in VQA_FLABEL_ENCODERS.items():
        if loader_name not in encoders:
            encoders[loader_name] = getattr(label_module, loader_name)()
        f_labels[name] = label_module.class_flabels(
            answer_indices,
            list(answer_vocabulary),
            encoders[loader_name],
            templates=None if templates is None else list(templates),
            cache=cache,
        )
    return f_labels


def vqa_sample_features(image_features: dict, image_index, question_encoding) -> dict[str, np.ndarray]:
    """Concatenate each member's features of a sample's image with the sample's question encoding.

    Parameters
    ----------
    image_features : dict of str to numpy.ndarray
        Member -> (N_images, D) features.
    image_index : array-like
        Shape (N,), the image of each sample.
    question_encoding : numpy.ndarray
        Shape (N, L), the same for every member.

    Returns
    -------
    dict of str to numpy.ndarray
        Member -> (N, D + L) float32.
    """
    image_index = np.asarray(image_index)
    question_encoding = np.asarray(question_encoding, dtype=np.float32)
    if question_encoding.shape[0] != image_index.shape[0]:
        raise ValueError(
            f"question_encoding has {question_encoding.shape[0]} rows but image_index has {image_index.shape[0]}; "
            "pass one question encoding per sample."
        )
    return {
        name: np.concatenate([np.asarray(features, dtype=np.float32)[image_index], question_encoding], axis=1)
        for name, features in image_features.items()
    }


def vqa_scorers(features: dict, f_labels: dict, answers, probabilities: dict) -> dict:
    """Return method name -> ``compute(model)`` for EMMS and every baseline that applies to VQA.

    ``probabilities`` maps a member to its source-classifier probabilities per
    sample (see :func:`emms_ref.experiments.task_scoring.source_probabilities`),
    or is missing the member when it has no classifier; LEEP and NCE then return None.
    """
    from emms_ref import emms_score
    from emms_ref.baselines import h_score, leep, logme, logme_flabels, nce, transrate

    blocks = list(f_labels.values())
    return {
        "EMMS": lambda name: emms_score(features[name], blocks),
        "LogME (F-labels)": lambda name: logme_flabels(features[name], blocks),
        "LogME (answer classes)": lambda name: logme(features[name], answers),
        "H-score": lambda name: h_score(features[name], answers),
        "TransRate": lambda name: transrate(features[name], answers),
        "LEEP": lambda name: leep(probabilities[name], answers) if name in probabilities else None,
        "NCE": lambda name: nce(probabilities[name].argmax(axis=1), answers) if name in probabilities else None,
    }


def load_vqa_ground_truth(path=None) -> dict:
    """Read the committed ground truth written by ``scripts/vqa_ground_truth.py``."""
    path = REPOSITORY / "results" / "vqa_ground_truth.json" if path is None else Path(path)
    return json.loads(Path(path).read_text(encoding="utf-8"))


def vqa_comparison(*, cache_dir=None, progress=False) -> dict:
    """Score the zoo on easy-VQA and compare with the ground truth, reusing the VQA chapter's caches.

    Returns
    -------
    dict
        The keys of :func:`emms_ref.experiments.task_scoring.rank_summary`:
        task, models, ground_truth (test answer accuracy), scores, seconds,
        weighted_tau and flabel_encoders. LEEP and NCE score only members with
        a classifier, so they are absent.
    """
    from emms_ref.tasks.easy_vqa import load_easy_vqa

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    ground_truth = load_vqa_ground_truth()
    models = list(ground_truth["models"])
    data = load_easy_vqa("train", max_images=book_easy_vqa_images())

    rows = vqa_scoring_rows(data.question_image)
    image_index = np.asarray(data.question_image)[rows]
    answers = data.answer_indices()[rows]
    questions = easy_vqa_question_features([data.questions[row] for row in rows], cache_dir=cache_dir)
    image_features, _ = easy_vqa_zoo_features(data.images, split="train", members=models, cache_dir=cache_dir, progress=progress)
    features = vqa_sample_features(equal_width_features(image_features), image_index, questions)
    f_labels = vqa_flabels(answers, data.answer_vocabulary, cache_dir=cache_dir)

    probabilities = {}
    for name in models:
        per_image = source_probabilities(name, image_features[name])
        if per_image is not None:
            probabilities[name] = per_image[image_index]
    digests = {
        name: array_digest(features[name], answers, *f_labels.values(), *([probabilities[name]] if name in probabilities else []))
        for name in models
    }
    scores, seconds = score_zoo(
        vqa_scorers(features, f_labels, answers, probabilities), models, input_digests=digests, cache_dir=cache_dir, progress=progress
    )
    accuracy = [ground_truth["models"][name]["test_accuracy_mean"] for name in models]
    return rank_summary("VQA (easy-VQA, synthetic)", models, accuracy, scores, seconds, VQA_FLABEL_ENCODERS)
