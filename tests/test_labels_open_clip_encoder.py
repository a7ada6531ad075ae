"""Tests of OpenCLIPTextEncoder and load_clip_text on a tiny random open_clip CLIP.

The tokenizer is open_clip's BPE tokenizer, which ships inside the package.
Nothing is downloaded.
"""

import numpy as np
import open_clip
import pytest
import torch

from emms_ref.labels import OpenCLIPTextEncoder, load_clip_text

TINY_TEXT_CFG = {"context_length": 16, "width": 32, "heads": 2, "layers": 1}
EMBED_DIM = 12
SHORT_TEXT = "a photo of a dog"
LONG_TEXT = "the quick brown fox jumps over the lazy dog again and again"
TEXTS = [SHORT_TEXT, "cat", "apple pie", LONG_TEXT]


@pytest.fixture(scope="module")
def clip_encoder():
    return OpenCLIPTextEncoder.from_config(TINY_TEXT_CFG, "tiny-clip", embed_dim=EMBED_DIM)


def test_encode_shape_and_dtype(clip_encoder):
    embeddings = clip_encoder.encode(TEXTS)

    assert clip_encoder.dim == EMBED_DIM
    assert embeddings.shape == (len(TEXTS), EMBED_DIM)
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()


def test_encode_equals_unnormalised_encode_text(clip_encoder):
    tokens = clip_encoder.tokenizer(TEXTS)
    with torch.no_grad():
        expected = clip_encoder.model.encode_text(tokens).numpy()

    embeddings = clip_encoder.encode(TEXTS)

    np.testing.assert_allclose(embeddings, expected, atol=1e-6, rtol=0)
    norms = np.linalg.norm(embeddings, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)


def test_encode_independent_of_batch(clip_encoder):
    alone = clip_encoder.encode([SHORT_TEXT])[0]
    with_long_text = clip_encoder.encode([SHORT_TEXT, LONG_TEXT])[0]

    np.testing.assert_allclose(alone, with_long_text, atol=1e-5, rtol=0)


def test_encode_deterministic_in_train_mode(clip_encoder):
    clip_encoder.model.train()
    try:
        first = clip_encoder.encode(TEXTS)
        second = clip_encoder.encode(TEXTS)
        np.testing.assert_array_equal(first, second)
        assert clip_encoder.model.training
    finally:
        clip_encoder.model.eval()


def test_from_config_same_seed_same_weights():
    first = OpenCLIPTextEncoder.from_config(TINY_TEXT_CFG, "a", embed_dim=EMBED_DIM, seed=1)
    second = OpenCLIPTextEncoder.from_config(TINY_TEXT_CFG, "b", embed_dim=EMBED_DIM, seed=1)
    other_seed = OpenCLIPTextEncoder.from_config(TINY_TEXT_CFG, "c", embed_dim=EMBED_DIM, seed=2)

    np.testing.assert_array_equal(first.encode(["cat"]), second.encode(["cat"]))
    assert not np.allclose(first.encode(["cat"]), other_seed.encode(["cat"]))


def test_text_cfg_downloads_nothing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("open_clip loader called for an architecture-only model")

    monkeypatch.setattr(open_clip, "create_model", fail)
    monkeypatch.setattr(open_clip, "get_tokenizer", fail)

    encoder = load_clip_text(text_cfg=TINY_TEXT_CFG, embed_dim=EMBED_DIM)
    wider = load_clip_text(text_cfg=TINY_TEXT_CFG, embed_dim=EMBED_DIM + 1)

    assert encoder.name.startswith("ViT-g-14+random-init-")
    assert wider.name != encoder.name
    assert encoder.encode(TEXTS).shape == (len(TEXTS), EMBED_DIM)


def test_text_cfg_requires_embed_dim():
    with pytest.raises(ValueError, match="embed_dim"):
        load_clip_text(text_cfg=TINY_TEXT_CFG)


def test_loader_requests_published_weights(monkeypatch, clip_encoder):
    model_requests = []
    tokenizer_requests = []

    def fake_create_model(model_name, pretrained=None, **kwargs):
        model_requests.append((model_name, pretrained))
        return clip_encoder.model

    def fake_get_tokenizer(model_name, **kwargs):
        tokenizer_requests.append(model_name)
        return clip_encoder.tokenizer

    monkeypatch.setattr(open_clip, "create_model", fake_create_model)
    monkeypatch.setattr(open_clip, "get_tokenizer", fake_get_tokenizer)

    encoder = load_clip_text()

    assert model_requests == [("ViT-g-14", "laion2b_s12b_b42k")]
    assert tokenizer_requests == ["ViT-g-14"]
    assert encoder.name == "ViT-g-14/laion2b_s12b_b42k"
    np.testing.assert_array_equal(encoder.encode(TEXTS), clip_encoder.encode(TEXTS))


def test_rejects_model_with_wrong_output_shape():
    class FlatTextModel(torch.nn.Module):
        def encode_text(self, tokens):
            return torch.zeros(tokens.shape[0] * 3)

    with pytest.raises(ValueError, match="expected"):
        OpenCLIPTextEncoder(FlatTextModel(), open_clip.get_tokenizer("ViT-B-32"), "flat")
