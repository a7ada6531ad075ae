"""Tests for the EfficientNet-Lite loaders and the (truncated) feature module."""

import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")

from emms_ref.features.efficientnet_lite import (  # noqa: E402
    EfficientNetLiteFeatures,
    build_efficientnet_lite,
    calibrate_batch_norm_on_noise,
    efficientnet_lite_weights_path,
)

# A small input keeps these tests fast. The networks are built for this input size.
RESOLUTION = 64


@pytest.fixture(scope="module")
def lite0():
    return build_efficientnet_lite(0, resolution=RESOLUTION)


@pytest.fixture(scope="module")
def inputs():
    return torch.rand(2, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_pretrained_weights_load_strict(variant):
    state_dict = torch.load(efficientnet_lite_weights_path(variant), map_location="cpu", weights_only=True)
    model = build_efficientnet_lite(variant, resolution=RESOLUTION)

    assert set(model.state_dict()) == set(state_dict)
    torch.testing.assert_close(model._conv_stem.weight, state_dict["_conv_stem.weight"])
    assert not model.training


def test_weights_path_rejects_unknown_variant():
    with pytest.raises(ValueError, match="no ImageNet weight package"):
        efficientnet_lite_weights_path(4)


def test_full_features_match_package_forward(lite0, inputs):
    features = EfficientNetLiteFeatures(lite0).eval()

    with torch.no_grad():
        ours = features(inputs)
        reference = lite0.extract_features(inputs).mean(dim=(2, 3))

    assert ours.shape == (2, 1280)
    assert features.feature_dim == 1280
    torch.testing.assert_close(ours, reference)


@pytest.mark.parametrize("num_blocks", [1, 8, 16])
def test_truncated_features_equal_block_activation(lite0, inputs, num_blocks):
    captured = {}
    hook = lite0._blocks[num_blocks - 1].register_forward_hook(
        lambda module, args, output: captured.setdefault("maps", output)
    )
    try:
        with torch.no_grad():
            lite0.extract_features(inputs)
    finally:
        hook.remove()
    truncated = EfficientNetLiteFeatures(lite0, num_blocks=num_blocks).eval()

    with torch.no_grad():
        maps = truncated.forward_maps(inputs)
        pooled = truncated(inputs)

    torch.testing.assert_close(maps, captured["maps"])
    torch.testing.assert_close(pooled, captured["maps"].mean(dim=(2, 3)))
    assert pooled.shape[1] == truncated.feature_dim


def test_truncated_forward_skips_later_blocks(lite0, inputs):
    calls = []
    hooks = [block.register_forward_hook(lambda *args, i=i: calls.append(i)) for i, block in enumerate(lite0._blocks)]
    try:
        with torch.no_grad():
            EfficientNetLiteFeatures(lite0, num_blocks=8)(inputs)
    finally:
        for hook in hooks:
            hook.remove()

    assert calls == list(range(8))


@pytest.mark.parametrize("num_blocks", [0, 17])
def test_truncation_rejects_out_of_range(lite0, num_blocks):
    with pytest.raises(ValueError, match="between 1 and 16"):
        EfficientNetLiteFeatures(lite0, num_blocks=num_blocks)


def test_random_init_is_deterministic(inputs):
    first = EfficientNetLiteFeatures(build_efficientnet_lite(0, resolution=32, pretrained=False, seed=3))
    second = EfficientNetLiteFeatures(build_efficientnet_lite(0, resolution=32, pretrained=False, seed=3))
    other = EfficientNetLiteFeatures(build_efficientnet_lite(0, resolution=32, pretrained=False, seed=4))

    for name, tensor in first.state_dict().items():
        torch.testing.assert_close(tensor, second.state_dict()[name], msg=f"{name} differs for the same seed")
    assert not torch.equal(first.backbone._conv_stem.weight, other.backbone._conv_stem.weight)


def test_random_init_restores_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_efficientnet_lite(0, resolution=32, pretrained=False, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_random_init_requires_seed():
    with pytest.raises(ValueError, match="seed is required"):
        build_efficientnet_lite(0, resolution=32, pretrained=False)


def test_noise_calibration_keeps_unit_scale():
    # Without calibration the pooled output of a random Lite0 is about 1e-9.
    model = build_efficientnet_lite(0, resolution=32, pretrained=False, seed=0)
    noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1

    with torch.no_grad():
        features = EfficientNetLiteFeatures(model)(noise)

    assert 0.05 < features.abs().mean().item() < 20.0
    assert not model.training


def test_noise_calibration_restores_momentum():
    model = build_efficientnet_lite(0, resolution=32, pretrained=False, seed=0)
    calibrate_batch_norm_on_noise(model, resolution=32, num_batches=1, batch_size=2)
    assert model._bn0.momentum == pytest.approx(0.01)
    assert not model._bn0.training
