"""Text encoder around the text tower of an ``open_clip`` CLIP model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from emms_ref.labels.encoders import TextEncoder, inference_mode, module_device

# Small vision tower for from_config. The CLIP constructor always builds both
# towers, but encode never runs this one. Width 64 with open_clip's default
# head_width of 64 gives one attention head.
_TINY_VISION_CFG = {"layers": 1, "width": 64, "patch_size": 16, "image_size": 32}


class OpenCLIPTextEncoder(TextEncoder):
    """Text encoder that returns the projected CLIP text features of an ``open_clip`` model.

    Each text becomes ``model.encode_text(tokens)``, the text-tower output
    after the final projection, without L2 normalisation. The official EMMS
    code (github.com/OpenGVLab/Multitask-Model-Selector,
    ``Label_embedding/clip.py``) uses the same unnormalised features through
    ``transformers.CLIPModel.get_text_features``.

    Parameters
    ----------
    model : open_clip.model.CLIP or open_clip.model.CustomTextCLIP
        Any model with ``encode_text(tokens) -> (batch, dim)``.
    tokenizer : callable
        Maps a list of texts to a ``torch.LongTensor`` of shape
        ``(batch, context_length)``, for example ``open_clip.get_tokenizer(...)``.
        open_clip tokenizers truncate texts to the context length.
    name : str
        Cache key, see :class:`~emms_ref.labels.encoders.TextEncoder`.
    batch_size : int, default 64
        Maximum number of texts per forward pass.
    device : str or torch.device, optional
        Device to move ``model`` to (in place). By default the model stays on
        the device it is on.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Attributes
    ----------
    model, tokenizer, device
        The wrapped model, its tokenizer and the device that tokens are sent to.

    Notes
    -----
    ``dim`` is measured at construction by encoding one short text, because
    the projection width is stored differently in ``CLIP``,
    ``CustomTextCLIP`` and ``CoCa``. ``model`` runs in eval mode under
    ``torch.no_grad()``, and its previous train/eval mode is restored after
    each batch.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Callable[[list[str]], torch.Tensor],
        name: str,
        *,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> None:
        if device is not None:
            model.to(device)
            device = torch.device(device)
        else:
            device = module_device(model)
        probe = _encode_text(model, tokenizer, ["a"], device)
        if probe.ndim != 2 or probe.shape[0] != 1:
            raise ValueError(
                f"model.encode_text returned shape {tuple(probe.shape)} for one text, expected (1, dim)"
            )
        super().__init__(name, probe.shape[1], batch_size=batch_size, progress=progress)
        self.model = model
        self.tokenizer = tokenizer
        self.device = device

    @classmethod
    def from_config(
        cls,
        text_cfg: Mapping[str, Any],
        name: str,
        *,
        embed_dim: int,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        seed: int | None = 0,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> OpenCLIPTextEncoder:
        """Build an encoder around a randomly initialised ``open_clip.model.CLIP``, without any download.

        Parameters
        ----------
        text_cfg : mapping
            Fields of ``open_clip.model.CLIPTextCfg``, for example
            ``{"context_length": 16, "width": 32, "heads": 2, "layers": 1}``.
            The default vocabulary size (49408) matches open_clip's BPE
            tokenizer.
        name : str
            Cache key. Random weights differ between seeds, so give each seed
            its own name before caching.
        embed_dim : int
            Width of the projected text features, which becomes ``dim``.
        tokenizer : callable, optional
            Defaults to open_clip's BPE tokenizer, which ships inside the
            package, with ``text_cfg["context_length"]`` (77 if absent).
        seed : int or None, default 0
            Seed of the CPU random generator during initialisation, so that the
            same config and seed give the same weights with the same library
            versions. The global generator state is restored afterwards.
            ``None`` draws from the global generator instead.
        batch_size, device, progress
            As in :class:`OpenCLIPTextEncoder`.
        """
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
        from open_clip.tokenizer import SimpleTokenizer

        text_config = CLIPTextCfg(**text_cfg)
        if tokenizer is None:
            tokenizer = SimpleTokenizer(context_length=text_config.context_length)
        # fork_rng restores the global CPU generator afterwards, so seeding
        # here does not change the caller's random stream.
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            model = CLIP(embed_dim=embed_dim, vision_cfg=CLIPVisionCfg(**_TINY_VISION_CFG), text_cfg=text_config)
        # Eval mode from the start, so direct calls of encoder.model match encode.
        model.eval()
        return cls(model, tokenizer, name, batch_size=batch_size, device=device, progress=progress)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, see :meth:`TextEncoder.encode_batch`."""
        return _encode_text(self.model, self.tokenizer, texts, self.device).float().cpu().numpy()


def _encode_text(model: Any, tokenizer: Callable[[list[str]], torch.Tensor], texts: list[str], device: torch.device) -> torch.Tensor:
    """Return ``model.encode_text`` of the tokenized texts, without normalisation."""
    tokens = tokenizer(texts).to(device)
    with inference_mode(model):
        return model.encode_text(tokens)
