"""Tests of the synthetic text-QA task and the SQuAD v1.1 loader."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from emms_ref.tasks.squad_published import SQUAD_ROOT_VARIABLE, load_squad, squad_root_from_environment
from emms_ref.tasks.text_qa import box_position, box_size, build_synthetic_text_qa, load_synthetic_text_qa


def small_vqa():
    """Three hand-made images: a large red circle at the center, a small blue triangle top left, a rectangle bottom right."""
    return SimpleNamespace(
        image_ids=np.array([7, 3, 11]),
        shapes=["circle", "triangle", "rectangle"],
        colors=["red", "blue", "green"],
        boxes=np.array([[16.0, 16.0, 48.0, 48.0], [2.0, 2.0, 12.0, 12.0], [44.0, 50.0, 62.0, 62.0]]),
        questions=["what shape is in the image?", "is there a red shape?", "what color is the shape?"],
        answers=["circle", "no", "green"],
        question_image=np.array([0, 1, 2]),
        answer_vocabulary=["yes", "no", "circle", "triangle", "rectangle", "red", "blue", "green"],
    )


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([0, 0, 10, 10], "top left"),
        ([27, 0, 37, 10], "top middle"),
        ([54, 0, 64, 10], "top right"),
        ([0, 27, 10, 37], "middle left"),
        ([27, 27, 37, 37], "center"),
        ([54, 27, 64, 37], "middle right"),
        ([0, 54, 10, 64], "bottom left"),
        ([27, 54, 37, 64], "bottom middle"),
        ([54, 54, 64, 64], "bottom right"),
    ],
)
def test_box_position_ninths(box, expected):
    assert box_position(box, 64) == expected


def test_box_size_thresholds():
    # Area fractions 100/4096 = 0.024, 400/4096 = 0.098 and 1024/4096 = 0.25.
    assert box_size([0, 0, 10, 10], 64) == "small"
    assert box_size([0, 0, 20, 20], 64) == "medium-sized"
    assert box_size([0, 0, 32, 32], 64) == "large"


def test_contexts_state_shape_color_position():
    task = build_synthetic_text_qa(small_vqa())
    for context, shape, color, position in zip(
        task.contexts, ["circle", "triangle", "rectangle"], ["red", "blue", "green"],
        ["center", "top left", "bottom right"],
    ):
        main = next(sentence for sentence in context.split(". ") if shape in sentence and color in sentence)
        assert position in main, context


def test_questions_answers_kept_in_order():
    vqa = small_vqa()
    task = build_synthetic_text_qa(vqa)
    assert task.questions == vqa.questions
    assert task.answers == vqa.answers
    np.testing.assert_array_equal(task.question_context, [0, 1, 2])
    assert task.answer_vocabulary == sorted(vqa.answer_vocabulary)
    assert [task.answer_vocabulary[index] for index in task.answer_indices()] == vqa.answers


def test_contexts_depend_on_seed_and_image_only():
    vqa = small_vqa()
    full = build_synthetic_text_qa(vqa, seed=0)
    again = build_synthetic_text_qa(vqa, seed=0)
    assert full.contexts == again.contexts
    # A subset of images gets the same contexts as in the full split.
    subset = SimpleNamespace(**{**vars(vqa), "image_ids": vqa.image_ids[1:], "shapes": vqa.shapes[1:],
                                "colors": vqa.colors[1:], "boxes": vqa.boxes[1:], "questions": [],
                                "answers": [], "question_image": np.array([], dtype=int)})
    assert build_synthetic_text_qa(subset, seed=0).contexts == full.contexts[1:]
    many_seeds = {tuple(build_synthetic_text_qa(vqa, seed=seed).contexts) for seed in range(10)}
    assert len(many_seeds) > 1


def test_build_does_not_modify_input():
    vqa = small_vqa()
    boxes = vqa.boxes.copy()
    questions = list(vqa.questions)
    build_synthetic_text_qa(vqa)
    np.testing.assert_array_equal(vqa.boxes, boxes)
    assert vqa.questions == questions


def test_build_rejects_mismatched_fields():
    vqa = small_vqa()
    vqa.shapes = vqa.shapes[:2]
    with pytest.raises(ValueError, match="one shape, colour and"):
        build_synthetic_text_qa(vqa)


def test_build_rejects_unknown_answer():
    vqa = small_vqa()
    vqa.answers = ["circle", "maybe", "green"]
    with pytest.raises(ValueError, match="maybe"):
        build_synthetic_text_qa(vqa)


def test_build_rejects_bad_question_image():
    vqa = small_vqa()
    vqa.question_image = np.array([0, 1, 5])
    with pytest.raises(ValueError, match="question_image"):
        build_synthetic_text_qa(vqa)


def test_synthetic_task_from_easy_vqa():
    task = load_synthetic_text_qa("train", max_images=20)
    assert len(task.contexts) == 20
    assert len(task.questions) == len(task.answers) == len(task.question_context)
    assert len(task.answer_vocabulary) == 13
    # Every "what shape" answer is named in the question's context.
    for question, answer, row in zip(task.questions, task.answers, task.question_context):
        if question.startswith("what shape") or question.startswith("what color is the shape"):
            assert answer in task.contexts[row], (question, answer, task.contexts[row])


# --------------------------------------------------------------------------- SQuAD v1.1


def write_squad(folder, split="train", *, version="1.1", answer_start=None):
    context = "Paris is the capital of France. It lies on the Seine."
    start = context.index("the Seine") if answer_start is None else answer_start
    document = {
        "version": version,
        "data": [
            {"title": "Paris", "paragraphs": [
                {"context": context, "qas": [
                    {"id": "q1", "question": "What is the capital of France?",
                     "answers": [{"text": "Paris", "answer_start": 0}]},
                    {"id": "q2", "question": "Which river runs through Paris?",
                     "answers": [{"text": "the Seine", "answer_start": start}, {"text": "Seine", "answer_start": start + 4}]},
                ]},
                {"context": "Lyon is a French city.", "qas": [
                    {"id": "q3", "question": "What is Lyon?", "answers": [{"text": "a French city", "answer_start": 8}]},
                ]},
            ]},
        ],
    }
    name = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}[split]
    (folder / name).write_text(json.dumps(document), encoding="utf-8")


def test_squad_flattens_fixture(tmp_path):
    write_squad(tmp_path)
    squad = load_squad(tmp_path, "train")
    assert squad.contexts[1] == "Lyon is a French city."
    assert squad.titles == ["Paris", "Paris"]
    assert squad.question_ids == ["q1", "q2", "q3"]
    assert squad.answers == ["Paris", "the Seine", "a French city"]
    assert squad.all_answers[1] == ["the Seine", "Seine"]
    np.testing.assert_array_equal(squad.question_context, [0, 0, 1])
    np.testing.assert_array_equal(squad.answer_starts, [0, 43, 8])
    assert squad.span_mismatches == 0
    for answer, start, row in zip(squad.answers, squad.answer_starts, squad.question_context):
        assert squad.contexts[row][start : start + len(answer)] == answer


def test_squad_max_questions_keeps_whole_paragraphs(tmp_path):
    write_squad(tmp_path, "dev")
    squad = load_squad(tmp_path, "dev", max_questions=1)
    assert squad.question_ids == ["q1", "q2"]
    assert len(squad.contexts) == 1


def test_squad_counts_span_mismatch(tmp_path, caplog):
    write_squad(tmp_path, answer_start=3)
    with caplog.at_level(logging.WARNING):
        squad = load_squad(tmp_path)
    assert squad.span_mismatches == 1
    assert "do not match" in caplog.text


def test_squad_rejects_version_2(tmp_path):
    write_squad(tmp_path, version="v2.0")
    with pytest.raises(ValueError, match="SQuAD v1.x"):
        load_squad(tmp_path)


def test_squad_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-v1.1.json"):
        load_squad(tmp_path)


def test_squad_rejects_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_squad(tmp_path, "validation")


def test_squad_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(SQUAD_ROOT_VARIABLE, raising=False)
    assert squad_root_from_environment() is None
    monkeypatch.setenv(SQUAD_ROOT_VARIABLE, str(tmp_path))
    assert squad_root_from_environment() == tmp_path
    monkeypatch.setenv(SQUAD_ROOT_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=SQUAD_ROOT_VARIABLE):
        squad_root_from_environment()
