"""Tests for the model zoo registry."""

import dataclasses

import pytest
import torch

from emms_ref.features.zoo import MODEL_ZOO, ZooMember, get_zoo_member, zoo_member_names


def test_zoo_has_at_least_eight_members():
    assert len(MODEL_ZOO) >= 8


def test_zoo_member_fields_are_filled():
    for name, member in MODEL_ZOO.items():
        assert isinstance(member, ZooMember)
        assert member.name == name
        assert member.description and member.weights_source
        assert member.resolution >= 32
        assert len(member.mean) == 3
        assert len(member.std) == 3
        assert callable(member.build)


def test_zoo_flags():
    controls = [member.name for member in MODEL_ZOO.values() if member.is_control]
    on_target = [member.name for member in MODEL_ZOO.values() if member.trained_on_target]

    assert controls == ["efficientnet_lite0_random_init"]
    assert on_target == ["cifar10_resnet20", "cifar10_resnet32", "cifar10_resnet44", "cifar10_resnet56"]


def test_zoo_contains_pretrained_and_truncated_lites():
    names = set(MODEL_ZOO)
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= names
    assert any(name.startswith("efficientnet_lite0_trunc_block") for name in names)
    assert any(name.startswith("efficientnet_lite2_trunc_block") for name in names)


def test_zoo_is_read_only():
    with pytest.raises(TypeError):
        MODEL_ZOO["extra"] = MODEL_ZOO["cifar10_resnet20"]


def test_zoo_member_names_filters():
    assert zoo_member_names() == list(MODEL_ZOO)
    without_controls = zoo_member_names(include_controls=False)
    assert "efficientnet_lite0_random_init" not in without_controls
    assert len(without_controls) == len(MODEL_ZOO) - 1
    assert not any(name.startswith("cifar10_") for name in zoo_member_names(include_trained_on_target=False))


def test_get_zoo_member_unknown_name():
    with pytest.raises(KeyError, match="valid names"):
        get_zoo_member("resnet50")


def test_zoo_member_preprocessing_kwargs():
    member = get_zoo_member("cifar10_resnet20")
    assert member.preprocessing() == {"resolution": 32, "mean": member.mean, "std": member.std}


def test_cifar_resnet_member_loads_feature_module():
    member = get_zoo_member("cifar10_resnet20")
    module = member.load()

    with torch.no_grad():
        features = module(torch.zeros(2, 3, member.resolution, member.resolution))

    assert features.shape == (2, 64)
    assert not module.training


def test_truncated_member_feature_dim():
    pytest.importorskip("efficientnet_lite_pytorch")
    # A smaller input than the zoo's keeps the test fast; the dimension does not depend on it.
    member = dataclasses.replace(get_zoo_member("efficientnet_lite0_trunc_block8"), resolution=32)
    module = member.load()

    with torch.no_grad():
        features = module(torch.zeros(1, 3, 32, 32))

    assert features.shape == (1, 80)
    assert module.num_blocks == 8
