"""The easy-VQA data set with the shape, colour and bounding box of every image.

easy-VQA (Victor Zhou, MIT licence, github.com/vzhou842/easy-VQA) is a
synthetic visual question answering data set. Each 64x64 RGB image shows one
circle, rectangle or triangle in one of 8 colours on a flat light background.
Each question about it has one of 13 answers (3 shapes, 8 colours, yes, no). The train split has 4,000 images and 38,575 questions, the test split
1,000 images and 9,673 questions.

Provenance: the images and questions are read from the package easy-vqa 1.0
from PyPI, which ships them as PNG files and ``questions.json``.

The data set stores no shape or colour labels, so :func:`load_easy_vqa`
derives them from the questions: "what shape is in the image?" names the
shape, "what color is the triangle?" names both, and a yes/no question such as
"is there not a blue shape?" answered "no" states that the shape is blue.
Where the questions leave a value open, the value measured from the pixels
fills it in. All facts about one image, and the measured values, must agree,
or loading fails. The bounding boxes come
from thresholding against the background colour (:func:`emms_ref.tasks.boxes.shape_box`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .boxes import DEFAULT_BACKGROUND_TOLERANCE, background_color, shape_box

__all__ = [
    "EASY_VQA_COLORS",
    "EASY_VQA_COLOR_RGB",
    "EASY_VQA_IMAGE_SIZE",
    "EASY_VQA_SHAPES",
    "EasyVQA",
    "image_attributes",
    "load_easy_vqa",
    "measured_color",
    "measured_shape",
]

EASY_VQA_SHAPES = ("circle", "rectangle", "triangle")
EASY_VQA_COLORS = ("black", "blue", "brown", "gray", "green", "red", "teal", "yellow")
# RGB of each colour name as drawn in the images (the PIL colour names, but
# "green" is pure (0, 255, 0)), read off the pixels of images whose questions
# name the colour.
EASY_VQA_COLOR_RGB = {
    "black": (0, 0, 0),
    "blue": (0, 0, 255),
    "brown": (165, 42, 42),
    "gray": (128, 128, 128),
    "green": (0, 255, 0),
    "red": (255, 0, 0),
    "teal": (0, 128, 128),
    "yellow": (255, 255, 0),
}
EASY_VQA_IMAGE_SIZE = 64
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class EasyVQA:
    """One split of easy-VQA (synthetic), in image-id order.

    Attributes
    ----------
    images : numpy.ndarray
        Shape (N, 64, 64, 3), uint8 RGB, read-only.
    image_ids : numpy.ndarray
        Shape (N,), int64, the easy-VQA image ids (PNG file names), increasing.
    shapes : list of str
        Shape of each image: "circle", "rectangle" or "triangle".
    colors : list of str
        Colour of each image's shape, one of ``EASY_VQA_COLORS``.
    boxes : numpy.ndarray
        Shape (N, 4), float64 ``[x_min, y_min, x_max, y_max]`` in pixels with
        exclusive maximum (see :mod:`emms_ref.tasks.boxes`).
    questions : list of str
        The Q questions about these images, in the order of ``questions.json``.
    answers : list of str
        The answer to each question, one of ``answer_vocabulary``.
    question_image : numpy.ndarray
        Shape (Q,), int64, index into ``images`` of each question's image.
    answer_vocabulary : list of str
        The 13 easy-VQA answers, sorted alphabetically.
    """

    images: np.ndarray
    image_ids: np.ndarray
    shapes: list[str]
    colors: list[str]
    boxes: np.ndarray
    questions: list[str]
    answers: list[str]
    question_image: np.ndarray
    answer_vocabulary: list[str]

    def answer_indices(self) -> np.ndarray:
        """Return the index of each answer in ``answer_vocabulary``, shape (Q,), int64."""
        position = {answer: index for index, answer in enumerate(self.answer_vocabulary)}
        return np.array([position[answer] for answer in self.answers], dtype=np.int64)


def _question_facts(question: str, answer: str) -> list[tuple[str, str, bool]]:
    """List the (attribute, value, holds) facts that one question and its answer state."""
    words = question.rstrip("?").split()
    mentioned = [("shape", word) for word in words if word in EASY_VQA_SHAPES]
    mentioned += [("color", word) for word in words if word in EASY_VQA_COLORS]

    if words[0] == "what":
        # "what color is the triangle?" -> color = answer and shape = triangle.
        if answer in EASY_VQA_SHAPES:
            return [("shape", answer, True), *[(kind, value, True) for kind, value in mentioned]]
        if answer in EASY_VQA_COLORS:
            return [("color", answer, True), *[(kind, value, True) for kind, value in mentioned]]
    elif answer in ("yes", "no") and len(mentioned) == 1:
        # "is there not a blue shape?" / "is no circle present?" answered "no" -> it is there.
        negated = "not" in words or "no" in words
        holds = (answer == "yes") != negated
        kind, value = mentioned[0]
        return [(kind, value, holds)]
    raise ValueError(f"unrecognised easy-VQA question template: {question!r} with answer {answer!r}.")


def _candidates(kind: str, values: tuple[str, ...], facts) -> set[str]:
    """Return the values of ``kind`` that the facts allow, or raise if they contradict each other."""
    present = {value for fact_kind, value, holds in facts if fact_kind == kind and holds}
    absent = {value for fact_kind, value, holds in facts if fact_kind == kind and not holds}
    if len(present) > 1 or present & absent:
        raise ValueError(f"contradictory {kind} facts: present {sorted(present)}, absent {sorted(absent)}")
    return present or (set(values) - absent)


def measured_color(image: np.ndarray) -> str:
    """Name the colour of the shape: the most frequent non-background colour, matched to ``EASY_VQA_COLOR_RGB``."""
    background = background_color(image)
    pixels = image.reshape(-1, 3).astype(np.int32)
    foreground = pixels[np.abs(pixels - background).max(axis=1) > DEFAULT_BACKGROUND_TOLERANCE]
    codes, counts = np.unique(foreground[:, 0] << 16 | foreground[:, 1] << 8 | foreground[:, 2], return_counts=True)
    code = int(codes[np.argmax(counts)])
    dominant = np.array([code >> 16, (code >> 8) & 255, code & 255])
    distances = {name: int(np.abs(dominant - rgb).max()) for name, rgb in EASY_VQA_COLOR_RGB.items()}
    return min(distances, key=distances.get)


def measured_shape(image: np.ndarray) -> str:
    """Name the shape from the share of its bounding box that it fills.

    Rectangles fill their box (share >= 0.93), circles about pi/4 (0.76 to
    0.90 on easy-VQA, more when the image edge clips them) and triangles about
    half (0.52 to 0.69). The ranges were measured on all easy-VQA images whose
    questions name the shape.
    """
    box = shape_box(image).astype(int)
    crop = image[box[1] : box[3], box[0] : box[2]].astype(np.int16)
    foreground = np.abs(crop - background_color(image)).max(axis=2) > DEFAULT_BACKGROUND_TOLERANCE
    share = foreground.mean()
    if share >= 0.93:
        return "rectangle"
    return "circle" if share >= 0.725 else "triangle"


def image_attributes(images, questions, answers, question_image) -> tuple[list[str], list[str]]:
    """Derive the shape and colour of every image from its questions, checked against its pixels.

    Where the questions determine a shape or colour, that is the label. About
    4% of the images have no question that names the shape, and about 7% none
    that names the colour. For those, the label is the value measured from the
    pixels (:func:`measured_shape`, :func:`measured_color`). In both cases the
    measured value must agree with every question, so the labels never
    contradict the data set's own answers.

    Parameters
    ----------
    images : numpy.ndarray
        Shape (N, H, W, 3), uint8.
    questions, answers : sequence of str
    question_image : sequence of int
        Index into ``images`` of each question's image.

    Returns
    -------
    shapes, colors : list of str
        One per image.

    Raises
    ------
    ValueError
        If a question follows no known easy-VQA template, two facts about an
        image contradict each other, or the measured value contradicts a question.
    """
    facts: list[list] = [[] for _ in range(len(images))]
    for question, answer, index in zip(questions, answers, question_image, strict=True):
        facts[int(index)].extend(_question_facts(question, answer))

    shapes, colors = [], []
    for index, (image, image_facts) in enumerate(zip(images, facts)):
        labels = []
        for kind, values, measure in (("shape", EASY_VQA_SHAPES, measured_shape), ("color", EASY_VQA_COLORS, measured_color)):
            try:
                allowed = _candidates(kind, values, image_facts)
            except ValueError as error:
                raise ValueError(f"easy-VQA image at index {index}: {error}.") from None
            measured = measure(image)
            if measured not in allowed:
                raise ValueError(
                    f"easy-VQA image at index {index} looks like a {measured} {kind}, but its questions allow "
                    f"only {sorted(allowed)}."
                )
            labels.append(allowed.pop() if len(allowed) == 1 else measured)
        shapes.append(labels[0])
        colors.append(labels[1])
    return shapes, colors


@lru_cache(maxsize=2)
def _read_split(split: str):
    """Read one split from the easy_vqa package: images, ids, questions, answers, question image ids, vocabulary."""
    import easy_vqa
    from PIL import Image

    if split == "train":
        questions, answers, question_ids = easy_vqa.get_train_questions()
        paths = easy_vqa.get_train_image_paths()
    else:
        questions, answers, question_ids = easy_vqa.get_test_questions()
        paths = easy_vqa.get_test_image_paths()

    image_ids = np.array(sorted(paths), dtype=np.int64)
    images = np.stack([np.asarray(Image.open(paths[int(image_id)]).convert("RGB")) for image_id in image_ids])
    images.setflags(write=False)
    image_ids.setflags(write=False)
    question_ids = np.asarray(question_ids, dtype=np.int64)
    vocabulary = tuple(sorted(easy_vqa.get_answers()))
    return images, image_ids, tuple(questions), tuple(answers), question_ids, vocabulary


def load_easy_vqa(split: str = "train", *, max_images: int | None = None) -> EasyVQA:
    """Load one split of the synthetic easy-VQA data set with shapes, colours and boxes.

    Parameters
    ----------
    split : {"train", "test"}
    max_images : int, optional
        Keep the ``max_images`` images with the smallest ids and only their
        questions. None keeps the whole split (4,000 train or 1,000 test images).

    Returns
    -------
    EasyVQA
        Arrays are read-only; the lists are new on every call.

    Raises
    ------
    ValueError
        If ``split`` or ``max_images`` is invalid, or the questions of an
        image contradict each other (see :func:`image_attributes`).
    ImportError
        If the ``easy-vqa`` package is missing (``pip install easy-vqa``).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if max_images is not None and (isinstance(max_images, bool) or int(max_images) != max_images or max_images < 1):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}.")

    images, image_ids, questions, answers, question_ids, vocabulary = _read_split(split)
    if max_images is not None:
        images, image_ids = images[:max_images], image_ids[:max_images]

    position = {int(image_id): index for index, image_id in enumerate(image_ids)}
    kept = [index for index, image_id in enumerate(question_ids) if int(image_id) in position]
    kept_questions = [questions[index] for index in kept]
    kept_answers = [answers[index] for index in kept]
    question_image = np.array([position[int(question_ids[index])] for index in kept], dtype=np.int64)

    shapes, colors = image_attributes(images, kept_questions, kept_answers, question_image)
    boxes = np.stack([shape_box(image) for image in images]) if len(images) else np.zeros((0, 4))
    boxes.setflags(write=False)
    question_image.setflags(write=False)
    return EasyVQA(
        images=images,
        image_ids=image_ids,
        shapes=shapes,
        colors=colors,
        boxes=boxes,
        questions=kept_questions,
        answers=kept_answers,
        question_image=question_image,
        answer_vocabulary=list(vocabulary),
    )
