"""Text-encoder interface that turns label texts into F-label embeddings."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from emms_ref._validation import check_texts as validate_texts


class TextEncoder(abc.ABC):
    """Base class of the text encoders that produce F-labels.

    Subclasses implement :meth:`encode_batch`, and :meth:`encode` splits the
    input into batches of at most ``batch_size`` texts, checks each batch
    result and concatenates them.

    Parameters
    ----------
    name : str
        Stable identifier of the encoder, used as the key of
        :class:`~emms_ref.labels.cache.EmbeddingCache`. It must change whenever
        the weights or any setting that changes the embeddings change
        (for example ``max_length``), or cached vectors of another model are
        returned.
    dim : int
        Width of one embedding.
    batch_size : int, default 64
        Maximum number of texts passed to :meth:`encode_batch` at once.
    progress : bool, default False
        Show a tqdm progress bar over batches in :meth:`encode`.

    Attributes
    ----------
    name : str
        Cache key of the encoder.
    dim : int
        Width of one embedding.
    batch_size : int
        Maximum number of texts per batch.
    progress : bool
        Whether :meth:`encode` shows a progress bar.
    """

    def __init__(self, name: str, dim: int, *, batch_size: int = 64, progress: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.name = name
        self.dim = int(dim)
        self.batch_size = int(batch_size)
        self.progress = bool(progress)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, batch_size={self.batch_size})"

    @abc.abstractmethod
    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch of texts.

        Parameters
        ----------
        texts : list of str
            Between 1 and ``batch_size`` texts.

        Returns
        -------
        numpy.ndarray
            Array of shape ``(len(texts), dim)``. :meth:`encode` casts it to
            float32.
        """

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts into embeddings, one row per text.

        Parameters
        ----------
        texts : sequence of str
            Texts to encode. A bare ``str`` is rejected because iterating it
            would encode single characters.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``(len(texts), dim)``, rows in input order.
            An empty input gives shape ``(0, dim)``.

        Raises
        ------
        TypeError
            If ``texts`` is a string or contains a non-string.
        ValueError
            If :meth:`encode_batch` returns an array of the wrong shape.
        """
        text_list = validate_texts(texts)
        if not text_list:
            return np.zeros((0, self.dim), dtype=np.float32)

        starts = range(0, len(text_list), self.batch_size)
        batches = []
        for start in tqdm(starts, desc=f"encode {self.name}", unit="batch", disable=not self.progress):
            batch = text_list[start : start + self.batch_size]
            embeddings = np.asarray(self.encode_batch(batch), dtype=np.float32)
            if embeddings.shape != (len(batch), self.dim):
                raise ValueError(
                    f"{type(self).__name__}.encode_batch returned shape {embeddings.shape} for "
                    f"{len(batch)} texts, expected {(len(batch), self.dim)}"
                )
            batches.append(embeddings)
        return np.concatenate(batches, axis=0)


@contextlib.contextmanager
def inference_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run the block with ``module`` in eval mode and gradients off, then restore ``module.training``.

    The restored mode applies to all submodules, as ``module.train(mode)`` does.

    Eval mode turns off dropout, so embeddings are deterministic even if the
    caller left the model in training mode.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def module_device(module: torch.nn.Module) -> torch.device:
    """Return the device of the first parameter of ``module``, or CPU if it has none."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")
