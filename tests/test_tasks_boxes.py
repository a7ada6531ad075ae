"""Tests for bounding boxes from background thresholding, IoU and the box text format."""

import numpy as np
import pytest
from scipy import ndimage

from emms_ref.tasks.boxes import (
    DEFAULT_BACKGROUND_TOLERANCE,
    background_color,
    box_iou,
    box_to_text,
    shape_box,
    text_to_box,
)
from emms_ref.tasks.easy_vqa import EASY_VQA_COLOR_RGB, load_easy_vqa


def flat_image(background=(240, 230, 220), size=64):
    return np.broadcast_to(np.array(background, dtype=np.uint8), (size, size, 3)).copy()


@pytest.fixture(scope="module")
def easy_vqa_subset():
    return load_easy_vqa("train", max_images=300)


def test_shape_box_hand_drawn_rectangle():
    image = flat_image()
    image[30:58, 12:40] = (0, 0, 255)

    np.testing.assert_array_equal(shape_box(image), [12, 30, 40, 58])


def test_shape_box_single_pixel():
    image = flat_image()
    image[5, 3] = (0, 0, 0)

    np.testing.assert_array_equal(shape_box(image), [3, 5, 4, 6])


def test_shape_box_shape_touching_corner():
    image = flat_image()
    image[50:, 40:] = (255, 0, 0)

    np.testing.assert_array_equal(background_color(image), [240, 230, 220])
    np.testing.assert_array_equal(shape_box(image), [40, 50, 64, 64])


def test_shape_box_ignores_faint_pixels():
    image = flat_image()
    image[10:20, 10:20] = (0, 128, 0)
    image[21, 21] = (240 - DEFAULT_BACKGROUND_TOLERANCE, 230, 220)

    np.testing.assert_array_equal(shape_box(image), [10, 10, 20, 20])


def test_shape_box_does_not_modify_input():
    image = flat_image()
    image[1:3, 1:3] = 0
    before = image.copy()
    shape_box(image)

    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 3), dtype=np.float32), "uint8"),
        (np.zeros((8, 8), dtype=np.uint8), r"\(H, W, 3\)"),
        (flat_image(), "no pixel differs"),
    ],
)
def test_shape_box_rejects_bad_images(image, message):
    with pytest.raises(ValueError, match=message):
        shape_box(image)


def test_shape_box_rejects_bad_tolerance():
    with pytest.raises(ValueError, match="tolerance"):
        shape_box(flat_image(), tolerance=300)


def test_easy_vqa_boxes_cover_all_foreground(easy_vqa_subset):
    for image, box in zip(easy_vqa_subset.images, easy_vqa_subset.boxes.astype(int)):
        difference = np.abs(image.astype(int) - background_color(image)).max(axis=2)
        outside = np.ones(difference.shape, dtype=bool)
        outside[box[1] : box[3], box[0] : box[2]] = False
        assert difference[outside].max() <= DEFAULT_BACKGROUND_TOLERANCE
        # Each edge of the box touches a foreground pixel, so the box is tight.
        inside = difference[box[1] : box[3], box[0] : box[2]] > DEFAULT_BACKGROUND_TOLERANCE
        assert inside[0].any()
        assert inside[-1].any()
        assert inside[:, 0].any()
        assert inside[:, -1].any()


def test_easy_vqa_boxes_match_connected_component(easy_vqa_subset):
    # Second method: the bounding slice of the largest 8-connected component
    # of pixels whose colour is closer to the shape colour than to the background.
    for image, box, color in zip(easy_vqa_subset.images, easy_vqa_subset.boxes, easy_vqa_subset.colors):
        pixels = image.astype(float)
        to_shape = np.linalg.norm(pixels - np.array(EASY_VQA_COLOR_RGB[color]), axis=2)
        to_background = np.linalg.norm(pixels - background_color(image), axis=2)
        labels, count = ndimage.label(to_shape < to_background, structure=np.ones((3, 3)))
        assert count >= 1
        sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, count + 1))
        rows, columns = ndimage.find_objects(labels)[int(np.argmax(sizes))]
        reference = np.array([columns.start, rows.start, columns.stop, rows.stop])
        # Anti-aliased edge pixels may fall on either side of the two rules.
        assert np.abs(reference - box).max() <= 1


def test_box_iou_hand_computed():
    a = np.array([0, 0, 4, 4])
    b = np.array([2, 2, 6, 6])

    assert box_iou(a, b) == pytest.approx(4 / 28)
    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, [4, 0, 8, 4]) == 0.0


def test_box_iou_matches_pixel_count():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 15, size=(200, 2, 2))
    sizes = rng.integers(1, 10, size=(200, 2, 2))
    a = np.concatenate([starts[:, 0], starts[:, 0] + sizes[:, 0]], axis=1)
    b = np.concatenate([starts[:, 1], starts[:, 1] + sizes[:, 1]], axis=1)
    expected = []
    for box_a, box_b in zip(a, b):
        mask_a = np.zeros((30, 30), dtype=bool)
        mask_b = np.zeros((30, 30), dtype=bool)
        mask_a[box_a[1] : box_a[3], box_a[0] : box_a[2]] = True
        mask_b[box_b[1] : box_b[3], box_b[0] : box_b[2]] = True
        expected.append((mask_a & mask_b).sum() / (mask_a | mask_b).sum())

    np.testing.assert_allclose(box_iou(a, b), expected)


def test_box_iou_broadcasts():
    boxes = np.array([[0, 0, 2, 2], [0, 0, 4, 4]])

    np.testing.assert_allclose(box_iou(boxes, [0, 0, 2, 2]), [1.0, 0.25])
    assert box_iou(boxes[:, None], boxes[None]).shape == (2, 2)


def test_box_iou_degenerate_boxes_are_empty():
    assert box_iou([3, 3, 1, 1], [0, 0, 4, 4]) == 0.0
    assert box_iou([1, 1, 1, 1], [1, 1, 1, 1]) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([0, 0, 1], [0, 0, 1, 1], "shape"),
        ([0, 0, np.nan, 1], [0, 0, 1, 1], "NaN"),
        (np.zeros((2, 4)), np.zeros((3, 4)), "broadcast"),
    ],
)
def test_box_iou_rejects_bad_boxes(a, b, message):
    with pytest.raises(ValueError, match=message):
        box_iou(a, b)


def test_box_to_text_format():
    text = box_to_text(np.array([12.0, 30.0, 40.0, 58.0]), 64)

    assert text == "[x_min, y_min, x_max, y_max] = [12, 30, 40, 58] on a 64x64 image"


def test_box_text_round_trip():
    box = np.array([12.4, 29.6, 40.0, 58.5])
    text = box_to_text(box, (64, 48))

    assert text.endswith("on a 64x48 image")
    np.testing.assert_array_equal(text_to_box(text), [12, 30, 40, 58])


@pytest.mark.parametrize("text", ["[12, 30, 40, 58]", "", "[x_min, y_min, x_max, y_max] = [1, 2, 3] on a 64x64 image"])
def test_text_to_box_rejects_other_text(text):
    with pytest.raises(ValueError, match="must look like"):
        text_to_box(text)


@pytest.mark.parametrize(("box", "size"), [([1, 2, 3], 64), ([1, 2, 3, 4], 0), ([1, 2, 3, 4], (64, 64, 3))])
def test_box_to_text_rejects_bad_input(box, size):
    with pytest.raises(ValueError):
        box_to_text(box, size)
