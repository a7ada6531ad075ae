"""Loader for the published caption data sets in the Karpathy-split JSON format.

Karpathy and Fei-Fei (CVPR 2015) released train/val/test splits of Flickr8k,
Flickr30k and MS-COCO captions as ``dataset_flickr8k.json``,
``dataset_flickr30k.json`` and ``dataset_coco.json``. Each file is one JSON
object::

    {"dataset": "flickr8k",
     "images": [{"filename": "1000268201_693b08cb0e.jpg",
                 "filepath": "val2014",          # COCO only
                 "imgid": 0, "split": "train",   # "train", "val", "test" or "restval"
                 "sentences": [{"raw": "A child in a pink dress ...",
                                "tokens": ["a", "child", ...], "imgid": 0, "sentid": 0},
                               ...]},
                ...]}

The images are not in the file. Flickr8k and Flickr30k images lie in one
folder; COCO images lie in ``<filepath>/<filename>`` below the COCO root.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "KARPATHY_JSON_NAMES",
    "CaptionRecord",
    "find_karpathy_json",
    "load_caption_images",
    "load_karpathy_captions",
]

KARPATHY_JSON_NAMES = ("dataset_flickr8k.json", "dataset_flickr30k.json", "dataset_coco.json")
_SPLITS = ("train", "val", "test", "restval")


@dataclass(frozen=True)
class CaptionRecord:
    """One image of a Karpathy-split caption file.

    Attributes
    ----------
    image_id : int
        ``imgid`` of the image.
    relative_path : str
        Path of the image below the data set root: ``filepath/filename``
        for COCO, ``filename`` otherwise.
    split : str
        "train", "val", "test" or "restval".
    captions : tuple of str
        The raw caption sentences, in file order.
    """

    image_id: int
    relative_path: str
    split: str
    captions: tuple[str, ...]


def find_karpathy_json(root: str | os.PathLike[str]) -> Path:
    """Return the first of ``KARPATHY_JSON_NAMES`` found in ``root``.

    Raises
    ------
    FileNotFoundError
        If none of them is in ``root``; the message lists the names searched.
    """
    folder = Path(root)
    for name in KARPATHY_JSON_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no Karpathy-split caption file in {folder}; expected one of {', '.join(KARPATHY_JSON_NAMES)} "
        "(from the Karpathy splits release, cs.stanford.edu/people/karpathy/deepimagesent/)"
    )


def load_karpathy_captions(path: str | os.PathLike[str], split: str | None = "train", *, max_images: int | None = None) -> list[CaptionRecord]:
    """Read a Karpathy-split caption JSON file.

    Parameters
    ----------
    path : str or os.PathLike
        ``dataset_flickr8k.json``, ``dataset_flickr30k.json``, ``dataset_coco.json``
        or a file of the same format.
    split : {"train", "val", "test", "restval"} or None, default "train"
        Keep only images of this split; None keeps all.
    max_images : int, optional
        Keep at most this many images, in file order.

    Returns
    -------
    list of CaptionRecord

    Raises
    ------
    ValueError
        If ``split`` or ``max_images`` is invalid, or the file does not follow
        the format (missing ``images``, ``filename``, ``split`` or
        ``sentences``, or an image without captions).
    """
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS} or None, got {split!r}")
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}")

    content = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(content, dict) or not isinstance(content.get("images"), list):
        raise ValueError(f"{path} is not a Karpathy-split caption file: expected a JSON object with an 'images' list")

    records = []
    for position, entry in enumerate(content["images"]):
        missing = [key for key in ("filename", "split", "sentences") if key not in entry]
        if missing:
            raise ValueError(f"{path}: images[{position}] has no {missing}; expected keys filename, split, sentences")
        if split is not None and entry["split"] != split:
            continue
        captions = tuple(sentence["raw"].strip() for sentence in entry["sentences"])
        if not captions:
            raise ValueError(f"{path}: images[{position}] ({entry['filename']}) has no sentences")
        folder = entry.get("filepath", "")
        records.append(
            CaptionRecord(
                image_id=int(entry.get("imgid", position)),
                relative_path=f"{folder}/{entry['filename']}" if folder else entry["filename"],
                split=entry["split"],
                captions=captions,
            )
        )
        if max_images is not None and len(records) == max_images:
            break
    return records


def load_caption_images(image_root: str | os.PathLike[str], records: list[CaptionRecord], size: int = 64) -> np.ndarray:
    """Load the images of ``records``, centre-cropped to a square and resized to ``size``.

    Parameters
    ----------
    image_root : str or os.PathLike
        Folder that the ``relative_path`` of each record is relative to.
    records : list of CaptionRecord
    size : int, default 64
        Side of the output images in pixels (bilinear resize after the crop).

    Returns
    -------
    numpy.ndarray
        Shape (len(records), size, size, 3), uint8 RGB.

    Raises
    ------
    FileNotFoundError
        If an image file is missing; the message names the file and the root.
    """
    from PIL import Image

    images = np.empty((len(records), size, size, 3), dtype=np.uint8)
    for row, record in enumerate(records):
        path = Path(image_root) / record.relative_path
        if not path.is_file():
            raise FileNotFoundError(f"image {record.relative_path} not found below {image_root}; point image_root at the image folder")
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            side = min(rgb.size)
            left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
            square = rgb.crop((left, top, left + side, top + side))
            images[row] = np.asarray(square.resize((size, size), Image.BILINEAR))
    return images
