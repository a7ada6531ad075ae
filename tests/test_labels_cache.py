"""Tests of EmbeddingCache and encode_cached with a counting fake encoder."""

import numpy as np
import pytest

from emms_ref.labels import EmbeddingCache, TextEncoder, encode_cached


class CountingEncoder(TextEncoder):
    """Deterministic fake encoder that records every text it encodes.

    The embedding of a text is [len(text), sum of its code points, offset], so
    encoders with different offsets give different vectors for the same text.
    """

    def __init__(self, name="counting", *, offset=0.0, dim=3):
        super().__init__(name, dim)
        self.offset = offset
        self.encoded_texts = []

    def encode_batch(self, texts):
        self.encoded_texts.extend(texts)
        rows = [[float(len(text)), float(sum(map(ord, text))), self.offset] for text in texts]
        return np.asarray(rows)[:, : self.dim]


@pytest.fixture
def cache(tmp_path):
    return EmbeddingCache(tmp_path / "embeddings")


def test_cache_put_get_roundtrip(cache):
    cache.put("encoder", "cat", np.array([1.0, 2.0], dtype=np.float64))

    stored = cache.get("encoder", "cat")

    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, [1.0, 2.0])


def test_cache_missing_entry_returns_none(cache):
    assert cache.get("encoder", "cat") is None


def test_cache_creates_directory(tmp_path):
    directory = tmp_path / "a" / "b"

    EmbeddingCache(directory)

    assert directory.is_dir()


def test_cache_rejects_non_vector(cache):
    with pytest.raises(ValueError, match="1-D"):
        cache.put("encoder", "cat", np.zeros((1, 2)))


def test_cache_key_separates_encoder_and_text(cache):
    # A plain concatenation would map both pairs to "ab" + "c".
    assert cache.key("ab", "c") != cache.key("a", "bc")
    assert cache.key("a", "b") == cache.key("a", "b")


def test_cache_unreadable_file_is_a_miss(cache, caplog):
    path = cache.path("encoder", "cat")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npy file")

    assert cache.get("encoder", "cat") is None
    assert "unreadable cache file" in caplog.text


def test_cache_put_leaves_no_temporary_files(cache):
    cache.put("encoder", "cat", np.ones(2))

    files = [path for path in cache.directory.rglob("*") if path.is_file()]

    assert files == [cache.path("encoder", "cat")]


def test_encode_cached_second_call_skips_encoder(cache):
    encoder = CountingEncoder()
    texts = ["cat", "dog", "apple pie"]

    first = encode_cached(encoder, texts, cache)
    calls_after_first = list(encoder.encoded_texts)
    second = encode_cached(encoder, texts, cache)

    assert calls_after_first == texts
    assert encoder.encoded_texts == texts
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, encoder.encode(texts))


def test_encode_cached_encodes_only_missing_texts(cache):
    encoder = CountingEncoder()
    encode_cached(encoder, ["cat", "dog"], cache)
    encoder.encoded_texts.clear()

    embeddings = encode_cached(encoder, ["dog", "bird", "cat"], cache)

    assert encoder.encoded_texts == ["bird"]
    np.testing.assert_array_equal(embeddings, CountingEncoder().encode(["dog", "bird", "cat"]))


def test_encode_cached_encodes_duplicates_once(cache):
    encoder = CountingEncoder()

    embeddings = encode_cached(encoder, ["cat", "dog", "cat"], cache)

    assert encoder.encoded_texts == ["cat", "dog"]
    np.testing.assert_array_equal(embeddings[0], embeddings[2])


def test_encode_cached_names_do_not_collide(cache):
    first = CountingEncoder("first", offset=1.0)
    second = CountingEncoder("second", offset=2.0)

    from_first = encode_cached(first, ["cat"], cache)
    from_second = encode_cached(second, ["cat"], cache)

    assert second.encoded_texts == ["cat"]
    assert from_first[0, 2] == 1.0
    assert from_second[0, 2] == 2.0


def test_encode_cached_rejects_width_mismatch(cache):
    encode_cached(CountingEncoder("shared", dim=3), ["cat"], cache)

    with pytest.raises(ValueError, match="another model was cached under this name"):
        encode_cached(CountingEncoder("shared", dim=2), ["cat"], cache)


def test_encode_cached_without_cache_calls_encoder(cache):
    encoder = CountingEncoder()

    embeddings = encode_cached(encoder, ["cat"], None)

    assert encoder.encoded_texts == ["cat"]
    assert embeddings.shape == (1, 3)


def test_encode_cached_empty_input(cache):
    encoder = CountingEncoder()

    embeddings = encode_cached(encoder, [], cache)

    assert embeddings.shape == (0, 3)
    assert embeddings.dtype == np.float32
    assert encoder.encoded_texts == []


def test_encode_cached_does_not_modify_texts(cache):
    texts = ["cat", "dog"]

    encode_cached(CountingEncoder(), texts, cache)

    assert texts == ["cat", "dog"]
