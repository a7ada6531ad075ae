"""Text encoder around a Hugging Face ``transformers`` model."""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch

from emms_ref.labels.encoders import TextEncoder, inference_mode, module_device
from emms_ref.labels.pooling import masked_mean_pool

logger = logging.getLogger(__name__)

# Tokenizers without a known limit report this huge model_max_length
# (transformers.tokenization_utils_base.VERY_LARGE_INTEGER is about 1e30).
_UNSET_MAX_LENGTH_THRESHOLD = 10**9


class HFTextEncoder(TextEncoder):
    """Text encoder that mean-pools the last hidden state of a ``transformers`` model.

    Each text becomes the mean of the last hidden state over its real tokens
    (:func:`~emms_ref.labels.masked_mean_pool`), so an embedding does
    not depend on the other texts in its batch. The official EMMS code
    (github.com/OpenGVLab/Multitask-Model-Selector, ``Label_embedding/bert.py``
    and ``gpt2.py``) builds BERT and GPT-2 F-labels the same way, except that
    its ``last_hidden_state.mean(dim=1)`` also averages padding positions.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Base model whose output has ``last_hidden_state``, for example the
        result of ``AutoModel.from_pretrained``. Models with a head (such as
        ``GPT2LMHeadModel``) return logits instead and are rejected at the
        first :meth:`~emms_ref.labels.TextEncoder.encode`.
    tokenizer : transformers.PreTrainedTokenizerBase
        Tokenizer of ``model``. The encoder works on a deep copy, so the
        caller's tokenizer is never changed. If the tokenizer has no pad token
        (GPT-2), the copy uses the EOS token for padding.
    name : str
        Cache key, see :class:`~emms_ref.labels.encoders.TextEncoder`.
    batch_size : int, default 64
        Maximum number of texts per forward pass.
    max_length : int, optional
        Maximum number of tokens per text, longer texts are truncated. The
        default is the smaller of the tokenizer's ``model_max_length`` and the
        model's ``max_position_embeddings``, whichever are set.
    device : str or torch.device, optional
        Device to move ``model`` to (in place). By default the model stays on
        the device it is on.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Attributes
    ----------
    model, tokenizer, device, max_length
        The wrapped model, the private tokenizer copy, the device that inputs
        are sent to and the truncation length in tokens.

    Notes
    -----
    ``model`` runs in eval mode under ``torch.no_grad()``, and its previous
    train/eval mode is restored after each batch. The tokenizer copy pads on
    the right, because BERT and GPT-2 number positions from the first token,
    so left padding would shift the position embeddings of short texts.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> None:
        dim = getattr(model.config, "hidden_size", None)
        if dim is None:
            raise ValueError(
                f"model.config of {type(model).__name__} has no hidden_size; "
                "wrap a transformers base model such as BertModel or GPT2Model"
            )
        super().__init__(name, dim, batch_size=batch_size, progress=progress)

        self.tokenizer = _prepare_tokenizer(tokenizer)
        self.max_length = _resolve_max_length(max_length, self.tokenizer, model.config)
        if device is not None:
            model.to(device)
            self.device = torch.device(device)
        else:
            self.device = module_device(model)
        self.model = model

    @classmethod
    def from_config(
        cls,
        config: Any,
        tokenizer: Any,
        name: str,
        *,
        seed: int | None = 0,
        batch_size: int = 64,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> HFTextEncoder:
        """Build an encoder around a randomly initialised model, without any download.

        Parameters
        ----------
        config : transformers.PretrainedConfig
            Architecture, for example a small ``BertConfig`` or ``GPT2Config``.
            ``AutoModel.from_config`` picks the base model class.
        tokenizer : transformers.PreTrainedTokenizerBase
            Tokenizer whose vocabulary fits ``config.vocab_size``.
        name : str
            Cache key. Random weights differ between seeds, so give each seed
            its own name before caching.
        seed : int or None, default 0
            Seed of the CPU random generator during initialisation, so that the
            same config and seed give the same weights with the same library
            versions. The global generator state is restored afterwards.
            ``None`` draws from the global generator instead.
        batch_size, max_length, device, progress
            As in :class:`HFTextEncoder`.
        """
        from transformers import AutoModel

        # fork_rng restores the global CPU generator afterwards, so seeding
        # here does not change the caller's random stream.
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            model = AutoModel.from_config(config)
        # Eval mode from the start, so direct calls of encoder.model match encode.
        model.eval()
        return cls(model, tokenizer, name, batch_size=batch_size, max_length=max_length, device=device, progress=progress)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, see :meth:`TextEncoder.encode_batch`."""
        # Only input_ids and attention_mask go to the model, because GPT-2 adds
        # word embeddings of token_type_ids when they are passed, so BERT-style
        # tokenizers would otherwise change GPT-2 outputs.
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        input_ids = tokens["input_ids"].to(self.device)
        attention_mask = tokens["attention_mask"].to(self.device)

        empty = [texts[row] for row in (attention_mask.sum(dim=1) == 0).nonzero().flatten().tolist()]
        if empty:
            raise ValueError(
                f"texts {empty!r} produce no tokens with the tokenizer of encoder {self.name!r}; "
                "tokenizers without special tokens (GPT-2) need non-empty texts"
            )

        with inference_mode(self.model):
            output = self.model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = getattr(output, "last_hidden_state", None)
        if hidden is None:
            raise TypeError(
                f"{type(self.model).__name__} output has no last_hidden_state; "
                "pass the base model (transformers.AutoModel), not a model with a head"
            )
        return masked_mean_pool(hidden, attention_mask).float().cpu().numpy()


def _prepare_tokenizer(tokenizer: Any) -> Any:
    """Return a deep copy of ``tokenizer`` that pads on the right with a pad token set."""
    prepared = copy.deepcopy(tokenizer)
    prepared.padding_side = "right"
    if prepared.pad_token is None:
        if prepared.eos_token is None:
            raise ValueError(
                f"tokenizer {type(tokenizer).__name__} has neither a pad token nor an EOS token; "
                "set tokenizer.pad_token before creating the encoder"
            )
        # The padding id never reaches the pooled vector because the
        # attention mask excludes it, so any existing token is safe to reuse.
        prepared.pad_token = prepared.eos_token
        logger.debug("tokenizer %s has no pad token, padding with EOS %r", type(tokenizer).__name__, prepared.eos_token)
    return prepared


def _resolve_max_length(max_length: int | None, tokenizer: Any, config: Any) -> int | None:
    """Return the explicit ``max_length``, or the smallest limit that tokenizer and config set."""
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")
        return max_length

    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and tokenizer_limit < _UNSET_MAX_LENGTH_THRESHOLD:
        limits.append(tokenizer_limit)
    # GPT2Config maps max_position_embeddings to n_positions.
    position_limit = getattr(config, "max_position_embeddings", None)
    if isinstance(position_limit, int):
        limits.append(position_limit)
    return min(limits) if limits else None
