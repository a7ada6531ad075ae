"""The text question answering experiment: synthetic task, answer F-labels, text-zoo features, scores.

The default task is synthetic: contexts written from easy-VQA metadata
(:mod:`emms_ref.tasks.text_qa`). With ``EMMS_SQUAD_ROOT`` set, the chapter
runs on the published SQuAD v1.1 files instead (:mod:`emms_ref.tasks.squad_published`),
and ``EMMS_TEXT_QA_CHECKPOINTS`` can add local ``transformers`` checkpoints
to the zoo (:func:`checkpoint_members_from_environment`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .cifar10 import REPOSITORY, default_cache_dir

__all__ = [
    "TEXT_QA_CHAPTER_METHODS",
    "TEXT_QA_CHECKPOINTS_VARIABLE",
    "TEXT_QA_SCORED_IMAGES",
    "TEXT_QA_SQUAD_QUESTIONS",
    "TextQATask",
    "text_qa_chapter_task",
    "TEXT_QA_FLABEL_ENCODERS",
    "TEXT_QA_TRAIN_IMAGES",
    "answer_flabels",
    "checkpoint_members_from_environment",
    "load_text_qa_ground_truth",
    "text_qa_comparison",
    "text_qa_scores",
    "text_qa_training_task",
    "text_qa_zoo_features",
]

# F-label name -> encoder loader name in emms_ref.labels. Both encoders are
# also members of the text zoo (emms_ref.features.text_zoo).
TEXT_QA_FLABEL_ENCODERS = {
    "all-MiniLM-L6-v2": "load_minilm",
    "paraphrase-MiniLM-L3-v2": "load_paraphrase_minilm_onnx",
}
# Training images of the synthetic task that the chapter scores and the
# ground-truth heads are trained on; the TF-IDF member is fitted on their texts.
TEXT_QA_TRAIN_IMAGES = 1000
# The chapter scores the questions of the first 400 of those images, to keep
# the build short; features are computed and cached for all 1,000.
TEXT_QA_SCORED_IMAGES = 400
TEXT_QA_CHECKPOINTS_VARIABLE = "EMMS_TEXT_QA_CHECKPOINTS"
# Scores of the chapter and of text_qa_comparison. TransRate also applies but
# is left out: with 1,536-d features and 13 classes it was the slowest score,
# about 4 times EMMS, in a trial build on a shared 2-core machine.
TEXT_QA_CHAPTER_METHODS = ("EMMS", "LogME (F-labels)", "LogME (answer classes)", "H-score (shrinkage)")
# SQuAD training questions that the chapter scores when EMMS_SQUAD_ROOT is set.
TEXT_QA_SQUAD_QUESTIONS = 5000


@dataclass(frozen=True)
class TextQATask:
    """The task a text-QA chapter run scores: synthetic by default, SQuAD v1.1 on request.

    Attributes
    ----------
    name : str
        Title for tables and plots, containing "synthetic" for the default task.
    synthetic : bool
        True for the task written from easy-VQA metadata.
    contexts, questions, answers : list of str
    question_context : numpy.ndarray
        Shape (Q,), int64, index into ``contexts`` of each question.
    answer_labels : numpy.ndarray or None
        Shape (Q,), int64 answer classes of a closed answer vocabulary, or
        None for SQuAD, whose answers are free text spans.
    """

    name: str
    synthetic: bool
    contexts: list
    questions: list
    answers: list
    question_context: np.ndarray
    answer_labels: np.ndarray | None


def text_qa_chapter_task() -> TextQATask:
    """Return the chapter's training task: SQuAD v1.1 if ``EMMS_SQUAD_ROOT`` is set, else the synthetic one.

    With ``EMMS_SQUAD_ROOT``, the first ``TEXT_QA_SQUAD_QUESTIONS`` questions
    of ``train-v1.1.json`` (whole paragraphs) are used, labelled by their first answer.
    """
    from emms_ref.tasks.squad_published import load_squad, squad_root_from_environment

    root = squad_root_from_environment()
    if root is None:
        task = text_qa_training_task()
        return TextQATask(
            name=f"synthetic text QA ({len(task.contexts)} easy-VQA images)",
            synthetic=True,
            contexts=task.contexts,
            questions=task.questions,
            answers=task.answers,
            question_context=task.question_context,
            answer_labels=task.answer_indices(),
        )
    squad = load_squad(root, "train", max_questions=TEXT_QA_SQUAD_QUESTIONS)
    return TextQATask(
        name=f"SQuAD v1.1 train ({len(squad.questions)} questions)",
        synthetic=False,
        contexts=squad.contexts,
        questions=squad.questions,
        answers=squad.answers,
        question_context=squad.question_context,
        answer_labels=None,
    )


def text_qa_training_task(max_images: int = TEXT_QA_TRAIN_IMAGES):
    """Return the synthetic text-QA task on the first ``max_images`` easy-VQA training images."""
    from emms_ref.tasks.text_qa import load_synthetic_text_qa

    return load_synthetic_text_qa("train", max_images=max_images)


def answer_flabels(answers, *, cache_dir=None) -> dict[str, np.ndarray]:
    """Embed every answer text with each F-label encoder, one row per question.

    Each distinct answer is encoded once; embeddings are cached under
    ``cache_dir / "embeddings"`` (:class:`emms_ref.labels.EmbeddingCache`).

    Returns
    -------
    dict of str to numpy.ndarray
        Encoder name -> (Q, 384) float32 F-labels, in ``TEXT_QA_FLABEL_ENCODERS`` order.
    """
    from emms_ref import labels as label_module

    answer_list = [str(answer) for answer in answers]
    if not answer_list:
        raise ValueError("answers is empty; pass one answer text per question.")
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache = label_module.EmbeddingCache(cache_dir / "embeddings")
    distinct = list(dict.fromkeys(answer_list))
    position = {answer: row for row, answer in enumerate(distinct)}
    rows = np.array([position[answer] for answer in answer_list])

    f_labels = {}
    for name, loader_name in TEXT_QA_FLABEL_ENCODERS.items():
        encoder = getattr(label_module, loader_name)()
        f_labels[name] = label_module.encode_cached(encoder, distinct, cache)[rows]
    return f_labels


def text_qa_zoo_features(
    contexts,
    questions,
    question_context,
    *,
    fit_texts,
    members=None,
    cache_dir=None,
    progress=True,
):
    """Compute the pair features of every text-zoo member, with an on-disk cache.

    Parameters
    ----------
    contexts, questions, question_context
        The task, as in :class:`emms_ref.tasks.text_qa.SyntheticTextQA`.
    fit_texts : sequence of str
        Training texts for members that are fitted (TF-IDF). Pass training
        texts only, also when featurising test questions.
    members : sequence of TextZooMember, optional
        Default: every member of ``emms_ref.features.text_zoo.TEXT_ZOO``
        whose package is installed, plus the checkpoints of
        :func:`checkpoint_members_from_environment`.
    cache_dir : path-like, optional
        Cache root; files go to ``cache_dir / "text_features"``.
    progress : bool
        Show a tqdm progress bar over members.

    Returns
    -------
    features : dict of str to numpy.ndarray
        Member name -> (Q, 1536) float32 pair features.
    seconds : dict of str to float
        Member name -> wall-clock seconds of this call, loading included
        (small on a cache hit, apart from loading the model).
    """
    from emms_ref.features.text_zoo import cached_pair_features, get_text_zoo_member, text_zoo_member_names

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    if members is None:
        members = [get_text_zoo_member(name) for name in text_zoo_member_names()]
        members += checkpoint_members_from_environment()
    fit_list = list(fit_texts)
    features, seconds = {}, {}
    for member in tqdm(members, desc="text-zoo features", unit="model", disable=not progress):
        start = time.perf_counter()
        encoders = member.build(fit_list if member.needs_fit_texts else None)
        features[member.name] = cached_pair_features(
            encoders, contexts, questions, question_context, cache_dir=cache_dir / "text_features"
        )
        seconds[member.name] = time.perf_counter() - start
    return features, seconds


def checkpoint_members_from_environment():
    """Build zoo members from the local checkpoint folders named in ``EMMS_TEXT_QA_CHECKPOINTS``.

    The variable contains folder paths separated by ``os.pathsep`` (":" on
    Linux), each a ``transformers`` checkpoint with its tokenizer, for
    example a BERT or RoBERTa model fine-tuned on SQuAD as evaluated by
    Meng et al. (NeurIPS 2023). Each member encodes texts by the masked mean
    of the last hidden state (:class:`emms_ref.labels.HFTextEncoder`).

    Raises
    ------
    FileNotFoundError
        If a listed folder does not exist.
    """
    from emms_ref.features.text_zoo import TextZooMember

    value = os.environ.get(TEXT_QA_CHECKPOINTS_VARIABLE, "").strip()
    members = []
    for entry in filter(None, (part.strip() for part in value.split(os.pathsep))):
        path = Path(entry).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"{TEXT_QA_CHECKPOINTS_VARIABLE} lists {entry!r}, which is not a folder; "
                "list transformers checkpoint folders separated by os.pathsep."
            )

        def build(fit_texts=None, path=path):
            from transformers import AutoModel, AutoTokenizer

            from emms_ref.labels import HFTextEncoder

            encoder = HFTextEncoder(
                AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), f"checkpoint-{path.resolve()}"
            )
            return encoder, encoder

        members.append(TextZooMember(path.name, "published checkpoint", f"local checkpoint {path}", build))
    return members


def text_qa_scores(features, f_labels, answer_labels, *, methods=None, progress=True, emms_results=None):
    """Score every member with EMMS and the baselines that apply to text QA.

    Parameters
    ----------
    features : dict of str to numpy.ndarray
        Member name -> (Q, D) pair features.
    f_labels : dict of str to numpy.ndarray
        Encoder name -> (Q, L) answer F-labels.
    answer_labels : array_like, shape (Q,)
        Answer class of each question (closed vocabulary), for the
        baselines that need classes.
    methods : sequence of str, optional
        Subset of "EMMS", "LogME (F-labels)", "LogME (answer classes)",
        "H-score (shrinkage)" and "TransRate". Default: all.
    progress : bool
        Show a tqdm progress bar over members.
    emms_results : dict, optional
        If given, filled with member name -> :class:`emms_ref.scores.EMMSResult`,
        for the weights t and the residual Gram matrix M of each fit.

    Returns
    -------
    scores : dict of str to dict of str to float
        Method -> member name -> score (higher is better).
    seconds : dict of str to dict of str to float
        Method -> member name -> wall-clock seconds of the scoring call.
    """
    from emms_ref import emms_score
    from emms_ref.baselines import h_score, logme, logme_flabels, transrate

    blocks = list(f_labels.values())
    results = {} if emms_results is None else emms_results

    def emms(name):
        results[name] = emms_score(features[name], blocks)
        return results[name].score

    scorers = {
        "EMMS": emms,
        "LogME (F-labels)": lambda name: logme_flabels(features[name], blocks).score,
        "LogME (answer classes)": lambda name: logme(features[name], answer_labels).score,
        "H-score (shrinkage)": lambda name: h_score(features[name], answer_labels, shrinkage="ledoit_wolf").score,
        "TransRate": lambda name: transrate(features[name], answer_labels).score,
    }
    chosen = list(scorers) if methods is None else list(methods)
    unknown = [name for name in chosen if name not in scorers]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(scorers)}.")

    scores = {method: {} for method in chosen}
    seconds = {method: {} for method in chosen}
    for name in tqdm(list(features), desc="scoring", unit="model", disable=not progress):
        for method in chosen:
            start = time.perf_counter()
            scores[method][name] = float(scorers[method](name))
            seconds[method][name] = time.perf_counter() - start
    return scores, seconds


def load_text_qa_ground_truth(path=None) -> dict:
    """Read the committed ground truth written by ``scripts/text_qa_ground_truth.py``."""
    path = REPOSITORY / "results" / "text_qa_ground_truth.json" if path is None else Path(path)
    return json.loads(Path(path).read_text())


def text_qa_comparison(*, cache_dir=None, progress=False) -> dict:
    """Run the chapter's comparison on the synthetic text-QA task, reusing its caches.

    Scores the questions of the first ``TEXT_QA_SCORED_IMAGES`` training
    images with the methods in ``TEXT_QA_CHAPTER_METHODS``, as the chapter does.

    Returns
    -------
    dict
        ``task``, ``models`` (members that have both features and ground
        truth, in zoo order), ``ground_truth`` (test accuracy of the trained
        answer head), ``scores`` and ``seconds`` (method -> per-model list,
        method -> total seconds over all models), ``weighted_tau`` (method ->
        weighted Kendall tau) and ``flabel_encoders``.
    """
    from emms_ref.evaluation import weighted_kendall_tau

    task = text_qa_training_task()
    ground_truth = load_text_qa_ground_truth()
    features, _ = text_qa_zoo_features(
        task.contexts, task.questions, task.question_context,
        fit_texts=task.contexts + task.questions, cache_dir=cache_dir, progress=progress,
    )
    models = [name for name in features if name in ground_truth["models"]]
    scored = np.flatnonzero(np.asarray(task.question_context) < TEXT_QA_SCORED_IMAGES)
    f_labels = answer_flabels([task.answers[row] for row in scored], cache_dir=cache_dir)
    scores, seconds = text_qa_scores(
        {name: features[name][scored] for name in models}, f_labels, task.answer_indices()[scored],
        methods=TEXT_QA_CHAPTER_METHODS, progress=progress,
    )
    accuracy = [ground_truth["models"][name]["test_accuracy_mean"] for name in models]
    return {
        "task": "text QA (synthetic, from easy-VQA metadata)",
        "models": models,
        "ground_truth": accuracy,
        "scores": {method: [values[name] for name in models] for method, values in scores.items()},
        "seconds": {method: float(sum(values.values())) for method, values in seconds.items()},
        "weighted_tau": {
            method: weighted_kendall_tau([values[name] for name in models], accuracy)
            for method, values in scores.items()
        },
        "flabel_encoders": list(TEXT_QA_FLABEL_ENCODERS),
    }
