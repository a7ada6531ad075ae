"""Tests of the caption tasks: templated captions, BLEU-4, scikit-image captions, Karpathy-split loader."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from emms_ref.tasks.captions import (
    CIFAR10_CAPTION_TEMPLATES,
    EASY_VQA_CAPTION_TEMPLATES,
    box_position,
    box_size,
    cifar10_captions,
    corpus_bleu,
    easy_vqa_captions,
    tokenize_caption,
    with_article,
)
from emms_ref.tasks.coco_captions_published import (
    find_karpathy_json,
    load_caption_images,
    load_karpathy_captions,
)
from emms_ref.tasks.skimage_captions import SKIMAGE_CAPTIONS, load_skimage_photos

# --- BLEU against hand-computed values -------------------------------------------------


def test_bleu_hand_computed_example():
    # p1 = 5/6 ("the" clipped to 1), p2 = 3/5, p3 = 2/4, p4 = 1/3, equal lengths so BP = 1.
    bleu = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    assert bleu == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, rel=1e-12)
    assert bleu == pytest.approx(0.537284965911771, rel=1e-12)


def test_bleu_identical_caption_is_one():
    assert corpus_bleu(["a red circle in the top left"], [["a red circle in the top left"]]) == pytest.approx(1.0)


def test_bleu_brevity_penalty():
    # c = 2, r = 6: BP = exp(1 - 6/2); both precisions are 1.
    bleu = corpus_bleu(["the cat"], [["the cat sat on the mat"]], max_order=2)
    assert bleu == pytest.approx(math.exp(-2.0), rel=1e-12)


def test_bleu_closest_reference_tie_takes_shorter():
    # Hypothesis length 3, references of length 2 and 4: r = 2, so c > r and BP = 1.
    assert corpus_bleu(["a b c"], [["a b", "a b c d"]], max_order=1) == pytest.approx(1.0)


def test_bleu_clips_by_max_reference_count():
    # "the" occurs at most twice in one reference: p1 = 2/4; closest reference length 3 < 4.
    assert corpus_bleu(["the the the the"], [["the cat", "the the dog"]], max_order=1) == pytest.approx(0.5)


def test_bleu_sums_counts_over_corpus():
    # Corpus p1 = (4 + 1) / (4 + 2); the mean of sentence scores would be 0.75.
    bleu = corpus_bleu(["a b c d", "x y"], [["a b c d"], ["x z"]], max_order=1)
    assert bleu == pytest.approx(5 / 6)


def test_bleu_zero_without_matching_bigram():
    assert corpus_bleu(["a b"], [["b a"]], max_order=2) == 0.0


@pytest.mark.parametrize(
    ("hypotheses", "references", "max_order", "match"),
    [
        (["a"], [["a"], ["b"]], 4, "same length"),
        ([], [], 4, "empty"),
        (["a"], [[]], 4, "non-empty list"),
        (["a"], ["a"], 4, "non-empty list"),
        ("a", [["a"]], 4, "not a str"),
        (["a"], [["a"]], 0, "max_order"),
        ([None], [["a"]], 4, r"hypotheses\[0\] must be a str"),
        (["a"], [["a", 3]], 4, "only str captions"),
    ],
)
def test_bleu_rejects_invalid_input(hypotheses, references, max_order, match):
    with pytest.raises(ValueError, match=match):
        corpus_bleu(hypotheses, references, max_order=max_order)


def test_tokenize_keeps_hyphenated_words():
    assert tokenize_caption("A medium-sized, RED circle.") == ["a", "medium-sized", "red", "circle"]


def test_tokenize_keeps_accented_letters():
    assert tokenize_caption("Un CAFÉ naïve.") == ["un", "café", "naïve"]


def test_bleu_accepts_numpy_integer_order():
    assert corpus_bleu(["a red circle in the image"], [["a red circle in the image"]], max_order=np.int64(4)) == 1.0


# --- templated captions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([0, 0, 10, 10], "top left"),
        ([27, 0, 37, 10], "top"),
        ([54, 0, 64, 10], "top right"),
        ([0, 27, 10, 37], "left"),
        ([27, 27, 37, 37], "center"),
        ([54, 54, 64, 64], "bottom right"),
        ([27, 54, 37, 64], "bottom"),
    ],
)
def test_box_position_grid_cells(box, expected):
    assert box_position(box) == expected


@pytest.mark.parametrize(("side", "expected"), [(9, "small"), (17, "small"), (18, "medium-sized"), (27, "medium-sized"), (28, "large")])
def test_box_size_limits(side, expected):
    assert box_size([5, 5, 5 + side, 10]) == expected


def test_easy_vqa_captions_fill_templates():
    captions = easy_vqa_captions(["circle", "triangle"], ["red", "blue"], np.array([[0, 0, 10, 10], [30, 40, 62, 62]]))
    assert len(captions) == 2
    assert len(captions[0]) == len(EASY_VQA_CAPTION_TEMPLATES)
    assert captions[0][0] == "a red circle in the top left of the image"
    assert captions[1][1] == "a large blue triangle on a white background"
    assert all("{" not in caption for image_captions in captions for caption in image_captions)


def test_easy_vqa_captions_do_not_modify_boxes():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0]])
    before = boxes.copy()
    easy_vqa_captions(["circle"], ["red"], boxes)
    np.testing.assert_array_equal(boxes, before)


def test_easy_vqa_captions_reject_length_mismatch():
    with pytest.raises(ValueError, match="one entry per image"):
        easy_vqa_captions(["circle"], ["red", "blue"], np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        easy_vqa_captions(["circle"], ["red"], np.zeros((1, 3)))


def test_easy_vqa_captions_reject_bad_boxes():
    with pytest.raises(ValueError, match="NaN or inf"):
        easy_vqa_captions(["circle"], ["red"], [[0, 0, np.nan, 10]])
    with pytest.raises(ValueError, match="x_max < x_min"):
        easy_vqa_captions(["circle"], ["red"], [[50, 50, 10, 10]])


def test_cifar10_captions_use_class_name():
    captions = cifar10_captions(np.array([1, 0]), ["airplane", "automobile"])
    assert captions[0] == [template.format(name="automobile", a_name="an automobile") for template in CIFAR10_CAPTION_TEMPLATES]
    assert captions[1][0] == "a photo of an airplane"


def test_with_article():
    assert with_article("airplane") == "an airplane"
    assert with_article("bird") == "a bird"
    assert with_article("Elephant") == "an Elephant"
    with pytest.raises(ValueError, match="noun is empty"):
        with_article("")


def test_cifar10_captions_reject_out_of_range_label():
    with pytest.raises(ValueError, match="index class_names"):
        cifar10_captions(np.array([0, 2]), ["cat", "dog"])
    with pytest.raises(ValueError, match="1-D integer"):
        cifar10_captions(np.array([0.5]), ["cat"])


def test_cifar10_captions_check_class_names():
    assert cifar10_captions([], ["cat"]) == []
    with pytest.raises(ValueError, match="single str"):
        cifar10_captions([0], "cat")
    with pytest.raises(ValueError, match=r"class_names\[1\] must be a non-empty str"):
        cifar10_captions([0], ["cat", None])


# --- scikit-image photos -------------------------------------------------------------------


def test_skimage_photos_load_as_rgb():
    photos = load_skimage_photos(["coffee", "camera"])
    assert photos.names == ["coffee", "camera"]
    for image in photos.images:
        assert image.ndim == 3
        assert image.shape[2] == 3
        assert image.dtype == np.uint8
    # camera is a grey-level photo, repeated over three channels.
    np.testing.assert_array_equal(photos.images[1][..., 0], photos.images[1][..., 2])
    assert photos.captions[0] == list(SKIMAGE_CAPTIONS["coffee"])


def test_skimage_captions_have_several_per_photo():
    assert len(SKIMAGE_CAPTIONS) >= 10
    assert all(len(captions) >= 3 for captions in SKIMAGE_CAPTIONS.values())


def test_skimage_photos_reject_unknown_name():
    with pytest.raises(ValueError, match="no captions"):
        load_skimage_photos(["not_a_photo"])


# --- Karpathy-split caption files ----------------------------------------------------------


def write_karpathy_fixture(folder, with_filepath=False):
    """Write a three-image Karpathy-split file and its images; return the JSON path."""
    images = []
    for index, (split, color) in enumerate([("train", (255, 0, 0)), ("test", (0, 255, 0)), ("train", (0, 0, 255))]):
        subfolder = "val2014" if with_filepath else "images"
        (folder / subfolder).mkdir(exist_ok=True)
        filename = f"image_{index}.jpg"
        Image.new("RGB", (80, 40), color).save(folder / subfolder / filename)
        entry = {
            "filename": filename,
            "imgid": index,
            "split": split,
            "sentences": [
                {"raw": f"Caption one of image {index}.", "tokens": ["caption"], "imgid": index, "sentid": 2 * index},
                {"raw": f" caption two of image {index} ", "tokens": ["caption"], "imgid": index, "sentid": 2 * index + 1},
            ],
        }
        if with_filepath:
            entry["filepath"] = "val2014"
        images.append(entry)
    name = "dataset_coco.json" if with_filepath else "dataset_flickr8k.json"
    path = folder / name
    path.write_text(json.dumps({"dataset": name[8:-5], "images": images}), encoding="utf-8")
    return path


def test_karpathy_loader_reads_train_split(tmp_path):
    path = write_karpathy_fixture(tmp_path)
    records = load_karpathy_captions(path, "train")
    assert [record.image_id for record in records] == [0, 2]
    assert records[0].relative_path == "image_0.jpg"
    assert records[0].captions == ("Caption one of image 0.", "caption two of image 0")
    assert len(load_karpathy_captions(path, None)) == 3
    assert len(load_karpathy_captions(path, "train", max_images=1)) == 1


def test_karpathy_loader_joins_coco_filepath(tmp_path):
    path = write_karpathy_fixture(tmp_path, with_filepath=True)
    assert find_karpathy_json(tmp_path) == path
    records = load_karpathy_captions(path, "test")
    assert records[0].relative_path == "val2014/image_1.jpg"
    images = load_caption_images(tmp_path, records, size=16)
    assert images.shape == (1, 16, 16, 3)
    # JPEG compression shifts flat colours by a few levels.
    np.testing.assert_allclose(images[0, 8, 8], [0, 255, 0], atol=4)


def test_caption_images_are_center_cropped(tmp_path):
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, 20:60] = 200  # the central 40 x 40 square is bright, the sides dark
    (tmp_path / "images").mkdir()
    Image.fromarray(image).save(tmp_path / "images" / "wide.png")
    records = load_karpathy_captions(write_karpathy_fixture(tmp_path), "train")
    records = [type(records[0])(image_id=9, relative_path="wide.png", split="train", captions=("x",))]
    loaded = load_caption_images(tmp_path / "images", records, size=8)
    assert loaded.min() == 200


def test_karpathy_loader_rejects_bad_files(tmp_path):
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps({"images": [{"filename": "a.jpg", "split": "train"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="sentences"):
        load_karpathy_captions(path)
    path.write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ValueError, match="'images' list"):
        load_karpathy_captions(path)
    with pytest.raises(ValueError, match="split"):
        load_karpathy_captions(path, "validation")
    with pytest.raises(FileNotFoundError, match="dataset_coco.json"):
        find_karpathy_json(tmp_path / "empty")


def test_caption_images_missing_file(tmp_path):
    records = load_karpathy_captions(write_karpathy_fixture(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="image_0.jpg"):
        load_caption_images(tmp_path / "nowhere", records)
