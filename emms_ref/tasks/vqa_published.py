"""Loader for the published VQA v2 files (Goyal et al., CVPR 2017), for the VQA chapter's switch.

VQA v2 ships one questions file and one annotations file per split, next to
the COCO images of that split. With ``root`` holding the files of the split
``val2014``, the layout this loader reads is::

    root/v2_OpenEnded_mscoco_val2014_questions.json
        {"questions": [{"image_id": 42, "question": "What ...?", "question_id": 420}, ...], ...}
    root/v2_mscoco_val2014_annotations.json
        {"annotations": [{"question_id": 420, "image_id": 42, "multiple_choice_answer": "yes",
                          "answers": [{"answer": "yes", "answer_confidence": "yes", "answer_id": 1}, ...],
                          "answer_type": "yes/no", "question_type": "is the"}, ...], ...}
    root/val2014/COCO_val2014_000000000042.jpg

:func:`load_vqa_v2` keeps the questions whose ``multiple_choice_answer`` (the
most common of the 10 human answers) is among the ``top_answers`` most
frequent ones, so the answers form a closed vocabulary like easy-VQA's. It
resizes every image to a square ``image_size`` without keeping the aspect
ratio. Set ``EMMS_VQA_V2_ROOT`` to such a folder to run the VQA chapter on
VQA v2 (see :func:`vqa_v2_root_from_environment`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "VQA_V2_ROOT_VARIABLE",
    "VQASamples",
    "load_vqa_v2",
    "vqa_v2_files",
    "vqa_v2_root_from_environment",
]

VQA_V2_ROOT_VARIABLE = "EMMS_VQA_V2_ROOT"


@dataclass(frozen=True)
class VQASamples:
    """Images with questions and closed-vocabulary answers; the fields match :class:`~emms_ref.tasks.easy_vqa.EasyVQA`.

    Attributes
    ----------
    images : numpy.ndarray
        Shape (N, S, S, 3), uint8 RGB, read-only, resized to ``S = image_size``.
    image_ids : numpy.ndarray
        Shape (N,), int64, COCO image ids, increasing.
    questions : list of str
    answers : list of str
        Each question's ``multiple_choice_answer``.
    question_image : numpy.ndarray
        Shape (Q,), int64, index into ``images``.
    question_ids : numpy.ndarray
        Shape (Q,), int64, VQA question ids.
    answer_vocabulary : list of str
        The kept answers, sorted.
    """

    images: np.ndarray
    image_ids: np.ndarray
    questions: list[str]
    answers: list[str]
    question_image: np.ndarray
    question_ids: np.ndarray
    answer_vocabulary: list[str]

    def answer_indices(self) -> np.ndarray:
        """Return the index of each answer in ``answer_vocabulary``, shape (Q,), int64."""
        position = {answer: index for index, answer in enumerate(self.answer_vocabulary)}
        return np.array([position[answer] for answer in self.answers], dtype=np.int64)


def vqa_v2_root_from_environment() -> Path | None:
    """Return the folder named by ``EMMS_VQA_V2_ROOT``, or None when the variable is unset or empty."""
    value = os.environ.get(VQA_V2_ROOT_VARIABLE, "").strip()
    return Path(value) if value else None


def vqa_v2_files(root, split: str) -> dict[str, Path]:
    """Return the questions file, annotations file and image folder of ``split`` under ``root``."""
    root = Path(root)
    return {
        "questions": root / f"v2_OpenEnded_mscoco_{split}_questions.json",
        "annotations": root / f"v2_mscoco_{split}_annotations.json",
        "images": root / split,
    }


def _read_json_list(path: Path, key: str) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"VQA v2 file not found: {path}. Download it from visualqa.org or fix the root folder.")
    with open(path, encoding="utf-8") as file:
        content = json.load(file)
    if not isinstance(content, dict) or not isinstance(content.get(key), list):
        raise ValueError(f"{path} must be a JSON object with a list under {key!r}; is it a VQA v2 file?")
    return content[key]


def _load_image(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"COCO image not found: {path}.")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))


def load_vqa_v2(
    root,
    split: str = "val2014",
    *,
    top_answers: int = 20,
    max_images: int | None = None,
    image_size: int = 64,
) -> VQASamples:
    """Load VQA v2 questions with a closed answer vocabulary and their resized COCO images.

    Parameters
    ----------
    root : path-like
        Folder with the layout in the module docstring.
    split : str
        "train2014" or "val2014" (any name whose files follow the pattern works).
    top_answers : int
        Keep questions whose answer is among this many most frequent
        ``multiple_choice_answer`` values of the split (ties by answer text).
    max_images : int, optional
        Keep the questions of the ``max_images`` smallest image ids that have a kept question.
    image_size : int
        Side of the square resized images in pixels.

    Raises
    ------
    FileNotFoundError
        If a file or image is missing.
    ValueError
        If an argument is invalid, a file does not have the VQA v2 layout, or
        a question has no annotation.
    """
    for name, value in (("top_answers", top_answers), ("image_size", image_size)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if max_images is not None and (isinstance(max_images, bool) or int(max_images) != max_images or max_images < 1):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}.")

    files = vqa_v2_files(root, split)
    questions = _read_json_list(files["questions"], "questions")
    annotations = _read_json_list(files["annotations"], "annotations")
    answer_of = {int(entry["question_id"]): str(entry["multiple_choice_answer"]) for entry in annotations}
    missing = [entry["question_id"] for entry in questions if int(entry["question_id"]) not in answer_of]
    if missing:
        raise ValueError(f"{len(missing)} questions have no annotation in {files['annotations']}, first ids {missing[:5]}.")

    counts = Counter(answer_of[int(entry["question_id"])] for entry in questions)
    vocabulary = sorted(answer for answer, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_answers])
    kept_answers = set(vocabulary)
    kept = [entry for entry in questions if answer_of[int(entry["question_id"])] in kept_answers]
    image_ids = np.array(sorted({int(entry["image_id"]) for entry in kept}), dtype=np.int64)
    if max_images is not None:
        image_ids = image_ids[:max_images]
    position = {int(image_id): index for index, image_id in enumerate(image_ids)}
    kept = [entry for entry in kept if int(entry["image_id"]) in position]

    images = np.stack(
        [_load_image(files["images"] / f"COCO_{split}_{image_id:012d}.jpg", image_size) for image_id in image_ids]
    ) if len(image_ids) else np.zeros((0, image_size, image_size, 3), dtype=np.uint8)
    question_image = np.array([position[int(entry["image_id"])] for entry in kept], dtype=np.int64)
    for array in (images, image_ids, question_image):
        array.setflags(write=False)
    answers = [answer_of[int(entry["question_id"])] for entry in kept]
    return VQASamples(
        images=images,
        image_ids=image_ids,
        questions=[str(entry["question"]) for entry in kept],
        answers=answers,
        question_image=question_image,
        question_ids=np.array([int(entry["question_id"]) for entry in kept], dtype=np.int64),
        answer_vocabulary=sorted(set(answers)),
    )
