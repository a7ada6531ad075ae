"""A synthetic text question answering task written from easy-VQA metadata.

No text-QA data set installs without network access, so this module turns
each easy-VQA image (:mod:`emms_ref.tasks.easy_vqa`) into a short synthetic
context paragraph about its shape, colour, position and size, for example::

    The picture shows a small blue triangle in the top left. The background is plain.

The easy-VQA questions about that image become questions about the paragraph,
with the same 13 answers (3 shapes, 8 colours, yes, no). Main sentences
come from several templates, and 0 to 2 filler sentences are added, some of
which name a colour or shape that is absent ("It is not a circle."), so a
bag of words cannot read the answer off the context alone. Everything here
is synthetic: the contexts are generated, and the task is a stand-in for
SQuAD-style reading comprehension (:mod:`emms_ref.tasks.squad_published`
loads the published SQuAD v1.1 files).

Position and size are read from the shape's bounding box: the box centre in
thirds of the image width and height gives the position, and the box area as
a fraction of the image area gives the size (below 0.075 small, below 0.14
medium-sized, else large).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SyntheticTextQA",
    "box_position",
    "box_size",
    "build_synthetic_text_qa",
    "load_synthetic_text_qa",
]

_MAIN_TEMPLATES = (
    "The picture shows a {size} {color} {shape} in the {position}.",
    "A {color} {shape} sits in the {position} of the image.",
    "In the {position} there is a {size} {shape}, painted {color}.",
    "The only object is a {color} {shape}, drawn in the {position}.",
    "Someone drew a {size} {shape} in the {position}; its color is {color}.",
)
_PLAIN_FILLERS = (
    "The background is plain.",
    "Nothing else is drawn.",
    "The image is 64 by 64 pixels.",
    "There is no text in the image.",
)
_NEGATED_FILLERS = (
    "It is not a {other_shape}.",
    "No {other_color} paint was used.",
)
# Roughly the terciles of the box area fractions in the easy-VQA train split (0.075 and 0.141).
_SMALL_AREA = 0.075
_LARGE_AREA = 0.14


@dataclass(frozen=True)
class SyntheticTextQA:
    """A synthetic text-QA split: one context per easy-VQA image and the questions about it.

    Attributes
    ----------
    contexts : list of str
        One synthetic context paragraph per image, in image order.
    image_ids : numpy.ndarray
        Shape (C,), int64, the easy-VQA image id behind each context.
    questions : list of str
        The Q questions, in easy-VQA order.
    answers : list of str
        The answer to each question, one of ``answer_vocabulary``.
    question_context : numpy.ndarray
        Shape (Q,), int64, index into ``contexts`` of each question's context.
    answer_vocabulary : list of str
        The closed answer set, sorted.
    """

    contexts: list[str]
    image_ids: np.ndarray
    questions: list[str]
    answers: list[str]
    question_context: np.ndarray
    answer_vocabulary: list[str]

    def answer_indices(self) -> np.ndarray:
        """Return the index of each answer in ``answer_vocabulary``, shape (Q,), int64."""
        position = {answer: index for index, answer in enumerate(self.answer_vocabulary)}
        return np.array([position[answer] for answer in self.answers], dtype=np.int64)


def box_position(box, image_size: int) -> str:
    """Name the ninth of the image that contains the centre of ``box``.

    Returns one of "top left", "top middle", "top right", "middle left",
    "center", "middle right", "bottom left", "bottom middle", "bottom right".
    """
    x_min, y_min, x_max, y_max = (float(value) for value in box)
    column = min(2, max(0, int(3 * (x_min + x_max) / 2 / image_size)))
    row = min(2, max(0, int(3 * (y_min + y_max) / 2 / image_size)))
    if row == column == 1:
        return "center"
    return f"{('top', 'middle', 'bottom')[row]} {('left', 'middle', 'right')[column]}"


def box_size(box, image_size: int) -> str:
    """Name the size of ``box`` from its area fraction: "small", "medium-sized" or "large"."""
    x_min, y_min, x_max, y_max = (float(value) for value in box)
    area = max(0.0, x_max - x_min) * max(0.0, y_max - y_min) / image_size**2
    if area < _SMALL_AREA:
        return "small"
    return "medium-sized" if area < _LARGE_AREA else "large"


def _context(shape, color, box, image_size, rng, shapes, colors) -> str:
    main = _MAIN_TEMPLATES[rng.integers(len(_MAIN_TEMPLATES))].format(
        size=box_size(box, image_size), color=color, shape=shape, position=box_position(box, image_size)
    )
    fillers = []
    for _ in range(rng.integers(0, 3)):
        if rng.random() < 0.5:
            other_shape = rng.choice([value for value in shapes if value != shape])
            other_color = rng.choice([value for value in colors if value != color])
            template = _NEGATED_FILLERS[rng.integers(len(_NEGATED_FILLERS))]
            fillers.append(template.format(other_shape=other_shape, other_color=other_color))
        else:
            fillers.append(_PLAIN_FILLERS[rng.integers(len(_PLAIN_FILLERS))])
    sentences = [main, *dict.fromkeys(fillers)]
    # The main sentence comes first or second, so its position is not fixed.
    if len(sentences) > 1 and rng.random() < 0.5:
        sentences[0], sentences[1] = sentences[1], sentences[0]
    return " ".join(sentences)


def build_synthetic_text_qa(vqa, *, seed: int = 0, image_size: int = 64) -> SyntheticTextQA:
    """Write a synthetic context for every image of an easy-VQA split and keep its questions.

    Parameters
    ----------
    vqa : emms_ref.tasks.easy_vqa.EasyVQA
        Or any object with the fields ``image_ids``, ``shapes``, ``colors``,
        ``boxes`` (pixels, ``[x_min, y_min, x_max, y_max]``), ``questions``,
        ``answers``, ``question_image`` and ``answer_vocabulary``. Not modified.
    seed : int
        Seed of the template and filler choices. Context ``i`` depends only
        on ``seed``, the image id and the image's metadata, so a subset of
        images gets the same contexts as the full split.
    image_size : int
        Image side in pixels, for position and size.

    Returns
    -------
    SyntheticTextQA

    Raises
    ------
    ValueError
        If the per-image fields differ in length, a question points to no
        image, or an answer is not in the vocabulary.
    """
    image_ids = np.asarray(vqa.image_ids, dtype=np.int64)
    shapes, colors = list(vqa.shapes), list(vqa.colors)
    boxes = np.asarray(vqa.boxes, dtype=np.float64)
    n_images = len(image_ids)
    if not (len(shapes) == len(colors) == n_images and boxes.shape == (n_images, 4)):
        raise ValueError(
            f"vqa must have one shape, colour and (4,) box per image: got {n_images} image ids, "
            f"{len(shapes)} shapes, {len(colors)} colors and boxes of shape {boxes.shape}."
        )
    questions, answers = list(vqa.questions), list(vqa.answers)
    question_context = np.array(vqa.question_image, dtype=np.int64)
    if not (len(questions) == len(answers) == len(question_context)):
        raise ValueError(
            f"vqa has {len(questions)} questions, {len(answers)} answers and {len(question_context)} "
            "question_image entries; they must be equal."
        )
    if question_context.size and (question_context.min() < 0 or question_context.max() >= n_images):
        raise ValueError(f"vqa.question_image must index 0..{n_images - 1}, got values outside that range.")
    vocabulary = sorted(vqa.answer_vocabulary)
    unknown = sorted(set(answers) - set(vocabulary))
    if unknown:
        raise ValueError(f"answers {unknown[:5]} are not in vqa.answer_vocabulary {vocabulary}.")

    shape_names = sorted(set(shapes) | {"circle", "rectangle", "triangle"})
    color_names = sorted(set(colors) | {"black", "blue", "brown", "gray", "green", "red", "teal", "yellow"})
    contexts = [
        _context(shape, color, box, image_size, np.random.default_rng([seed, int(image_id)]), shape_names, color_names)
        for image_id, shape, color, box in zip(image_ids, shapes, colors, boxes)
    ]
    question_context.setflags(write=False)
    return SyntheticTextQA(
        contexts=contexts,
        image_ids=image_ids.copy(),
        questions=questions,
        answers=answers,
        question_context=question_context,
        answer_vocabulary=vocabulary,
    )


def load_synthetic_text_qa(split: str = "train", *, max_images: int | None = None, seed: int = 0) -> SyntheticTextQA:
    """Load an easy-VQA split and turn it into the synthetic text-QA task.

    Parameters
    ----------
    split : {"train", "test"}
    max_images : int, optional
        Keep the images with the smallest ids (see
        :func:`emms_ref.tasks.easy_vqa.load_easy_vqa`).
    seed : int
        Seed of the context templates, see :func:`build_synthetic_text_qa`.
    """
    from emms_ref.tasks.easy_vqa import EASY_VQA_IMAGE_SIZE, load_easy_vqa

    vqa = load_easy_vqa(split, max_images=max_images)
    return build_synthetic_text_qa(vqa, seed=seed, image_size=EASY_VQA_IMAGE_SIZE)
