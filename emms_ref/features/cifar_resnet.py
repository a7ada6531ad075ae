"""CIFAR ResNets (He et al., CVPR 2016) and their CIFAR-10 checkpoints.

The network has depth ``6n + 2``: a 3x3 stem convolution with 16 channels,
three stages of ``n`` basic blocks with 16, 32 and 64 channels (the second
and third stage halve the spatial size), global average pooling and a linear
classifier. Where a block changes shape, its shortcut is "option A" of the
paper: subsample by stride 2 and pad the new channels with zeros, so the
shortcut has no parameters.

The checkpoints in ``data/cifar10_resnets/`` come from
github.com/akamaster/pytorch_resnet_cifar10 (BSD-2-Clause). They were trained
on CIFAR-10 with inputs normalised by the ImageNet mean and std, and that
repository reports a test error of 8.27, 7.37, 6.90 and 6.61 % for depth 20,
32, 44 and 56.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CIFAR_RESNET_DEPTHS",
    "CifarResNet",
    "cifar_resnet_checkpoint_path",
    "load_cifar_resnet",
]

CIFAR_RESNET_DEPTHS = (20, 32, 44, 56)

_CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "cifar10_resnets"
# File names carry the first 8 hex digits of the file's SHA-256, as published.
_CHECKPOINT_FILES = {
    20: "resnet20-12fca82f.th",
    32: "resnet32-d509ac18.th",
    44: "resnet44-014dd654.th",
    56: "resnet56-4bfd9763.th",
}


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a parameter-free shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.extra_channels == 0:
            return x
        subsampled = x[:, :, :: self.stride, :: self.stride]
        # The checkpoints were trained with the zero channels split evenly
        # before and after the input channels; another placement changes the sum.
        before = self.extra_channels // 2
        after = self.extra_channels - before
        return F.pad(subsampled, (0, 0, 0, 0, before, after))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32x32 images with depth ``6n + 2``.

    Parameters
    ----------
    depth : int
        Number of weighted layers, ``6n + 2`` for ``n >= 1`` (20, 32, 44, 56, ...).
    num_classes : int
        Output size of the linear classifier.

    Notes
    -----
    Parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``linear``)
    follow the akamaster checkpoints, so their state dicts load with
    ``strict=True`` once the ``module.`` prefix is removed.
    """

    feature_dim = 64

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, ...), got {depth}.")
        blocks_per_stage = (depth - 2) // 6
        self.depth = depth

        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_stage(16, 16, blocks_per_stage, stride=1)
        self.layer2 = self._make_stage(16, 32, blocks_per_stage, stride=2)
        self.layer3 = self._make_stage(32, 64, blocks_per_stage, stride=2)
        self.linear = nn.Linear(self.feature_dim, num_classes)

    @staticmethod
    def _make_stage(in_channels: int, out_channels: int, num_blocks: int, stride: int) -> nn.Sequential:
        blocks = [_BasicBlock(in_channels, out_channels, stride)]
        blocks += [_BasicBlock(out_channels, out_channels, 1) for _ in range(num_blocks - 1)]
        return nn.Sequential(*blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the pooled penultimate features.

        Parameters
        ----------
        x : torch.Tensor
            Shape (N, 3, H, W), float32, normalised with the ImageNet mean and std.

        Returns
        -------
        torch.Tensor
            Shape (N, 64), the global average of the last stage's output.
        """
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return out.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute class logits of shape (N, num_classes)."""
        return self.linear(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"depth={self.depth}"


def cifar_resnet_checkpoint_path(depth: int) -> Path:
    """Return the path of the CIFAR-10 checkpoint for ``depth`` in ``data/cifar10_resnets/``."""
    if depth not in _CHECKPOINT_FILES:
        raise ValueError(f"no CIFAR-10 checkpoint for depth {depth}; choose one of {CIFAR_RESNET_DEPTHS}.")
    return _CHECKPOINT_DIR / _CHECKPOINT_FILES[depth]


def load_cifar_resnet(depth: int, path: str | os.PathLike | None = None) -> CifarResNet:
    """Build a CIFAR ResNet and load its CIFAR-10 weights.

    Parameters
    ----------
    depth : int
        One of 20, 32, 44, 56.
    path : path-like, optional
        Checkpoint file saved by the akamaster training script: a pickled dict
        whose ``"state_dict"`` entry has keys prefixed with ``module.``.
        Defaults to the copy in the repository's ``data/cifar10_resnets/``.

    Returns
    -------
    CifarResNet
        On the CPU, in eval mode, with all parameters and buffers loaded
        (``strict=True``).

    Raises
    ------
    FileNotFoundError
        If the checkpoint file does not exist.
    """
    checkpoint_path = Path(path) if path is not None else cifar_resnet_checkpoint_path(depth)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(
            f"CIFAR ResNet checkpoint not found: {checkpoint_path}. The default files live in "
            "data/cifar10_resnets/ of a source checkout; pass path= to use another copy."
        )

    # The file holds only tensors and a float (best_prec1), so the safe
    # weights_only loader can read it.
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    state_dict = {key.removeprefix("module."): value for key, value in checkpoint["state_dict"].items()}

    model = CifarResNet(depth)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
