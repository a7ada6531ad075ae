"""Tests for the VQA experiment: sample rows and features, scorers, score cache and ground truth."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emms_ref import emms_score
from emms_ref.evaluation import weighted_kendall_tau
from emms_ref.experiments.task_scoring import array_digest, rank_summary, score_zoo, source_probabilities
from emms_ref.experiments.vqa import vqa_sample_features, vqa_scorers, vqa_scoring_rows
from emms_ref.features import MODEL_ZOO

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "scripts" / "vqa_ground_truth.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("vqa_ground_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_scoring_rows_per_image():
    question_image = np.array([0, 0, 0, 1, 2, 2, 2, 2])
    rows = vqa_scoring_rows(question_image, per_image=2, seed=0)

    assert np.all(np.diff(rows) > 0)
    assert np.bincount(question_image[rows]).tolist() == [2, 1, 2]
    np.testing.assert_array_equal(rows, vqa_scoring_rows(question_image, per_image=2, seed=0))


def test_scoring_rows_rejects_zero():
    with pytest.raises(ValueError, match="per_image"):
        vqa_scoring_rows([0, 1], per_image=0)


def test_sample_features_concatenate():
    image_features = {"a": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.ones((3, 5))}
    questions = np.array([[10.0], [20.0]])
    features = vqa_sample_features(image_features, [2, 0], questions)

    np.testing.assert_array_equal(features["a"], [[4, 5, 10], [0, 1, 20]])
    assert features["b"].shape == (2, 6)
    assert features["b"].dtype == np.float32


def test_sample_features_reject_row_mismatch():
    with pytest.raises(ValueError, match="one question encoding per sample"):
        vqa_sample_features({"a": np.zeros((3, 2))}, [0, 1], np.zeros((3, 4)))


def synthetic_scoring_problem(seed=0, n=120):
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, size=n)
    signal = np.eye(4)[answers]
    features = {
        "good": np.concatenate([signal + 0.1 * rng.normal(size=(n, 4)), rng.normal(size=(n, 3))], axis=1),
        "bad": rng.normal(size=(n, 7)),
    }
    f_labels = {"one": rng.normal(size=(4, 5))[answers], "two": rng.normal(size=(4, 5))[answers]}
    return features, f_labels, answers


def test_scorers_match_direct_calls():
    features, f_labels, answers = synthetic_scoring_problem()
    probabilities = {"good": np.full((len(answers), 3), 1 / 3)}
    scorers = vqa_scorers(features, f_labels, answers, probabilities)

    assert scorers["EMMS"]("good").score == pytest.approx(emms_score(features["good"], list(f_labels.values())).score)
    assert scorers["EMMS"]("good").score > scorers["EMMS"]("bad").score
    assert scorers["LEEP"]("bad") is None
    assert scorers["NCE"]("bad") is None
    # Uninformative source predictions: LEEP is the entropy of the target labels, negated.
    frequencies = np.bincount(answers) / len(answers)
    assert scorers["LEEP"]("good").score == pytest.approx(np.sum(frequencies * np.log(frequencies)))


def test_score_zoo_reads_cache(tmp_path):
    calls = []

    class Result:
        def __init__(self, score):
            self.score = score

    def compute(name):
        calls.append(name)
        return Result(len(name)) if name != "skip" else None

    digests = {"ab": "1", "abc": "2", "skip": "3"}
    scores, seconds = score_zoo({"length": compute}, ["ab", "abc", "skip"], input_digests=digests, cache_dir=tmp_path)
    again, _ = score_zoo({"length": compute}, ["ab", "abc", "skip"], input_digests=digests, cache_dir=tmp_path)

    assert scores == {"length": {"ab": 2.0, "abc": 3.0}}
    assert again == scores
    assert calls == ["ab", "abc", "skip"]
    assert set(seconds["length"]) == {"ab", "abc"}


def test_score_zoo_recomputes_on_new_digest(tmp_path):
    calls = []

    class Result:
        score = 1.0

    def compute(name):
        calls.append(name)
        return Result()

    score_zoo({"m": compute}, ["a"], input_digests={"a": "old"}, cache_dir=tmp_path)
    score_zoo({"m": compute}, ["a"], input_digests={"a": "new"}, cache_dir=tmp_path)

    assert calls == ["a", "a"]


def test_array_digest_sees_dtype_and_values():
    base = np.zeros(3, dtype=np.float32)

    assert array_digest(base) == array_digest(base.copy())
    assert array_digest(base) != array_digest(base.astype(np.float64))
    assert array_digest(base) != array_digest(np.array([0, 0, 1], dtype=np.float32))


def test_rank_summary_drops_incomplete_methods():
    scores = {"full": {"a": 1.0, "b": 3.0, "c": 2.0}, "partial": {"a": 1.0}}
    seconds = {"full": {"a": 0.5, "b": 0.25, "c": 0.25}, "partial": {"a": 1.0}}
    summary = rank_summary("task", ["a", "b", "c"], [0.1, 0.3, 0.2], scores, seconds, ["enc"])

    assert list(summary["scores"]) == ["full"]
    assert summary["seconds"]["full"] == pytest.approx(1.0)
    assert summary["weighted_tau"]["full"] == pytest.approx(weighted_kendall_tau([1.0, 3.0, 2.0], [0.1, 0.3, 0.2]))
    assert summary["flabel_encoders"] == ["enc"]


def test_source_probabilities_by_member():
    features = np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32)
    probabilities = source_probabilities("cifar10_resnet20", features)

    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert source_probabilities("efficientnet_lite0_trunc_block8", np.zeros((2, 80))) is None


def test_answer_head_equals_concatenated_mlp(script):
    torch.manual_seed(0)
    head = script.AnswerHead(image_dim=6, question_dim=4, hidden=8, num_answers=3)
    images = torch.randn(5, 6)
    questions = torch.randn(7, 4)
    image_index = torch.tensor([0, 4, 4, 2])
    question_index = torch.tensor([6, 0, 3, 3])

    concatenated = torch.cat([images[image_index], questions[question_index]], dim=1)
    weight = torch.cat([head.image_layer.weight, head.question_layer.weight], dim=1)
    expected = head.output(torch.relu(concatenated @ weight.T + head.image_layer.bias))

    torch.testing.assert_close(head(images, questions, image_index, question_index), expected)


def test_ground_truth_json_records_run():
    result = json.loads((REPOSITORY / "results" / "vqa_ground_truth.json").read_text())

    assert set(result["models"]) == set(MODEL_ZOO)
    assert result["command"].startswith("python scripts/vqa_ground_truth.py")
    assert result["date_utc"].endswith("Z")
    assert result["hardware"]["torch_num_threads"] == 1
    assert result["total_wall_clock_seconds"] > 0
    for entry in result["models"].values():
        assert 0.0 <= entry["test_accuracy_mean"] <= 1.0
        assert len(entry["test_accuracy_per_seed"]) == len(result["protocol"]["seeds"])


def test_principal_components_match_sklearn():
    from sklearn.decomposition import PCA

    from emms_ref.experiments.task_scoring import principal_components

    features = np.random.default_rng(1).normal(size=(50, 8)) @ np.diag([5, 4, 3, 2, 1, 0.5, 0.2, 0.1])
    reduced = principal_components(features, 3)
    reference = PCA(n_components=3, svd_solver="full").fit_transform(features)

    # Directions agree up to sign, so compare absolute values column by column.
    np.testing.assert_allclose(np.abs(reduced), np.abs(reference), atol=1e-10)


def test_principal_components_rejects_bad_width():
    from emms_ref.experiments.task_scoring import principal_components

    with pytest.raises(ValueError, match="n_components"):
        principal_components(np.zeros((5, 3)), 4)
    with pytest.raises(ValueError, match="2-D"):
        principal_components(np.zeros(5), 1)
