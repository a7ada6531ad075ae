"""Tests of class-name texts and class-name F-labels with fake encoders."""

import numpy as np
import pytest

from emms_ref.labels import (
    EmbeddingCache,
    TextEncoder,
    class_flabels,
    class_name_texts,
    encode_class_names,
    flabels_for_encoders,
)


class LookupEncoder(TextEncoder):
    """Fake encoder that returns fixed vectors from a text-to-vector table and records its inputs."""

    def __init__(self, table, name="lookup"):
        dim = len(next(iter(table.values())))
        super().__init__(name, dim)
        self.table = table
        self.encoded_texts = []

    def encode_batch(self, texts):
        self.encoded_texts.extend(texts)
        return np.asarray([self.table[text] for text in texts])


class LengthEncoder(TextEncoder):
    """Fake encoder of any text: every coordinate is the text length times (1, 2, ..., dim)."""

    def __init__(self, dim, name=None):
        super().__init__(name or f"length-{dim}", dim)

    def encode_batch(self, texts):
        return np.outer([len(text) for text in texts], np.arange(1, self.dim + 1))


CLASS_NAMES = ["apple_pie", "dog", "hot_dog"]
TABLE = {"apple pie": [1.0, 0.0], "dog": [0.0, 1.0], "hot dog": [1.0, 1.0]}


def test_texts_replace_underscores():
    assert class_name_texts(["apple_pie", "dog"]) == ["apple pie", "dog"]


def test_texts_with_templates_grouped_by_class():
    texts = class_name_texts(["apple_pie", "dog"], ["a photo of a {}.", "{} food"])

    assert texts == ["a photo of a apple pie.", "apple pie food", "a photo of a dog.", "dog food"]


def test_texts_template_with_literal_braces():
    assert class_name_texts(["dog"], ["{{{}}}"]) == ["{dog}"]


@pytest.mark.parametrize(
    ("class_names", "templates", "error", "message"),
    [
        ("dog", None, TypeError, "wrap it in a list"),
        (["dog", 1], None, TypeError, r"class_names\[1\]"),
        ([], None, ValueError, "class_names is empty"),
        (["dog"], "a {}", TypeError, "templates"),
        (["dog"], [], ValueError, "templates is empty"),
        (["dog"], ["a photo"], ValueError, "no {} placeholder"),
        (["dog"], ["{} and {}"], ValueError, "single {} placeholder"),
        (["dog"], ["{name}"], ValueError, "single {} placeholder"),
    ],
)
def test_texts_reject_invalid_input(class_names, templates, error, message):
    with pytest.raises(error, match=message):
        class_name_texts(class_names, templates)


def test_flabels_gather_rows_by_label():
    labels = np.array([2, 0, 0, 1])

    flabels = class_flabels(labels, CLASS_NAMES, LookupEncoder(TABLE))

    assert flabels.dtype == np.float32
    np.testing.assert_array_equal(flabels, [[1, 1], [1, 0], [1, 0], [0, 1]])


def test_flabels_encode_each_class_once():
    encoder = LookupEncoder(TABLE)

    class_flabels([0, 0, 1, 1, 2, 2, 0], CLASS_NAMES, encoder)

    assert encoder.encoded_texts == ["apple pie", "dog", "hot dog"]


def test_flabels_average_templates():
    table = {"a dog": [2.0, 0.0], "the dog": [0.0, 4.0], "a cat": [1.0, 1.0], "the cat": [3.0, 3.0]}

    flabels = class_flabels([1, 0], ["cat", "dog"], LookupEncoder(table), templates=["a {}", "the {}"])

    np.testing.assert_array_equal(flabels, [[1.0, 2.0], [2.0, 2.0]])


def test_encode_class_names_shape():
    embeddings = encode_class_names(CLASS_NAMES, LengthEncoder(4), templates=["a {}", "the {}"])

    assert embeddings.shape == (3, 4)
    # "apple pie": mean length of "a apple pie" (11) and "the apple pie" (13) is 12.
    np.testing.assert_array_equal(embeddings[0], [12.0, 24.0, 36.0, 48.0])


def test_flabels_accept_list_and_keep_labels():
    labels = np.array([1, 2], dtype=np.int32)

    flabels = class_flabels(labels, CLASS_NAMES, LookupEncoder(TABLE))
    flabels[:] = 0

    np.testing.assert_array_equal(labels, [1, 2])
    np.testing.assert_array_equal(class_flabels([1, 2], CLASS_NAMES, LookupEncoder(TABLE)), [[0, 1], [1, 1]])


def test_flabels_empty_labels():
    flabels = class_flabels([], CLASS_NAMES, LookupEncoder(TABLE))

    assert flabels.shape == (0, 2)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 3]), r"0\.\.2.*got \[3\]"),
        (np.array([-1, 0]), r"got \[-1\]"),
        (np.array([0.0, 1.0]), "integer dtype.*astype"),
        (np.array([True, False]), "integer dtype"),
        (np.array(["dog"]), "integer dtype"),
        (np.zeros((2, 3), dtype=int), "argmax"),
        (np.zeros((2, 1), dtype=int), r"shape \(N,\)"),
        (np.int64(1), r"shape \(N,\)"),
    ],
)
def test_flabels_reject_invalid_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        class_flabels(labels, CLASS_NAMES, LookupEncoder(TABLE))


def test_flabels_error_lists_few_values():
    with pytest.raises(ValueError, match=r"\[3, 4, 5, 6, 7\] and 5 more"):
        class_flabels(np.arange(13), CLASS_NAMES, LookupEncoder(TABLE))


def test_flabels_reject_bare_string_class_names():
    with pytest.raises(TypeError, match="class_names"):
        class_flabels([0], "dog", LookupEncoder(TABLE))


def test_flabels_use_cache(tmp_path):
    cache = EmbeddingCache(tmp_path)
    encoder = LookupEncoder(TABLE)

    first = class_flabels([0, 1], CLASS_NAMES, encoder, cache=cache)
    encoder.encoded_texts.clear()
    second = class_flabels([0, 1], CLASS_NAMES, encoder, cache=cache)

    assert encoder.encoded_texts == []
    np.testing.assert_array_equal(first, second)


def test_flabels_for_encoders_widths_differ():
    labels = [0, 2, 1, 1, 0]
    encoders = [LengthEncoder(2), LengthEncoder(5)]

    flabels = flabels_for_encoders(labels, CLASS_NAMES, encoders)

    assert [array.shape for array in flabels] == [(5, 2), (5, 5)]
    for array, encoder in zip(flabels, encoders):
        np.testing.assert_array_equal(array, class_flabels(labels, CLASS_NAMES, encoder))


def test_flabels_for_encoders_rejects_empty_list():
    with pytest.raises(ValueError, match="encoders is empty"):
        flabels_for_encoders([0], CLASS_NAMES, [])
