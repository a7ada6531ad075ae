"""Smoke tests of scripts/cifar10_ground_truth.py on a few images."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cifar10_ground_truth.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("cifar10_ground_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the defining module up in sys.modules while the script runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_standardize_uses_train_statistics(script):
    train = np.array([[0.0, 5.0], [2.0, 5.0]], dtype=np.float32)
    test = np.array([[4.0, 6.0]], dtype=np.float32)

    train_out, test_out = script.standardize(train, test)

    np.testing.assert_allclose(train_out, [[-1.0, 0.0], [1.0, 0.0]])
    # The constant column is only centred.
    np.testing.assert_allclose(test_out, [[3.0, 1.0]])
    assert train_out.dtype == np.float32


def test_linear_head_fits_separable_data(script):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    features = (np.eye(10)[labels] * 3 + rng.normal(scale=0.3, size=(200, 10))).astype(np.float32)
    config = script.TrainingConfig(epochs=20, batch_size=32, weight_decay=0.0)

    head = script.train_linear_head(features, labels, lr=1e-2, seed=0, config=config)

    assert script.linear_head_accuracy(head, features, labels) > 0.95


def test_linear_head_is_deterministic(script):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(50, 4)).astype(np.float32)
    labels = rng.integers(0, 10, size=50)
    config = script.TrainingConfig(epochs=2, batch_size=16, weight_decay=1e-4)

    first = script.train_linear_head(features, labels, lr=1e-2, seed=5, config=config)
    second = script.train_linear_head(features, labels, lr=1e-2, seed=5, config=config)

    np.testing.assert_array_equal(first.weight.detach().numpy(), second.weight.detach().numpy())


def test_make_split_holds_out_balanced_validation(script):
    args = script.parse_args(["--train-per-class", "20", "--test-per-class", "3"])
    split = script.make_split(args)

    assert len(split.train_labels) == 200
    assert len(split.test_labels) == 30
    np.testing.assert_array_equal(np.bincount(split.train_labels[split.val_index]), np.full(10, 2))
    assert len(np.intersect1d(split.fit_index, split.val_index)) == 0
    assert len(split.fit_index) + len(split.val_index) == 200


def test_parse_args_rejects_unknown_model(script):
    with pytest.raises(SystemExit):
        script.parse_args(["--models", "resnet50"])


@pytest.mark.parametrize("protocol", ["head", "full"])
def test_main_writes_result_json(script, tmp_path, protocol):
    output = tmp_path / "result.json"
    argv = [
        "--protocol", protocol, "--models", "cifar10_resnet20", "--seeds", "0", "1", "--learning-rates", "0.01",
        "--train-per-class", "10", "--test-per-class", "2", "--epochs", "1", "--max-steps", "2",
        "--batch-size", "16", "--cache-dir", str(tmp_path / "cache"), "--output", str(output), "--device", "cpu",
    ]

    assert script.main(argv) == 0

    result = json.loads(output.read_text())
    entry = result["models"]["cifar10_resnet20"]
    assert result["protocol"]["name"] == protocol
    assert result["command"].startswith("python scripts/cifar10_ground_truth.py --protocol")
    assert result["hardware"]["device"] == "cpu"
    assert entry["resolution"] == 32
    assert set(entry["test_accuracy_per_seed"]) == {"0", "1"}
    assert 0.0 <= entry["test_accuracy_mean"] <= 1.0
    assert entry["chosen_lr"] in result["protocol"]["learning_rates"]
