"""Synthetic templated captions and the BLEU-4 caption metric.

No real caption data set installs offline, so the captioning chapter writes
its own captions from metadata. They are synthetic:

* :func:`easy_vqa_captions` describes the one shape of an easy-VQA image
  (shape, colour, size and position, all from :mod:`emms_ref.tasks.easy_vqa`)
  with five sentence templates;
* :func:`cifar10_captions` puts the class name of a CIFAR-10 image into five
  templates, so the captions of one class are identical across its images.

:func:`corpus_bleu` scores generated captions against reference captions with
BLEU-4 (Papineni et al., ACL 2002), the metric of the captioning ground truth.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CIFAR10_CAPTION_TEMPLATES",
    "EASY_VQA_CAPTION_TEMPLATES",
    "box_position",
    "box_size",
    "cifar10_captions",
    "corpus_bleu",
    "easy_vqa_captions",
    "tokenize_caption",
    "with_article",
]

# Fields: {color}, {shape}, {size} ("small", "medium-sized" or "large") and
# {position} (for example "top left" or "center").
EASY_VQA_CAPTION_TEMPLATES = (
    "a {color} {shape} in the {position} of the image",
    "a {size} {color} {shape} on a white background",
    "there is a {size} {shape} in the {position}",
    "the picture shows one {color} {shape}",
    "a {shape} colored {color} near the {position}",
)

# Fields: {name} (the class name) and {a_name} (the class name after "a" or "an").
CIFAR10_CAPTION_TEMPLATES = (
    "a photo of {a_name}",
    "a small blurry picture of {a_name}",
    "an image that shows {a_name}",
    "a low resolution photo of the {name}",
    "there is {a_name} in this picture",
)

# Box side (max of width and height, pixels of a 64 x 64 image) limits of the size words.
_SMALL_MAX_SIDE = 18
_LARGE_MIN_SIDE = 28
# Words are runs of Unicode letters and digits, joined by inner hyphens or apostrophes.
_TOKEN_PATTERN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")


def box_position(box, image_size: int = 64) -> str:
    """Name the cell of a 3 x 3 grid that contains the centre of ``box``.

    Parameters
    ----------
    box : sequence of 4 float
        ``[x_min, y_min, x_max, y_max]`` in pixels.
    image_size : int, default 64
        Side of the square image in pixels.

    Returns
    -------
    str
        "top left", "top", "top right", "left", "center", "right",
        "bottom left", "bottom" or "bottom right".
    """
    x_min, y_min, x_max, y_max = (float(value) for value in box)
    column = min(int(3 * (x_min + x_max) / 2 / image_size), 2)
    row = min(int(3 * (y_min + y_max) / 2 / image_size), 2)
    vertical = ("top", "", "bottom")[row]
    horizontal = ("left", "", "right")[column]
    return " ".join(word for word in (vertical, horizontal) if word) or "center"


def box_size(box) -> str:
    """Name the size of ``box``: "small" below 18 px, "large" from 28 px, else "medium-sized".

    The side is the larger of width and height. On the easy-VQA train split
    the sides range from 9 to 34 px, and the limits put 26 % of the shapes in
    "small", 42 % in "medium-sized" and 32 % in "large".
    """
    x_min, y_min, x_max, y_max = (float(value) for value in box)
    side = max(x_max - x_min, y_max - y_min)
    if side < _SMALL_MAX_SIDE:
        return "small"
    return "large" if side >= _LARGE_MIN_SIDE else "medium-sized"


def easy_vqa_captions(shapes: Sequence[str], colors: Sequence[str], boxes) -> list[list[str]]:
    """Write five synthetic captions for each easy-VQA image from its metadata.

    Parameters
    ----------
    shapes, colors : sequence of str
        Shape and colour of each image, as in :class:`emms_ref.tasks.easy_vqa.EasyVQA`.
    boxes : array_like, shape (N, 4)
        Bounding box of each shape, ``[x_min, y_min, x_max, y_max]`` in pixels.

    Returns
    -------
    list of list of str
        For each image, one caption per template of ``EASY_VQA_CAPTION_TEMPLATES``.

    Raises
    ------
    ValueError
        If the three inputs differ in length, ``boxes`` is not (N, 4), or a
        box is not finite or has its corners swapped.
    """
    box_array = np.asarray(boxes, dtype=float)
    if box_array.ndim != 2 or box_array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {box_array.shape}")
    if not np.isfinite(box_array).all():
        raise ValueError("boxes contain NaN or inf; every box needs finite [x_min, y_min, x_max, y_max] pixels")
    inverted = np.flatnonzero((box_array[:, 2] < box_array[:, 0]) | (box_array[:, 3] < box_array[:, 1]))
    if inverted.size:
        raise ValueError(
            f"boxes {inverted[:5].tolist()} have x_max < x_min or y_max < y_min; "
            "boxes are [x_min, y_min, x_max, y_max], not [x, y, width, height] or swapped corners"
        )
    if not len(shapes) == len(colors) == len(box_array):
        raise ValueError(
            f"shapes, colors and boxes must have one entry per image, got lengths "
            f"{len(shapes)}, {len(colors)} and {len(box_array)}"
        )

    captions = []
    for shape, color, box in zip(shapes, colors, box_array):
        fields = {"shape": shape, "color": color, "size": box_size(box), "position": box_position(box)}
        captions.append([template.format(**fields) for template in EASY_VQA_CAPTION_TEMPLATES])
    return captions


def cifar10_captions(labels, class_names: Sequence[str]) -> list[list[str]]:
    """Write five synthetic captions for each CIFAR-10 image from its class name.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Class index of each image.
    class_names : sequence of str
        Name of each class.

    Returns
    -------
    list of list of str
        For each image, its class name in every template of ``CIFAR10_CAPTION_TEMPLATES``.

    Raises
    ------
    ValueError
        If a label is not a valid index into ``class_names``, or a class name
        is not a non-empty str. An empty ``labels`` gives an empty list.
    """
    if isinstance(class_names, (str, bytes)):
        raise ValueError(f"class_names must be a sequence of class names, got a single str {class_names!r}")
    bad_names = [index for index, name in enumerate(class_names) if not isinstance(name, str) or not name]
    if bad_names:
        raise ValueError(f"class_names[{bad_names[0]}] must be a non-empty str, got {class_names[bad_names[0]]!r}")
    label_array = np.asarray(labels)
    if label_array.size == 0:
        return []
    if label_array.ndim != 1 or not np.issubdtype(label_array.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {label_array.shape} and dtype {label_array.dtype}")
    if label_array.size and (label_array.min() < 0 or label_array.max() >= len(class_names)):
        raise ValueError(
            f"labels must lie in [0, {len(class_names) - 1}] to index class_names, "
            f"got range [{label_array.min()}, {label_array.max()}]"
        )
    per_class = [
        [template.format(name=name, a_name=with_article(name)) for template in CIFAR10_CAPTION_TEMPLATES]
        for name in class_names
    ]
    return [list(per_class[label]) for label in label_array]


def with_article(noun: str) -> str:
    """Prefix ``noun`` with "an" when it starts with a vowel letter, else with "a" ("an airplane", "a bird").

    The rule looks at the spelling, not the sound, so it writes "an unicorn"
    and "a hour"; it is right for the ten CIFAR-10 class names.
    """
    if not noun:
        raise ValueError("noun is empty; pass the word that follows the article")
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def tokenize_caption(caption: str) -> list[str]:
    """Lower-case ``caption`` and split it into words, dropping punctuation.

    Words are runs of Unicode letters and digits ("café" stays one word).
    Hyphenated words and apostrophes stay inside one token ("medium-sized", "it's").
    """
    return _TOKEN_PATTERN.findall(caption.lower())


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], max_order: int = 4) -> float:
    """Compute corpus-level BLEU of generated captions, in [0, 1].

    BLEU (Papineni et al., ACL 2002) is the geometric mean of the modified
    n-gram precisions p_1 ... p_max_order, times the brevity penalty
    min(1, exp(1 - r / c)). Counts are summed over the corpus before dividing.
    An n-gram of a hypothesis counts at most as often as it occurs in any one
    of its references. c is the total hypothesis length, and r sums, per
    hypothesis, the reference length closest to the hypothesis length (the
    shorter one on ties). Texts are split with :func:`tokenize_caption`. No
    smoothing is applied, so BLEU is 0 when some order has no matching n-gram.

    Parameters
    ----------
    hypotheses : sequence of str
        One generated caption per image.
    references : sequence of sequence of str
        The reference captions of each image, at least one per image.
    max_order : int, default 4
        Largest n-gram order; 4 gives BLEU-4.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the inputs differ in length, are empty, an image has no reference,
        or ``max_order`` is not a positive integer.
    """
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ValueError("hypotheses must be a sequence of captions and references a sequence of caption lists, not a str")
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have the same length, got {len(hypotheses)} and {len(references)}")
    if not hypotheses:
        raise ValueError("hypotheses is empty; pass at least one generated caption")
    if isinstance(max_order, bool) or not isinstance(max_order, numbers.Integral) or max_order < 1:
        raise ValueError(f"max_order must be a positive integer, got {max_order!r}")

    matches = [0] * max_order
    totals = [0] * max_order
    hypothesis_length = 0
    reference_length = 0
    for index, (hypothesis, image_references) in enumerate(zip(hypotheses, references)):
        if isinstance(image_references, str) or not image_references:
            raise ValueError(f"references[{index}] must be a non-empty list of captions, got {image_references!r}")
        if not isinstance(hypothesis, str):
            raise ValueError(f"hypotheses[{index}] must be a str, got {type(hypothesis).__name__}: {hypothesis!r}")
        bad_reference = next((reference for reference in image_references if not isinstance(reference, str)), None)
        if bad_reference is not None:
            raise ValueError(f"references[{index}] must contain only str captions, got {bad_reference!r}")
        tokens = tokenize_caption(hypothesis)
        reference_tokens = [tokenize_caption(reference) for reference in image_references]
        hypothesis_length += len(tokens)
        reference_length += min((abs(len(ref) - len(tokens)), len(ref)) for ref in reference_tokens)[1]
        for order in range(1, max_order + 1):
            counts = _ngram_counts(tokens, order)
            max_reference_counts: Counter = Counter()
            for ref in reference_tokens:
                max_reference_counts |= _ngram_counts(ref, order)
            matches[order - 1] += sum(min(count, max_reference_counts[gram]) for gram, count in counts.items())
            totals[order - 1] += max(len(tokens) - order + 1, 0)

    if hypothesis_length == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(match / total) for match, total in zip(matches, totals)) / max_order
    brevity_penalty = min(1.0, math.exp(1.0 - reference_length / hypothesis_length))
    return brevity_penalty * math.exp(log_precision)


def _ngram_counts(tokens: list[str], order: int) -> Counter:
    return Counter(tuple(tokens[start : start + order]) for start in range(len(tokens) - order + 1))
