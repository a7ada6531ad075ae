"""Image preprocessing with torch only: validate, resize, normalise.

Every backbone in the model zoo takes float32 NCHW tensors that were resized
and normalised per channel. The functions here turn uint8 NHWC image arrays,
the layout of the CIFAR-10 files, into such tensors. They are written with
torch and NumPy so that code copied from here needs no torchvision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._validation import check_images as validate_images

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "bilinear_resize",
    "normalize",
    "preprocess_images",
    "to_float_nchw",
    "validate_images",
]

# Per-channel RGB statistics of ImageNet-1k, in [0, 1] units. The CIFAR-10
# ResNets of the zoo were trained with inputs normalised by these values.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_float_nchw(images: np.ndarray) -> torch.Tensor:
    """Convert uint8 NHWC images to a float32 NCHW tensor in [0, 1].

    Parameters
    ----------
    images : np.ndarray
        Shape (N, H, W, 3), dtype uint8.

    Returns
    -------
    torch.Tensor
        Shape (N, 3, H, W), dtype float32, values ``pixel / 255``. The tensor
        is a new copy, so writing to it leaves ``images`` unchanged.
    """
    validate_images(images)
    # np.asarray(..., dtype=float32) allocates a new array, so the caller's
    # buffer is never shared with the returned tensor.
    floats = np.asarray(images, dtype=np.float32) / 255.0
    return torch.from_numpy(floats).permute(0, 3, 1, 2).contiguous()


def _bilinear_weights(in_size: int, out_size: int) -> torch.Tensor:
    """Build the (out_size, in_size) matrix of 1-D linear interpolation.

    Output pixel ``i`` samples the input at ``(i + 0.5) * in_size / out_size - 0.5``
    (half-pixel centres), clamped to the valid range, and mixes its two
    neighbouring input pixels linearly. This is ``align_corners=False`` without
    antialiasing, the convention of ``torch.nn.functional.interpolate``.
    """
    scale = in_size / out_size
    positions = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5
    positions = positions.clamp(min=0.0, max=in_size - 1)

    lower = positions.floor().long()
    upper = (lower + 1).clamp(max=in_size - 1)
    upper_weight = positions - lower.to(torch.float64)

    weights = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    weights[rows, lower] += 1.0 - upper_weight
    weights[rows, upper] += upper_weight
    return weights.to(torch.float32)


def bilinear_resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch of images by bilinear interpolation.

    Bilinear interpolation is separable, so the resize is two matrix products:
    ``out = W_h @ x @ W_w^T`` per channel. The result matches
    ``torch.nn.functional.interpolate(x, size, mode="bilinear",
    align_corners=False, antialias=False)``. Downsampling by more than 2x
    therefore aliases, as it does there.

    Parameters
    ----------
    images : torch.Tensor
        Shape (N, C, H, W), floating dtype.
    size : int or tuple of int
        Output (height, width) in pixels; an int gives a square output.

    Returns
    -------
    torch.Tensor
        Shape (N, C, out_height, out_width), same dtype and device as ``images``.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            "images must be a floating-point tensor of shape (N, C, H, W), "
            f"got dtype {images.dtype} and shape {tuple(images.shape)}."
        )
    out_height, out_width = (size, size) if isinstance(size, int) else size
    if out_height < 1 or out_width < 1:
        raise ValueError(f"size must be positive, got {size}.")

    in_height, in_width = images.shape[-2:]
    if (in_height, in_width) == (out_height, out_width):
        return images.clone()

    height_weights = _bilinear_weights(in_height, out_height).to(images.device, images.dtype)
    width_weights = _bilinear_weights(in_width, out_width).to(images.device, images.dtype)
    return height_weights @ images @ width_weights.T


def normalize(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Normalise each channel: ``(x - mean[c]) / std[c]``.

    Parameters
    ----------
    images : torch.Tensor
        Shape (N, C, H, W), floating dtype, values in [0, 1].
    mean, std : sequence of float
        C values each, in the units of ``images`` ([0, 1]); ``std`` must be positive.

    Returns
    -------
    torch.Tensor
        A new tensor of the shape and dtype of ``images``.
    """
    channels = images.shape[1]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"mean and std need one value per channel ({channels}), "
            f"got {len(mean)} and {len(std)} values."
        )
    if min(std) <= 0:
        raise ValueError(f"std must be positive, got {tuple(std)}.")

    mean_tensor = torch.as_tensor(mean, dtype=images.dtype, device=images.device)
    std_tensor = torch.as_tensor(std, dtype=images.dtype, device=images.device)
    return (images - mean_tensor.view(1, -1, 1, 1)) / std_tensor.view(1, -1, 1, 1)


def preprocess_images(
    images: np.ndarray,
    *,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Turn uint8 images into the normalised input tensor of a backbone.

    The steps are: scale to [0, 1], resize bilinearly to
    ``resolution x resolution``, then normalise per channel.

    Parameters
    ----------
    images : np.ndarray
        Shape (N, H, W, 3), dtype uint8, RGB. Not modified.
    resolution : int
        Side of the square output in pixels.
    mean, std : sequence of float
        Three values each, in [0, 1] pixel units.

    Returns
    -------
    torch.Tensor
        Shape (N, 3, resolution, resolution), dtype float32, on the CPU.
    """
    if not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}.")

    batch = to_float_nchw(images)
    batch = bilinear_resize(batch, int(resolution))
    return normalize(batch, mean, std)
