"""Loader for the published RefCOCO files (Yu et al., ECCV 2016, UNC split), for the referring expression chapter.

RefCOCO ships, in the layout of github.com/lichengunc/refer, as a pickle of
referring expressions and a COCO-style instances file. With ``root`` holding
them and the COCO train2014 images, the layout this loader reads is::

    root/refs(unc).p      pickled list of dicts:
        {"ref_id": 0, "ann_id": 1719310, "image_id": 581857, "split": "train" | "val" | "testA" | "testB",
         "category_id": 1, "sentences": [{"sent": "the lady with the blue shirt", "sent_id": 0, ...}, ...], ...}
    root/instances.json   {"images": [{"id": 581857, "file_name": "COCO_train2014_000000581857.jpg",
                                       "width": 640, "height": 427}, ...],
                           "annotations": [{"id": 1719310, "image_id": 581857, "bbox": [x, y, w, h], ...}, ...],
                           "categories": [...]}
    root/images/COCO_train2014_000000581857.jpg

:func:`load_refcoco` returns one sample per sentence: the image resized to a
square ``image_size`` (the aspect ratio is not kept), the sentence, and the
box of the referred object converted from COCO's ``[x, y, width, height]`` to
``[x_min, y_min, x_max, y_max]`` in pixels of the resized image. Set
``EMMS_REFCOCO_ROOT`` to such a folder to run the chapter on RefCOCO (see
:func:`refcoco_root_from_environment`).

``refs(unc).p`` is a Python pickle, and unpickling runs code named in the
file, so load only a copy from a source you trust.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "REFCOCO_ROOT_VARIABLE",
    "RefExpSamples",
    "load_refcoco",
    "refcoco_root_from_environment",
]

REFCOCO_ROOT_VARIABLE = "EMMS_REFCOCO_ROOT"
_SPLITS = ("train", "val", "testA", "testB")


@dataclass(frozen=True)
class RefExpSamples:
    """Referring expressions with the box of the referred object, one sample per expression.

    Attributes
    ----------
    images : numpy.ndarray
        Shape (N, S, S, 3), uint8 RGB, read-only: the sample's image, resized.
    image_ids : numpy.ndarray
        Shape (N,), int64, COCO image id of each sample.
    phrases : list of str
        The referring expression of each sample.
    boxes : numpy.ndarray
        Shape (N, 4), float64 ``[x_min, y_min, x_max, y_max]`` in pixels of the
        resized image, exclusive maximum (see :mod:`emms_ref.tasks.boxes`).
    image_size : int
        The side S.
    """

    images: np.ndarray
    image_ids: np.ndarray
    phrases: list[str]
    boxes: np.ndarray
    image_size: int


def refcoco_root_from_environment() -> Path | None:
    """Return the folder named by ``EMMS_REFCOCO_ROOT``, or None when the variable is unset or empty."""
    value = os.environ.get(REFCOCO_ROOT_VARIABLE, "").strip()
    return Path(value) if value else None


def load_refcoco(
    root,
    split: str = "train",
    *,
    max_samples: int | None = None,
    image_size: int = 64,
    images_dir=None,
) -> RefExpSamples:
    """Load the RefCOCO expressions of one split with their boxes and resized images.

    Parameters
    ----------
    root : path-like
        Folder with ``refs(unc).p`` and ``instances.json``.
    split : {"train", "val", "testA", "testB"}
    max_samples : int, optional
        Keep the first ``max_samples`` sentences, in ``refs(unc).p`` order.
    image_size : int
        Side of the square resized images in pixels.
    images_dir : path-like, optional
        Folder of the COCO images named by ``instances.json``; ``root / "images"`` by default.

    Raises
    ------
    FileNotFoundError
        If a file or image is missing.
    ValueError
        If an argument is invalid, or a reference names an image or annotation
        that ``instances.json`` lacks.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}.")
    if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}.")
    if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) != max_samples or max_samples < 1):
        raise ValueError(f"max_samples must be a positive int or None, got {max_samples!r}.")

    root = Path(root)
    images_dir = root / "images" if images_dir is None else Path(images_dir)
    refs_path, instances_path = root / "refs(unc).p", root / "instances.json"
    for path in (refs_path, instances_path):
        if not path.is_file():
            raise FileNotFoundError(f"RefCOCO file not found: {path}. Set the root to the folder of the refer data.")
    with open(refs_path, "rb") as file:
        refs = pickle.load(file)  # noqa: S301 - the published format is a pickle; see the module docstring.
    with open(instances_path, encoding="utf-8") as file:
        instances = json.load(file)
    image_info = {int(entry["id"]): entry for entry in instances["images"]}
    boxes_by_annotation = {int(entry["id"]): entry["bbox"] for entry in instances["annotations"]}

    samples = [(ref, sentence) for ref in refs if ref["split"] == split for sentence in ref["sentences"]]
    if max_samples is not None:
        samples = samples[:max_samples]

    loaded: dict[int, np.ndarray] = {}
    images, image_ids, phrases, boxes = [], [], [], []
    for ref, sentence in samples:
        image_id, annotation_id = int(ref["image_id"]), int(ref["ann_id"])
        if image_id not in image_info or annotation_id not in boxes_by_annotation:
            raise ValueError(
                f"reference {ref.get('ref_id')} names image {image_id} and annotation {annotation_id}, "
                f"which {instances_path} lacks."
            )
        info = image_info[image_id]
        if image_id not in loaded:
            loaded[image_id] = _load_image(images_dir / info["file_name"], image_size)
        x, y, width, height = (float(value) for value in boxes_by_annotation[annotation_id])
        scale_x, scale_y = image_size / float(info["width"]), image_size / float(info["height"])
        images.append(loaded[image_id])
        image_ids.append(image_id)
        phrases.append(str(sentence["sent"]))
        boxes.append([x * scale_x, y * scale_y, (x + width) * scale_x, (y + height) * scale_y])

    image_array = np.stack(images) if images else np.zeros((0, image_size, image_size, 3), dtype=np.uint8)
    box_array = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    id_array = np.array(image_ids, dtype=np.int64)
    for array in (image_array, box_array, id_array):
        array.setflags(write=False)
    return RefExpSamples(images=image_array, image_ids=id_array, phrases=phrases, boxes=box_array, image_size=int(image_size))


def _load_image(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"COCO image not found: {path}.")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
