"""Tests of the TextEncoder base class: batching, validation and output checks."""

import numpy as np
import pytest

from emms_ref.labels import TextEncoder


class RecordingEncoder(TextEncoder):
    """Encoder that maps a text to [len(text), batch number] and records its batches.

    ``drop_rows`` rows are dropped from each batch result, to test the shape check.
    """

    def __init__(self, *, batch_size=64, progress=False, drop_rows=0):
        super().__init__("recording", 2, batch_size=batch_size, progress=progress)
        self.batches = []
        self.drop_rows = drop_rows

    def encode_batch(self, texts):
        self.batches.append(list(texts))
        rows = [[float(len(text)), float(len(self.batches))] for text in texts]
        return np.asarray(rows[: len(rows) - self.drop_rows], dtype=np.float64)


def test_encode_splits_into_batches():
    encoder = RecordingEncoder(batch_size=2)

    encoder.encode(["a", "bb", "ccc", "dddd", "eeeee"])

    assert encoder.batches == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]


def test_encode_keeps_input_order_and_casts_float32():
    encoder = RecordingEncoder(batch_size=2)

    embeddings = encoder.encode(["a", "bb", "ccc"])

    assert embeddings.dtype == np.float32
    assert embeddings.shape == (3, 2)
    np.testing.assert_array_equal(embeddings[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(embeddings[:, 1], [1.0, 1.0, 2.0])


def test_encode_empty_input_returns_zero_rows():
    encoder = RecordingEncoder()

    embeddings = encoder.encode([])

    assert embeddings.shape == (0, 2)
    assert embeddings.dtype == np.float32
    assert encoder.batches == []


def test_encode_accepts_tuple_and_generator():
    encoder = RecordingEncoder()

    from_tuple = encoder.encode(("a", "bb"))
    from_generator = encoder.encode(text for text in ["a", "bb"])

    np.testing.assert_array_equal(from_tuple[:, 0], from_generator[:, 0])


def test_encode_rejects_bare_string():
    with pytest.raises(TypeError, match="wrap it in a list"):
        RecordingEncoder().encode("cat")


def test_encode_rejects_non_string_item():
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        RecordingEncoder().encode(["cat", 3])


def test_encode_rejects_wrong_batch_shape():
    encoder = RecordingEncoder(drop_rows=1)

    with pytest.raises(ValueError, match="expected"):
        encoder.encode(["a", "bb"])


def test_progress_bar_off_by_default(capsys):
    RecordingEncoder(batch_size=1).encode(["a", "b"])

    assert "encode recording" not in capsys.readouterr().err


def test_progress_bar_when_enabled(capsys):
    RecordingEncoder(batch_size=1, progress=True).encode(["a", "b"])

    assert "encode recording" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "dim", "batch_size"),
    [("", 2, 1), ("x", 0, 1), ("x", 2, 0), ("x", True, 1), ("x", 2, 1.5)],
)
def test_constructor_rejects_invalid_settings(name, dim, batch_size):
    class Minimal(TextEncoder):
        def encode_batch(self, texts):
            return np.zeros((len(texts), self.dim))

    with pytest.raises(ValueError):
        Minimal(name, dim, batch_size=batch_size)


def test_subclass_without_encode_batch_cannot_be_created():
    class Incomplete(TextEncoder):
        pass

    with pytest.raises(TypeError):
        Incomplete("x", 2)
