"""On-disk cache of text embeddings, keyed by encoder name and text."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emms_ref.labels.encoders import TextEncoder, validate_texts

logger = logging.getLogger(__name__)


class EmbeddingCache:
    """Directory of ``.npy`` files, one float32 vector per (encoder name, text) pair.

    The key is the SHA-256 of the JSON list ``[encoder_name, text]``, so
    different encoder names never share an entry. The file of key ``k`` is
    ``directory / k[:2] / f"{k}.npy"``, and each file is written to a temporary
    name first and then renamed, so a reader never sees a partly written
    file.

    Parameters
    ----------
    directory : str or os.PathLike
        Cache folder, created with its parents if missing.

    Attributes
    ----------
    directory : pathlib.Path
        The cache folder.

    Notes
    -----
    The cache trusts the encoder name: two models with the same name share
    entries. :func:`encode_cached` rejects a cached vector whose width does not
    match the encoder, but cannot detect equal widths.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r})"

    @staticmethod
    def key(encoder_name: str, text: str) -> str:
        """Return the hex SHA-256 key of one (encoder name, text) pair."""
        payload = json.dumps([encoder_name, text], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def path(self, encoder_name: str, text: str) -> Path:
        """Return the file that stores the embedding of ``text`` under ``encoder_name``."""
        key = self.key(encoder_name, text)
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, encoder_name: str, text: str) -> np.ndarray | None:
        """Load the cached embedding, or return None if it is missing or unreadable.

        Returns
        -------
        numpy.ndarray or None
            1-D float32 array. An unreadable file is logged as a warning and
            treated as missing, so the next :meth:`put` overwrites it.
        """
        path = self.path(encoder_name, text)
        if not path.is_file():
            return None
        try:
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
        except (OSError, ValueError) as error:
            logger.warning("ignoring unreadable cache file %s for encoder %r: %s", path, encoder_name, error)
            return None

    def put(self, encoder_name: str, text: str, embedding: np.ndarray) -> None:
        """Store one embedding as a 1-D float32 array, replacing any previous entry.

        Raises
        ------
        ValueError
            If ``embedding`` is not 1-D.
        """
        vector = np.asarray(embedding, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"embedding must be 1-D, got shape {vector.shape}")

        path = self.path(encoder_name, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(file_descriptor, "wb") as file:
                np.save(file, vector, allow_pickle=False)
            os.replace(temporary_name, path)
        except BaseException:
            Path(temporary_name).unlink(missing_ok=True)
            raise


def encode_cached(encoder: TextEncoder, texts: Sequence[str], cache: EmbeddingCache | None) -> np.ndarray:
    """Encode texts, reading and filling ``cache`` so that cached texts are not encoded again.

    Only texts missing from the cache are passed to ``encoder.encode``, in
    one call, and each distinct missing text only once.

    Parameters
    ----------
    encoder : TextEncoder
        Encoder whose ``name`` is the cache key.
    texts : sequence of str
        Texts to encode.
    cache : EmbeddingCache or None
        Cache to use. ``None`` calls ``encoder.encode(texts)`` directly.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(len(texts), encoder.dim)``, rows in input
        order.

    Raises
    ------
    ValueError
        If a cached vector's shape is not ``(encoder.dim,)``, which means that
        another model was cached under the same encoder name.
    """
    text_list = validate_texts(texts)
    if cache is None:
        return encoder.encode(text_list)

    embeddings = np.empty((len(text_list), encoder.dim), dtype=np.float32)
    missing_rows: dict[str, list[int]] = {}
    for row, text in enumerate(text_list):
        cached = cache.get(encoder.name, text)
        if cached is None:
            missing_rows.setdefault(text, []).append(row)
            continue
        if cached.shape != (encoder.dim,):
            raise ValueError(
                f"cached embedding of {text!r} for encoder {encoder.name!r} has shape {cached.shape}, "
                f"expected ({encoder.dim},); another model was cached under this name, so give each "
                f"model its own encoder name or delete {cache.path(encoder.name, text)}"
            )
        embeddings[row] = cached

    logger.debug(
        "encoder %r: %d of %d texts cached, encoding %d distinct texts",
        encoder.name,
        len(text_list) - sum(len(rows) for rows in missing_rows.values()),
        len(text_list),
        len(missing_rows),
    )
    if missing_rows:
        new_texts = list(missing_rows)
        new_embeddings = encoder.encode(new_texts)
        for text, vector in zip(new_texts, new_embeddings):
            cache.put(encoder.name, text, vector)
            embeddings[missing_rows[text]] = vector
    return embeddings
