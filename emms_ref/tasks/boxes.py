"""Axis-aligned bounding boxes: from background thresholding, IoU, and as text.

A box is a float64 array ``[x_min, y_min, x_max, y_max]`` in pixels, where
``x`` counts columns and ``y`` counts rows from the top-left corner and the
maximum is exclusive: the box of a single pixel at column 3, row 5 is
``[3, 5, 4, 6]``, and ``image[y_min:y_max, x_min:x_max]`` is its crop.

The text form of a box, which the referring expression chapter embeds as an
F-label, is written by :func:`box_to_text` and parsed by
:func:`text_to_box`::

    [x_min, y_min, x_max, y_max] = [12, 30, 40, 58] on a 64x64 image

with coordinates rounded to whole pixels.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "DEFAULT_BACKGROUND_TOLERANCE",
    "background_color",
    "box_iou",
    "box_to_text",
    "shape_box",
    "text_to_box",
]

# Maximum absolute difference in any RGB channel (0-255) for a pixel to count
# as background. easy-VQA backgrounds are a single flat colour, so only the
# faintest anti-aliased edge pixels of a shape fall under this threshold.
DEFAULT_BACKGROUND_TOLERANCE = 16

_BOX_TEXT = re.compile(
    r"^\s*\[x_min, y_min, x_max, y_max\] = \[\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*(-?\d+)\s*\]"
    r" on a (\d+)x(\d+) image\s*$"
)


def background_color(image: np.ndarray) -> np.ndarray:
    """Return the most frequent colour of the image border as int16 RGB of shape (3,).

    easy-VQA backgrounds are one flat colour. A shape can touch a corner, so a
    single corner pixel is no reliable background sample, but it never covers
    most of the border.
    """
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]]).astype(np.int32)
    codes, counts = np.unique(border[:, 0] << 16 | border[:, 1] << 8 | border[:, 2], return_counts=True)
    code = codes[np.argmax(counts)]
    return np.array([code >> 16, (code >> 8) & 255, code & 255], dtype=np.int16)


def shape_box(image: np.ndarray, *, tolerance: int = DEFAULT_BACKGROUND_TOLERANCE) -> np.ndarray:
    """Compute the bounding box of the pixels that differ from the background colour.

    The background colour is the most frequent colour of the border pixels
    (:func:`background_color`). A pixel is foreground if any RGB channel
    differs from it by more than ``tolerance``.

    Parameters
    ----------
    image : numpy.ndarray
        Shape (H, W, 3), dtype uint8, RGB. Not modified.
    tolerance : int
        Largest channel difference, in 0-255 units, that still counts as background.

    Returns
    -------
    numpy.ndarray
        Shape (4,), float64, ``[x_min, y_min, x_max, y_max]`` with exclusive maximum.

    Raises
    ------
    ValueError
        If ``image`` is not a (H, W, 3) uint8 array, ``tolerance`` is outside
        [0, 255], or no pixel differs from the background.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be a uint8 array of shape (H, W, 3), got {image.dtype} {image.shape}.")
    if not 0 <= int(tolerance) <= 255:
        raise ValueError(f"tolerance must lie in [0, 255], got {tolerance}.")

    pixels = image.astype(np.int16)
    background = background_color(image)
    foreground = np.abs(pixels - background).max(axis=2) > tolerance
    rows = np.flatnonzero(foreground.any(axis=1))
    columns = np.flatnonzero(foreground.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"no pixel differs from the background colour {background.tolist()} by more than {tolerance}.")
    return np.array([columns[0], rows[0], columns[-1] + 1, rows[-1] + 1], dtype=np.float64)


def _as_boxes(boxes, name: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4) with [x_min, y_min, x_max, y_max], got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite coordinates.")
    return array


def box_iou(a, b) -> np.ndarray:
    """Compute the intersection over union of boxes ``a`` and ``b``, element by element.

    Parameters
    ----------
    a, b : array-like
        Shapes (..., 4) that broadcast against each other, ``[x_min, y_min,
        x_max, y_max]``. A box with ``x_max <= x_min`` or ``y_max <= y_min``
        (a regression head can predict one) has zero area. Not modified.

    Returns
    -------
    numpy.ndarray
        IoU in [0, 1] of the broadcast shape without the last axis. Two
        zero-area boxes have IoU 0.

    Raises
    ------
    ValueError
        If the last axis is not 4 long, a coordinate is not finite, or the
        shapes do not broadcast.
    """
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"a and b must broadcast against each other, got shapes {a.shape} and {b.shape}.") from None

    def area(box):
        return np.clip(box[..., 2] - box[..., 0], 0, None) * np.clip(box[..., 3] - box[..., 1], 0, None)

    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    intersection = width * height
    union = area(a) + area(b) - intersection
    safe_union = np.where(union > 0, union, 1.0)
    return np.where(union > 0, intersection / safe_union, 0.0)


def _image_size(image_size) -> tuple[int, int]:
    if np.ndim(image_size) == 0:
        width = height = image_size
    elif len(image_size) == 2:
        width, height = image_size
    else:
        raise ValueError(f"image_size must be an int or (width, height), got {image_size!r}.")
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise ValueError(f"image_size must hold positive whole numbers, got {image_size!r}.")
    return int(width), int(height)


def box_to_text(box, image_size) -> str:
    """Write a box as text, for example ``[x_min, y_min, x_max, y_max] = [12, 30, 40, 58] on a 64x64 image``.

    Parameters
    ----------
    box : array-like
        Shape (4,), ``[x_min, y_min, x_max, y_max]`` in pixels. Coordinates
        are rounded to whole pixels (half to even, as :func:`numpy.rint`).
    image_size : int or (int, int)
        Side of a square image, or ``(width, height)``, in pixels.

    Raises
    ------
    ValueError
        If ``box`` is not 4 finite numbers or ``image_size`` is not positive.
    """
    box = _as_boxes(box, "box")
    if box.shape != (4,):
        raise ValueError(f"box must have shape (4,), got {box.shape}; call box_to_text once per box.")
    width, height = _image_size(image_size)
    coordinates = ", ".join(str(int(value)) for value in np.rint(box))
    return f"[x_min, y_min, x_max, y_max] = [{coordinates}] on a {width}x{height} image"


def text_to_box(text: str) -> np.ndarray:
    """Parse the text written by :func:`box_to_text` back into a float64 box of shape (4,).

    Raises
    ------
    ValueError
        If ``text`` does not have the form
        ``[x_min, y_min, x_max, y_max] = [X0, Y0, X1, Y1] on a WxH image``.
    """
    match = _BOX_TEXT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"text must look like '[x_min, y_min, x_max, y_max] = [12, 30, 40, 58] on a 64x64 image', got {text!r}."
        )
    return np.array([float(value) for value in match.groups()[:4]], dtype=np.float64)
