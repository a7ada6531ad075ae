"""Tests for the VQA v2 loader on a tiny fixture written in the published file format."""

import json

import numpy as np
import pytest
from PIL import Image

from emms_ref.tasks.vqa_published import load_vqa_v2, vqa_v2_files, vqa_v2_root_from_environment

QUESTIONS = [
    # (question_id, image_id, question, multiple_choice_answer)
    (10, 7, "What color is the bus?", "red"),
    (11, 7, "Is it raining?", "no"),
    (12, 3, "How many dogs?", "2"),
    (13, 3, "Is this a kitchen?", "no"),
    (14, 5, "What is on the plate?", "cake"),
    (15, 5, "Is the cake round?", "yes"),
]


def write_vqa_v2(root, split="val2014"):
    files = vqa_v2_files(root, split)
    files["images"].mkdir(parents=True)
    files["questions"].write_text(
        json.dumps(
            {
                "info": {},
                "task_type": "Open-Ended",
                "data_type": "mscoco",
                "data_subtype": split,
                "questions": [{"image_id": i, "question": q, "question_id": qid} for qid, i, q, _ in QUESTIONS],
            }
        )
    )
    annotations = [
        {
            "question_id": qid,
            "image_id": i,
            "multiple_choice_answer": answer,
            "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": k + 1} for k in range(10)],
            "answer_type": "other",
            "question_type": "what",
        }
        for qid, i, _, answer in QUESTIONS
    ]
    files["annotations"].write_text(json.dumps({"info": {}, "annotations": annotations}))
    for image_id, value in ((3, 30), (5, 50), (7, 70)):
        pixels = np.full((48, 80, 3), value, dtype=np.uint8)
        Image.fromarray(pixels).save(files["images"] / f"COCO_{split}_{image_id:012d}.jpg", quality=100)
    return root


def test_load_vqa_v2_top_answers(tmp_path):
    data = load_vqa_v2(write_vqa_v2(tmp_path), top_answers=2)

    # "no" (2 questions) first, then the alphabetically first of the single answers: "2".
    assert data.answer_vocabulary == ["2", "no"]
    assert data.questions == ["Is it raining?", "How many dogs?", "Is this a kitchen?"]
    np.testing.assert_array_equal(data.image_ids, [3, 7])
    np.testing.assert_array_equal(data.question_image, [1, 0, 0])
    np.testing.assert_array_equal(data.question_ids, [11, 12, 13])
    np.testing.assert_array_equal(data.answer_indices(), [1, 0, 1])


def test_load_vqa_v2_images_resized(tmp_path):
    data = load_vqa_v2(write_vqa_v2(tmp_path), top_answers=10, image_size=16)

    assert data.images.shape == (3, 16, 16, 3)
    assert data.images.dtype == np.uint8
    np.testing.assert_allclose(data.images.reshape(3, -1).mean(axis=1), [30, 50, 70], atol=2)
    assert not data.images.flags.writeable


def test_load_vqa_v2_max_images(tmp_path):
    data = load_vqa_v2(write_vqa_v2(tmp_path), top_answers=10, max_images=1)

    np.testing.assert_array_equal(data.image_ids, [3])
    assert data.answers == ["2", "no"]


def test_load_vqa_v2_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="questions.json"):
        load_vqa_v2(tmp_path)


def test_load_vqa_v2_missing_annotation(tmp_path):
    root = write_vqa_v2(tmp_path)
    path = vqa_v2_files(root, "val2014")["annotations"]
    content = json.loads(path.read_text())
    content["annotations"] = content["annotations"][1:]
    path.write_text(json.dumps(content))

    with pytest.raises(ValueError, match="no annotation"):
        load_vqa_v2(root)


def test_load_vqa_v2_wrong_layout(tmp_path):
    root = write_vqa_v2(tmp_path)
    vqa_v2_files(root, "val2014")["questions"].write_text(json.dumps([1, 2]))

    with pytest.raises(ValueError, match="list under 'questions'"):
        load_vqa_v2(root)


@pytest.mark.parametrize(("kwargs", "message"), [({"top_answers": 0}, "top_answers"), ({"max_images": 0}, "max_images")])
def test_load_vqa_v2_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_vqa_v2(write_vqa_v2(tmp_path), **kwargs)


def test_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("EMMS_VQA_V2_ROOT", raising=False)
    assert vqa_v2_root_from_environment() is None

    monkeypatch.setenv("EMMS_VQA_V2_ROOT", str(tmp_path))
    assert vqa_v2_root_from_environment() == tmp_path
