"""Loader for the published SQuAD v1.1 files (Rajpurkar et al., EMNLP 2016).

SQuAD v1.1 ships as ``train-v1.1.json`` and ``dev-v1.1.json``, with this layout::

    {"version": "1.1",
     "data": [{"title": "...",
               "paragraphs": [{"context": "...",
                               "qas": [{"id": "...", "question": "...",
                                        "answers": [{"text": "...", "answer_start": 177}, ...]}]}]}]}

:func:`load_squad` flattens it into one context per paragraph and one row per
question. The text-QA chapter uses the first answer of each question as its
label, so its F-label is the embedding of that answer text. Set
``EMMS_SQUAD_ROOT`` to the folder that contains the two files to run the chapter
on SQuAD (see :func:`squad_root_from_environment`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SQUAD_FILES",
    "SQUAD_ROOT_VARIABLE",
    "SquadQA",
    "load_squad",
    "squad_root_from_environment",
]

logger = logging.getLogger(__name__)

SQUAD_ROOT_VARIABLE = "EMMS_SQUAD_ROOT"
SQUAD_FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}


@dataclass(frozen=True)
class SquadQA:
    """One SQuAD v1.1 split, flattened.

    Attributes
    ----------
    contexts : list of str
        One paragraph per entry, in file order.
    titles : list of str
        Article title of each context.
    question_ids : list of str
        SQuAD question id of each question.
    questions : list of str
        The Q questions, in file order.
    answers : list of str
        First answer text of each question.
    answer_starts : numpy.ndarray
        Shape (Q,), int64, character offset of the first answer in its context.
    all_answers : list of list of str
        Every answer text of each question (dev questions have up to 3 or more).
    question_context : numpy.ndarray
        Shape (Q,), int64, index into ``contexts`` of each question's paragraph.
    span_mismatches : int
        Number of first answers whose text differs from
        ``context[answer_start : answer_start + len(text)]``.
    """

    contexts: list[str]
    titles: list[str]
    question_ids: list[str]
    questions: list[str]
    answers: list[str]
    answer_starts: np.ndarray
    all_answers: list[list[str]]
    question_context: np.ndarray
    span_mismatches: int


def squad_root_from_environment() -> Path | None:
    """Return the folder named by ``EMMS_SQUAD_ROOT``, or None when the variable is unset or empty.

    Raises
    ------
    FileNotFoundError
        If the variable names a folder that does not exist.
    """
    value = os.environ.get(SQUAD_ROOT_VARIABLE, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"{SQUAD_ROOT_VARIABLE}={value!r} is not a folder; point it to the folder with "
            f"{SQUAD_FILES['train']} and {SQUAD_FILES['dev']}, or unset it to use the synthetic task."
        )
    return root


def _require(mapping, key, where):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"SQuAD file is malformed: {where} has no {key!r} field.")
    return mapping[key]


def load_squad(root, split: str = "train", *, max_questions: int | None = None) -> SquadQA:
    """Read one split of SQuAD v1.1 from a local folder.

    Parameters
    ----------
    root : path-like
        Folder with ``train-v1.1.json`` and/or ``dev-v1.1.json``.
    split : {"train", "dev"}
    max_questions : int, optional
        Stop after this many questions (whole paragraphs are kept, so the
        result may hold fewer). None reads all.

    Returns
    -------
    SquadQA

    Raises
    ------
    FileNotFoundError
        If the split's file is missing.
    ValueError
        If ``split`` or ``max_questions`` is invalid, the file is not SQuAD
        v1.x JSON, or a question has no answer.
    """
    if split not in SQUAD_FILES:
        raise ValueError(f"split must be one of {sorted(SQUAD_FILES)}, got {split!r}.")
    if max_questions is not None and (isinstance(max_questions, bool) or int(max_questions) != max_questions or max_questions < 1):
        raise ValueError(f"max_questions must be a positive int or None, got {max_questions!r}.")
    path = Path(root) / SQUAD_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"SQuAD {split} file not found at {path}; download SQuAD v1.1 into {Path(root)}.")

    document = json.loads(path.read_text(encoding="utf-8"))
    version = str(document.get("version", "")) if isinstance(document, dict) else ""
    if not version.startswith("1."):
        raise ValueError(f"{path} has version {version!r}; this loader reads SQuAD v1.x files (version '1.1').")

    contexts, titles, question_ids, questions, answers, starts, all_answers, question_context = ([] for _ in range(8))
    mismatches = 0
    for article_index, article in enumerate(_require(document, "data", "the file")):
        title = str(article.get("title", ""))
        for paragraph_index, paragraph in enumerate(_require(article, "paragraphs", f"article {article_index}")):
            if max_questions is not None and len(questions) >= max_questions:
                break
            where = f"article {article_index} paragraph {paragraph_index}"
            context = _require(paragraph, "context", where)
            context_row = len(contexts)
            contexts.append(context)
            titles.append(title)
            for qa in _require(paragraph, "qas", where):
                qa_answers = _require(qa, "answers", f"question {qa.get('id')!r} of {where}")
                if not qa_answers:
                    raise ValueError(
                        f"question {qa.get('id')!r} of {where} has no answers; "
                        "SQuAD v2.0 unanswerable questions are not supported."
                    )
                first = qa_answers[0]
                text, start = str(first["text"]), int(first["answer_start"])
                if context[start : start + len(text)] != text:
                    mismatches += 1
                question_ids.append(str(_require(qa, "id", where)))
                questions.append(str(_require(qa, "question", where)))
                answers.append(text)
                starts.append(start)
                all_answers.append([str(answer["text"]) for answer in qa_answers])
                question_context.append(context_row)
        if max_questions is not None and len(questions) >= max_questions:
            break

    if mismatches:
        logger.warning("%d of %d SQuAD answers do not match their answer_start span in %s", mismatches, len(answers), path)
    return SquadQA(
        contexts=contexts,
        titles=titles,
        question_ids=question_ids,
        questions=questions,
        answers=answers,
        answer_starts=np.array(starts, dtype=np.int64),
        all_answers=all_answers,
        question_context=np.array(question_context, dtype=np.int64),
        span_mismatches=mismatches,
    )
