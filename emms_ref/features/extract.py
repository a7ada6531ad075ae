"""Batched feature extraction with an on-disk cache that detects stale files.

:func:`extract_features` preprocesses uint8 images batch by batch, runs a
feature module in eval mode without gradients, and returns a float32 matrix
with one row per image. With ``cache_path`` it stores the matrix in an
``.npz`` file together with a fingerprint of everything that determines the
result: the model's architecture and weights, the preprocessing, and the
exact image bytes. A later call reuses the file only if the fingerprint
matches, and otherwise recomputes and overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .preprocess import preprocess_images, validate_images

__all__ = [
    "extract_features",
    "feature_fingerprint",
    "model_fingerprint",
]

logger = logging.getLogger(__name__)

# Bump when the cache layout or the meaning of a cached matrix changes, so
# files written by older code are recomputed.
_CACHE_FORMAT_VERSION = 1


def model_fingerprint(model: nn.Module) -> str:
    """Return a SHA-256 hex digest of a module's structure and state.

    The digest covers ``repr(model)``, which lists the submodules and their
    settings (for example ``num_blocks`` of a truncated extractor), and every
    entry of ``model.state_dict()``: name, dtype, shape and bytes. Two modules
    get the same digest only if they compute the same function, barring hash
    collisions and code changes inside ``forward`` that ``repr`` does not show.
    """
    digest = hashlib.sha256()
    digest.update(type(model).__qualname__.encode())
    digest.update(repr(model).encode())
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}|{array.dtype}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def feature_fingerprint(
    model: nn.Module,
    images: np.ndarray,
    *,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    model_name: str | None = None,
) -> dict:
    """Describe the inputs that determine the features of ``images``.

    Returns
    -------
    dict
        JSON-serialisable: cache format version, model name, model digest
        (:func:`model_fingerprint`), resolution in pixels, mean, std, image
        array shape and SHA-256 of the image bytes.
    """
    validate_images(images)
    image_digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
    return {
        "format_version": _CACHE_FORMAT_VERSION,
        "model_name": model_name if model_name is not None else type(model).__qualname__,
        "model_sha256": model_fingerprint(model),
        "resolution": int(resolution),
        "mean": [float(value) for value in mean],
        "std": [float(value) for value in std],
        "images_shape": list(images.shape),
        "images_sha256": image_digest,
    }


def _read_cache(path: Path, fingerprint: dict) -> np.ndarray | None:
    """Return the cached features, or None if the file is missing, unreadable or stale."""
    if not path.is_file():
        logger.info("feature cache miss: %s does not exist", path)
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            stored = json.loads(str(archive["fingerprint"]))
            features = np.array(archive["features"], dtype=np.float32)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        logger.warning("feature cache %s is unreadable (%s); recomputing", path, error)
        return None

    if stored != fingerprint:
        changed = sorted(key for key in fingerprint.keys() | stored.keys() if stored.get(key) != fingerprint.get(key))
        logger.warning("feature cache %s is stale (changed: %s); recomputing", path, ", ".join(changed))
        return None
    if features.ndim != 2 or features.shape[0] != fingerprint["images_shape"][0]:
        logger.warning("feature cache %s has features of shape %s; recomputing", path, features.shape)
        return None

    logger.info("feature cache hit: %s", path)
    return features


def _write_cache(path: Path, features: np.ndarray, fingerprint: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file and rename it, so an interrupted run never
    # leaves a truncated cache file under the final name. Mode "xb" fails
    # rather than overwrite, and it honours the umask, unlike tempfile.mkstemp.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file:
            np.savez(file, features=features, fingerprint=np.array(json.dumps(fingerprint, sort_keys=True)))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def extract_features(
    model: nn.Module,
    images: np.ndarray,
    *,
    batch_size: int,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: str | torch.device | None = None,
    cache_path: str | os.PathLike | None = None,
    model_name: str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Compute pooled features of a batch of images with a frozen model.

    Each batch is scaled to [0, 1], resized bilinearly to ``resolution``,
    normalised with ``mean`` and ``std`` and passed through ``model`` in eval
    mode under ``torch.no_grad()``. Outputs of shape (B, D, H, W) are
    average-pooled over H and W.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a (B, 3, resolution, resolution) float32 tensor to (B, D)
        features or (B, D, H, W) feature maps. Its train/eval mode is restored
        on return.
    images : np.ndarray
        Shape (N, H, W, 3), dtype uint8, RGB. Not modified.
    batch_size : int
        Images per forward pass.
    resolution : int
        Side of the square network input in pixels.
    mean, std : sequence of float
        Per-channel normalisation in [0, 1] pixel units.
    device : str or torch.device, optional
        Where to run the model. The model is moved there in place. Defaults to
        the device of the model's parameters (the CPU if it has none).
    cache_path : path-like, optional
        An ``.npz`` file for the features. If it exists and its fingerprint
        (:func:`feature_fingerprint`) matches, the stored features are
        returned without running the model. Otherwise the features are
        computed and the file is written or overwritten.
    model_name : str, optional
        Label stored in the cache fingerprint and shown in the progress bar.
        Defaults to the model's class name.
    progress : bool
        Show a tqdm progress bar over batches.

    Returns
    -------
    np.ndarray
        Shape (N, D), dtype float32, row ``i`` the features of ``images[i]``.

    Raises
    ------
    TypeError, ValueError
        If ``images`` is not a uint8 array of shape (N, H, W, 3), if
        ``batch_size`` or ``resolution`` is not positive, or if the model
        output is neither 2-D nor 4-D.
    """
    validate_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}.")
    label = model_name if model_name is not None else type(model).__qualname__

    fingerprint = None
    if cache_path is not None:
        cache_path = Path(cache_path)
        fingerprint = feature_fingerprint(
            model, images, resolution=resolution, mean=mean, std=std, model_name=model_name
        )
        cached = _read_cache(cache_path, fingerprint)
        if cached is not None:
            return cached

    run_device = torch.device(device) if device is not None else _model_device(model)
    model.to(run_device)
    was_training = model.training
    model.eval()

    batches = []
    starts = range(0, images.shape[0], batch_size)
    try:
        with torch.no_grad():
            for start in tqdm(starts, desc=f"features {label}", unit="batch", disable=not progress):
                batch = preprocess_images(
                    images[start : start + batch_size], resolution=resolution, mean=mean, std=std
                )
                output = model(batch.to(run_device))
                if output.ndim == 4:
                    output = output.mean(dim=(2, 3))
                elif output.ndim != 2:
                    raise ValueError(
                        f"model output must have shape (B, D) or (B, D, H, W), got {tuple(output.shape)}."
                    )
                batches.append(output.float().cpu().numpy())
    finally:
        model.train(was_training)

    features = np.concatenate(batches, axis=0).astype(np.float32, copy=False)
    if cache_path is not None:
        _write_cache(cache_path, features, fingerprint)
        logger.info("wrote %s features of shape %s to %s", label, features.shape, cache_path)
    return features
