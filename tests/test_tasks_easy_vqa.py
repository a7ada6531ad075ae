"""Tests for the easy-VQA loader and the shape and colour labels it derives."""

import numpy as np
import pytest

from emms_ref.tasks.easy_vqa import (
    EASY_VQA_COLOR_RGB,
    EASY_VQA_COLORS,
    EASY_VQA_SHAPES,
    image_attributes,
    load_easy_vqa,
    measured_color,
    measured_shape,
)


@pytest.fixture(scope="module")
def test_split():
    return load_easy_vqa("test")


def reference_answer(question, shape, color):
    """Answer an easy-VQA question from the image's shape and colour, written independently of the loader."""
    text = question.rstrip("?")
    if text.startswith("what"):
        asks_color = "color" in text
        return color if asks_color else shape
    named_shape = next((word for word in EASY_VQA_SHAPES if word in text.split()), None)
    named_color = next((word for word in EASY_VQA_COLORS if word in text.split()), None)
    present = named_shape == shape if named_shape is not None else named_color == color
    negated = " not " in f" {text} " or " no " in f" {text} "
    return "yes" if present != negated else "no"


def test_split_sizes(test_split):
    assert test_split.images.shape == (1000, 64, 64, 3)
    assert test_split.images.dtype == np.uint8
    assert len(test_split.questions) == 9673
    assert len(test_split.answers) == 9673
    assert test_split.question_image.shape == (9673,)
    assert test_split.boxes.shape == (1000, 4)


def test_answer_vocabulary(test_split):
    assert test_split.answer_vocabulary == sorted([*EASY_VQA_SHAPES, *EASY_VQA_COLORS, "yes", "no"])
    assert set(test_split.answers) <= set(test_split.answer_vocabulary)


def test_answer_indices(test_split):
    indices = test_split.answer_indices()

    assert [test_split.answer_vocabulary[index] for index in indices[:50]] == test_split.answers[:50]


def test_labels_answer_every_question(test_split):
    # Every one of the 9,673 answers follows from the derived shape and colour.
    wrong = [
        (question, answer)
        for question, answer, index in zip(test_split.questions, test_split.answers, test_split.question_image)
        if reference_answer(question, test_split.shapes[index], test_split.colors[index]) != answer
    ]
    assert wrong == []


def test_labels_match_pixels(test_split):
    for image, shape, color, box in zip(test_split.images[:200], test_split.shapes, test_split.colors, test_split.boxes):
        assert measured_shape(image) == shape
        assert measured_color(image) == color
        rows, columns = np.nonzero(np.all(image == np.array(EASY_VQA_COLOR_RGB[color], dtype=np.uint8), axis=2))
        assert rows.size >= 10
        assert columns.min() >= box[0]
        assert columns.max() < box[2]
        assert rows.min() >= box[1]
        assert rows.max() < box[3]


def test_max_images_keeps_first_ids():
    subset = load_easy_vqa("train", max_images=20)
    full = load_easy_vqa("train")

    np.testing.assert_array_equal(subset.image_ids, full.image_ids[:20])
    np.testing.assert_array_equal(subset.images, full.images[:20])
    assert subset.shapes == full.shapes[:20]
    assert subset.question_image.max() == 19
    expected_questions = [q for q, i in zip(full.questions, full.question_image) if i < 20]
    assert subset.questions == expected_questions


def test_arrays_are_read_only(test_split):
    for array in (test_split.images, test_split.image_ids, test_split.boxes, test_split.question_image):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_lists_are_new_per_call():
    first = load_easy_vqa("test", max_images=5)
    first.shapes.append("hexagon")

    assert len(load_easy_vqa("test", max_images=5).shapes) == 5


@pytest.mark.parametrize(("kwargs", "message"), [({"split": "val"}, "split"), ({"max_images": 0}, "max_images")])
def test_load_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_easy_vqa(**kwargs)


def drawn_square(color=(0, 0, 255)):
    image = np.full((64, 64, 3), 240, dtype=np.uint8)
    image[10:30, 10:30] = color
    return image[None]


def test_image_attributes_from_questions():
    shapes, colors = image_attributes(
        drawn_square(), ["what shape is in the image?", "is there not a blue shape?"], ["rectangle", "no"], [0, 0]
    )

    assert (shapes, colors) == (["rectangle"], ["blue"])


def test_image_attributes_fills_gaps_from_pixels():
    shapes, colors = image_attributes(drawn_square(), ["is there a circle?"], ["no"], [0])

    assert (shapes, colors) == (["rectangle"], ["blue"])


@pytest.mark.parametrize(
    ("questions", "answers", "message"),
    [
        (["what shape is in the image?", "is there a circle?"], ["rectangle", "yes"], "contradictory"),
        (["what color is the shape?"], ["red"], "looks like a blue"),
        (["how many shapes are there?"], ["yes"], "unrecognised"),
    ],
)
def test_image_attributes_rejects_inconsistent_questions(questions, answers, message):
    with pytest.raises(ValueError, match=message):
        image_attributes(drawn_square(), questions, answers, [0] * len(questions))
