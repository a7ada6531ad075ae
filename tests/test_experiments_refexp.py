"""Tests for the referring expression experiment: phrases, box F-label texts, scorers and ground truth."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emms_ref.baselines import logme
from emms_ref.experiments.refexp import (
    refexp_flabel_texts,
    refexp_sample_features,
    refexp_scorers,
    referring_phrase,
)
from emms_ref.features import MODEL_ZOO
from emms_ref.tasks.boxes import text_to_box

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "scripts" / "refexp_ground_truth.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("refexp_ground_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_referring_phrase():
    assert referring_phrase("triangle", "blue") == "the blue triangle"


def test_flabel_texts_box():
    boxes = np.array([[12, 30, 40, 58], [0, 0, 9, 9]], dtype=float)
    texts = refexp_flabel_texts(["the red circle", "the gray rectangle"], boxes, 64, "box")

    assert texts[0] == "[x_min, y_min, x_max, y_max] = [12, 30, 40, 58] on a 64x64 image"
    np.testing.assert_array_equal([text_to_box(text) for text in texts], boxes)


def test_flabel_texts_phrase_and_box():
    texts = refexp_flabel_texts(["the red circle"], [[1, 2, 3, 4]], 64, "phrase and box")

    assert texts == ["the red circle at [x_min, y_min, x_max, y_max] = [1, 2, 3, 4] on a 64x64 image"]


def test_flabel_texts_reject_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        refexp_flabel_texts(["p"], [[1, 2, 3, 4]], 64, "caption")


def test_sample_features_reject_row_mismatch():
    with pytest.raises(ValueError, match="one phrase per image"):
        refexp_sample_features({"a": np.zeros((3, 2))}, np.zeros((2, 4)))


def test_sample_features_concatenate():
    features = refexp_sample_features({"a": np.ones((2, 3))}, np.zeros((2, 4)))

    assert features["a"].shape == (2, 7)
    np.testing.assert_array_equal(features["a"][:, 3:], 0)


@pytest.mark.filterwarnings("ignore::emms_ref.baselines.LogMEConvergenceWarning")
def test_scorers_box_coordinates_logme():
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 64, size=(80, 4))
    features = {"m": rng.normal(size=(80, 6))}
    f_labels = {"z": rng.normal(size=(80, 5))}
    scorers = refexp_scorers(features, f_labels, boxes, 64)

    expected = logme(features["m"], boxes / 64, regression=True).score
    assert scorers["LogME (box coordinates)"]("m").score == pytest.approx(expected)
    assert set(scorers) == {"EMMS", "LogME (F-labels)", "LogME (box coordinates)"}


def test_accuracy_at_iou_counts_hits(script):
    class FixedBoxes(torch.nn.Module):
        def forward(self, x):
            return x[:, :4]

    true_boxes = np.array([[0, 0, 32, 32], [10, 10, 20, 20]], dtype=float)
    shifted = true_boxes.copy()
    shifted[1] += 8  # IoU of a 10x10 box shifted by (8, 8): 4 / 196
    inputs = (shifted / 64).astype(np.float32)

    assert script.accuracy_at_iou(FixedBoxes(), inputs, true_boxes) == pytest.approx(0.5)


def test_ground_truth_json_records_run():
    result = json.loads((REPOSITORY / "results" / "refexp_ground_truth.json").read_text())

    assert set(result["models"]) == set(MODEL_ZOO)
    assert result["command"].startswith("python scripts/refexp_ground_truth.py")
    assert result["date_utc"].endswith("Z")
    assert result["hardware"]["torch_num_threads"] == 1
    assert result["total_wall_clock_seconds"] > 0
    for entry in result["models"].values():
        assert 0.0 <= entry["test_accuracy_mean"] <= 1.0
