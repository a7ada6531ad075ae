"""Tests for the RefCOCO loader on a tiny fixture written in the published file format."""

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from emms_ref.tasks.refcoco_published import load_refcoco, refcoco_root_from_environment


def write_refcoco(root):
    images = root / "images"
    images.mkdir(parents=True)
    for image_id, (width, height) in {1: (100, 50), 2: (64, 64)}.items():
        Image.fromarray(np.full((height, width, 3), 40 * image_id, dtype=np.uint8)).save(
            images / f"COCO_train2014_{image_id:012d}.jpg", quality=100
        )
    instances = {
        "images": [
            {"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "COCO_train2014_000000000002.jpg", "width": 64, "height": 64},
        ],
        "annotations": [
            {"id": 11, "image_id": 1, "bbox": [10.0, 5.0, 50.0, 20.0], "category_id": 1},
            {"id": 21, "image_id": 2, "bbox": [0.0, 32.0, 16.0, 32.0], "category_id": 18},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    (root / "instances.json").write_text(json.dumps(instances))
    refs = [
        {
            "ref_id": 0, "ann_id": 11, "image_id": 1, "split": "train", "category_id": 1,
            "file_name": "COCO_train2014_000000000001_11.jpg", "sent_ids": [0, 1],
            "sentences": [
                {"sent": "man on the left", "raw": "Man on the left", "tokens": ["man", "on", "the", "left"], "sent_id": 0},
                {"sent": "guy in red", "raw": "guy in red", "tokens": ["guy", "in", "red"], "sent_id": 1},
            ],
        },
        {
            "ref_id": 1, "ann_id": 21, "image_id": 2, "split": "testA", "category_id": 18,
            "file_name": "COCO_train2014_000000000002_21.jpg", "sent_ids": [2],
            "sentences": [{"sent": "bottom dog", "raw": "bottom dog", "tokens": ["bottom", "dog"], "sent_id": 2}],
        },
    ]
    with open(root / "refs(unc).p", "wb") as file:
        pickle.dump(refs, file)
    return root


def test_load_refcoco_train(tmp_path):
    data = load_refcoco(write_refcoco(tmp_path), "train", image_size=64)

    assert data.phrases == ["man on the left", "guy in red"]
    np.testing.assert_array_equal(data.image_ids, [1, 1])
    assert data.images.shape == (2, 64, 64, 3)
    # [10, 5, 50, 20] on 100x50, scaled by 0.64 in x and 1.28 in y.
    np.testing.assert_allclose(data.boxes, [[6.4, 6.4, 38.4, 32.0]] * 2)


def test_load_refcoco_other_split(tmp_path):
    data = load_refcoco(write_refcoco(tmp_path), "testA", image_size=32)

    assert data.phrases == ["bottom dog"]
    np.testing.assert_allclose(data.boxes, [[0.0, 16.0, 8.0, 32.0]])
    np.testing.assert_allclose(data.images.mean(), 80, atol=2)
    assert not data.boxes.flags.writeable


def test_load_refcoco_max_samples(tmp_path):
    data = load_refcoco(write_refcoco(tmp_path), "train", max_samples=1)

    assert data.phrases == ["man on the left"]


def test_load_refcoco_missing_annotation(tmp_path):
    root = write_refcoco(tmp_path)
    instances = json.loads((root / "instances.json").read_text())
    instances["annotations"] = instances["annotations"][1:]
    (root / "instances.json").write_text(json.dumps(instances))

    with pytest.raises(ValueError, match="lacks"):
        load_refcoco(root, "train")


def test_load_refcoco_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="refs"):
        load_refcoco(tmp_path, "train")


def test_load_refcoco_missing_image(tmp_path):
    root = write_refcoco(tmp_path)
    (root / "images" / "COCO_train2014_000000000001.jpg").unlink()

    with pytest.raises(FileNotFoundError, match="COCO image not found"):
        load_refcoco(root, "train")


@pytest.mark.parametrize(("kwargs", "message"), [({"split": "test"}, "split"), ({"image_size": 0}, "image_size")])
def test_load_refcoco_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_refcoco(write_refcoco(tmp_path), **kwargs)


def test_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("EMMS_REFCOCO_ROOT", raising=False)
    assert refcoco_root_from_environment() is None

    monkeypatch.setenv("EMMS_REFCOCO_ROOT", str(tmp_path))
    assert refcoco_root_from_environment() == tmp_path
