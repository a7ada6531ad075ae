"""The image captioning experiment: caption data, caption F-labels, zoo features and scores.

The default task is synthetic: easy-VQA images with five templated captions
each (:func:`emms_ref.tasks.captions.easy_vqa_captions`). A second task puts
real CIFAR-10 images with five synthetic captions that name their class
(:func:`cifar10_caption_data`). With
``EMMS_CAPTIONS_ROOT`` naming a local folder that contains a Karpathy-split
caption file (Flickr8k, Flickr30k or COCO, see
:mod:`emms_ref.tasks.coco_captions_published`) and its images, the chapter
runs on those real images and captions instead. With
``EMMS_CAPTIONS_OFFICIAL_ENCODERS=1`` it adds the F-label encoders of the
official EMMS code (CLIP ViT-g-14 text tower, BERT-large, GPT-2 medium),
which need a model hub or a filled Hugging Face cache.

The F-label of an image is the mean of the embeddings of its captions, per
encoder (:func:`caption_flabels`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cifar10 import REPOSITORY, default_cache_dir

logger = logging.getLogger(__name__)

__all__ = [
    "CAPTIONS_OFFICIAL_ENCODERS_VARIABLE",
    "CAPTIONS_ROOT_VARIABLE",
    "CaptionData",
    "caption_flabels",
    "caption_task_data",
    "caption_zoo_features",
    "captioning_comparison",
    "captioning_encoders",
    "captioning_scores",
    "captioning_train_images",
    "cifar10_caption_data",
    "cifar10_captioning_comparison",
    "easy_vqa_caption_data",
    "load_captioning_ground_truth",
    "published_caption_data",
]

CAPTIONS_ROOT_VARIABLE = "EMMS_CAPTIONS_ROOT"
CAPTIONS_OFFICIAL_ENCODERS_VARIABLE = "EMMS_CAPTIONS_OFFICIAL_ENCODERS"
# Loader names in emms_ref.labels of the two encoders that ship in wheels.
_FEATURE_BLOCK = 1000
_GROUND_TRUTH_FILES = {
    "easy-vqa": "captioning_ground_truth.json",
    "cifar10": "captioning_cifar10_ground_truth.json",
}
_OFFLINE_ENCODERS = {
    "all-MiniLM-L6-v2": "load_minilm",
    "paraphrase-MiniLM-L3-v2": "load_paraphrase_minilm_onnx",
}


@dataclass(frozen=True)
class CaptionData:
    """Images with several captions each.

    Attributes
    ----------
    name : str
        Data set and split, also used in feature cache file names.
    images : numpy.ndarray
        Shape (N, H, W, 3), uint8 RGB: 64 x 64 for easy-VQA and the
        published data sets, 32 x 32 for CIFAR-10.
    captions : list of list of str
        The captions of each image.
    synthetic : bool
        True when the captions are templated from metadata.
    """

    name: str
    images: np.ndarray
    captions: list[list[str]]
    synthetic: bool


def easy_vqa_caption_data(split: str = "train", *, max_images: int | None = None) -> CaptionData:
    """Return easy-VQA images (synthetic) with five synthetic templated captions each."""
    from emms_ref.tasks.captions import easy_vqa_captions
    from emms_ref.tasks.easy_vqa import load_easy_vqa

    data = load_easy_vqa(split, max_images=max_images)
    return CaptionData(
        name=f"easyvqa_{split}",
        images=data.images,
        captions=easy_vqa_captions(data.shapes, data.colors, data.boxes),
        synthetic=True,
    )


def cifar10_caption_data(split: str = "train", *, images_per_class: int | None = None) -> CaptionData:
    """Return real CIFAR-10 images with five synthetic captions each that name their class.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: the first ``images_per_class`` training images of every
        class, by default the book's subset
        (:func:`emms_ref.experiments.book_images_per_class`), so the
        features share the cache of the CIFAR-10 chapter. ``"test"``: the
        2,000 test images of the subset, or the first ``images_per_class``
        of every class.
    images_per_class : int, optional
        See ``split``.

    Returns
    -------
    CaptionData
        Named ``"cifar10_train"`` or ``"cifar10_test"``, with the captions of
        :func:`emms_ref.tasks.captions.cifar10_captions`. Images of one
        class share their five captions, so the task is classification
        written as text.

    Raises
    ------
    ValueError
        If ``split`` is not "train" or "test", or ``images_per_class`` is not
        a positive integer no larger than the images of the smallest class.
    """
    from emms_ref.datasets import balanced_subset, load_cifar10_subset
    from emms_ref.tasks.captions import cifar10_captions

    from .cifar10 import book_images_per_class

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cifar = load_cifar10_subset()
    if split == "train":
        all_images, all_labels = cifar.train_images, cifar.train_labels
        if images_per_class is None:
            images_per_class = book_images_per_class()
    else:
        all_images, all_labels = cifar.test_images, cifar.test_labels

    if images_per_class is None:
        selected = np.arange(len(all_labels))
    else:
        _check_images_per_class(images_per_class, all_labels, split)
        # The same selection as emms_ref.experiments.cifar10_training_subset, so the feature caches match.
        selected = balanced_subset(all_labels, images_per_class)
    captions = cifar10_captions(all_labels[selected], list(cifar.class_names))
    return CaptionData(name=f"cifar10_{split}", images=all_images[selected], captions=captions, synthetic=True)


def _check_images_per_class(images_per_class, labels: np.ndarray, split: str) -> None:
    """Raise unless ``images_per_class`` is a positive integer that every class of ``labels`` can supply."""
    if isinstance(images_per_class, bool) or not isinstance(images_per_class, (int, np.integer)) or images_per_class < 1:
        raise ValueError(f"images_per_class must be a positive integer or None, got {images_per_class!r}")
    available = int(np.bincount(labels).min())
    if images_per_class > available:
        raise ValueError(
            f"images_per_class={images_per_class} is invalid: the smallest class of the {split} split of the "
            f"CIFAR-10 subset has {available} images; pass at most {available}"
        )


def published_caption_data(root, split: str = "train", *, max_images: int | None = 1000) -> CaptionData:
    """Return real images and captions of a Karpathy-split data set in the local folder ``root``.

    ``root`` contains ``dataset_flickr8k.json``, ``dataset_flickr30k.json`` or
    ``dataset_coco.json``. Images are read from ``root / "images"`` when that
    folder exists (Flickr), else from ``root`` (COCO, whose records carry the
    ``train2014``/``val2014`` folder), and resized to 64 x 64 like easy-VQA.
    """
    from emms_ref.tasks.coco_captions_published import find_karpathy_json, load_caption_images, load_karpathy_captions

    root = Path(root)
    json_path = find_karpathy_json(root)
    records = load_karpathy_captions(json_path, split, max_images=max_images)
    image_root = root / "images" if (root / "images").is_dir() else root
    return CaptionData(
        name=f"{json_path.stem.removeprefix('dataset_')}_{split}",
        images=load_caption_images(image_root, records),
        captions=[list(record.captions) for record in records],
        synthetic=False,
    )


def caption_task_data(split: str = "train", *, max_images: int | None = None) -> CaptionData:
    """Return the chapter's data: published captions when ``EMMS_CAPTIONS_ROOT`` is set, else easy-VQA."""
    root = os.environ.get(CAPTIONS_ROOT_VARIABLE, "").strip()
    if root:
        return published_caption_data(root, split, max_images=max_images)
    return easy_vqa_caption_data(split, max_images=max_images)


def captioning_encoders(*, include_gemma: bool = True, official: bool | None = None, cache_dir=None):
    """Load the F-label text encoders of the chapter.

    Parameters
    ----------
    include_gemma : bool, default True
        Add Gemma 3 270M (GGUF, :func:`emms_ref.labels.gguf_encoder.load_gemma3_gguf`).
        Its model loads only when a caption is missing from the embedding cache.
    official : bool, optional
        Add the official EMMS encoders (CLIP ViT-g-14, BERT-large, GPT-2
        medium), which need a model hub. By default read from
        ``EMMS_CAPTIONS_OFFICIAL_ENCODERS`` ("1" adds them).
    cache_dir : path-like, optional
        Where the assembled GGUF file goes; see :func:`emms_ref.experiments.default_cache_dir`.

    Returns
    -------
    encoders : dict of str to TextEncoder
        F-label name -> encoder, MiniLM-L6 and MiniLM-L3 first.
    unavailable : dict of str to str
        F-label name -> the error message of each encoder that could not be loaded.
    """
    from emms_ref import labels as label_module
    from emms_ref.labels.gguf_encoder import GGUFEncoderUnavailableError, load_gemma3_gguf

    if official is None:
        official = os.environ.get(CAPTIONS_OFFICIAL_ENCODERS_VARIABLE, "0") == "1"
    encoders = {name: getattr(label_module, loader)() for name, loader in _OFFLINE_ENCODERS.items()}
    unavailable = {}
    if include_gemma:
        try:
            gemma = load_gemma3_gguf(cache_dir=cache_dir)
            encoders[gemma.name] = gemma
        except GGUFEncoderUnavailableError as error:
            unavailable["gemma-3-270m-Q4_K_M-gguf"] = str(error)
    if official:
        for loader in ("load_clip_text", "load_bert", "load_gpt2"):
            encoder = getattr(label_module, loader)()
            encoders[encoder.name] = encoder
    return encoders, unavailable


def caption_flabels(captions, encoders, *, mode: str = "average", cache_dir=None) -> dict[str, np.ndarray]:
    """Embed captions with each encoder and turn them into F-labels.

    Parameters
    ----------
    captions : list of list of str
        The captions of each of N images.
    encoders : dict of str to TextEncoder
        F-label name -> encoder.
    mode : {"average", "per_caption"}
        ``"average"``: one row per image, the mean of its caption
        embeddings. ``"per_caption"``: one row per caption, images in order
        and their captions in order, so pair it with features repeated by
        :func:`numpy.repeat` over the caption counts.
    cache_dir : path-like, optional
        Embeddings are cached under ``cache_dir / "embeddings"``, and each
        distinct caption is encoded once.

    Returns
    -------
    dict of str to numpy.ndarray
        F-label name -> float32 array of shape (N, L) or (total captions, L).

    Raises
    ------
    ValueError
        If ``mode`` is unknown, ``captions`` is empty or an image has no caption.
    TypeError
        If ``captions`` is not a list of lists of str, for example a flat list of str.
    """
    from emms_ref.labels import EmbeddingCache, encode_cached

    if mode not in ("average", "per_caption"):
        raise ValueError(f"mode must be 'average' or 'per_caption', got {mode!r}")
    captions = _check_caption_lists(captions)
    empty = [index for index, image_captions in enumerate(captions) if not image_captions]
    if empty:
        raise ValueError(f"images {empty[:5]} have no captions; every image needs at least one")

    cache = EmbeddingCache((default_cache_dir() if cache_dir is None else Path(cache_dir)) / "embeddings")
    flat = [caption for image_captions in captions for caption in image_captions]
    distinct, inverse = np.unique(np.asarray(flat, dtype=object).astype(str), return_inverse=True)
    counts = np.array([len(image_captions) for image_captions in captions])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    f_labels = {}
    for name, encoder in encoders.items():
        rows = np.asarray(encode_cached(encoder, list(distinct), cache), dtype=np.float32)[inverse.reshape(-1)]
        if mode == "per_caption":
            f_labels[name] = rows
        else:
            f_labels[name] = (np.add.reduceat(rows.astype(np.float64), starts, axis=0) / counts[:, None]).astype(np.float32)
    return f_labels


def _check_caption_lists(captions) -> list[list[str]]:
    """Return ``captions`` as a list of lists after checking its nesting and item types."""
    from emms_ref._validation import check_texts

    if isinstance(captions, (str, bytes)):
        raise TypeError("captions must be a list with one list of str per image, got a single str")
    captions = list(captions)
    if not captions:
        raise ValueError("captions is empty; pass one list of captions per image")
    checked = []
    for index, image_captions in enumerate(captions):
        if isinstance(image_captions, (str, bytes)) or not hasattr(image_captions, "__iter__"):
            raise TypeError(
                f"captions[{index}] must be a list of str, got {type(image_captions).__name__}: {image_captions!r}; "
                "wrap each image's captions in a list, e.g. [['a cat'], ['a dog']]"
            )
        checked.append(check_texts(image_captions, argument=f"captions[{index}]"))
    return checked


def captioning_train_images() -> int:
    """Return how many easy-VQA train images the chapter scores: 2,000, or all 4,000 with EMMS_BOOK_FULL=1.

    EMMS needs more samples than feature dimensions (N > D + 1), and the
    widest zoo members have D = 1,280, so the 1,000 images of the VQA
    chapters are too few here.
    """
    return 4000 if os.environ.get("EMMS_BOOK_FULL", "0") == "1" else 2000


def caption_zoo_features(data: CaptionData, *, members=None, cache_dir=None, progress: bool = True):
    """Extract zoo features of ``data.images``, sharing the easy-VQA feature caches.

    Images are extracted in blocks of 1,000 with one cache file per block, so
    the first block is the cache of the VQA chapters (1,000 images) and the
    second one that of ``scripts/vqa_ground_truth.py``. CIFAR-10 data
    (:func:`cifar10_caption_data`) goes through
    :func:`emms_ref.experiments.cifar10_zoo_features` instead, whose
    training cache is that of the CIFAR-10 chapter.

    Returns
    -------
    features : dict of str to numpy.ndarray
        Member name -> (N, D) float32 features.
    seconds : dict of str to float
        Member name -> wall-clock seconds of this call (small on a cache hit).
    """
    from .easy_vqa_features import easy_vqa_zoo_features

    if data.name.startswith("cifar10_"):
        from . import cifar10

        return cifar10.cifar10_zoo_features(
            data.images, split=data.name.removeprefix("cifar10_"), members=members, cache_dir=cache_dir, progress=progress
        )
    # easy_vqa_zoo_features names its cache files f"{member}_easyvqa_{split}{N}".
    if data.name.startswith("easyvqa_"):
        split = data.name.removeprefix("easyvqa_")
    else:
        split = f"captions_{data.name}"
    blocks = []
    for start in range(0, len(data.images), _FEATURE_BLOCK):
        block_split = split if start == 0 else f"{split}_from{start}_"
        block = data.images[start : start + _FEATURE_BLOCK]
        blocks.append(
            easy_vqa_zoo_features(block, split=block_split, members=members, cache_dir=cache_dir, progress=progress)
        )
    names = list(blocks[0][0])
    features = {name: np.concatenate([block[0][name] for block in blocks]) for name in names}
    seconds = {name: sum(block[1][name] for block in blocks) for name in names}
    return features, seconds


def captioning_scores(features: dict, f_labels: dict) -> tuple[dict, dict, dict]:
    """Score every model with EMMS and LogME (F-labels) on the same F-label blocks.

    Returns
    -------
    scores : dict of str to list of float
        Method name ("EMMS", "LogME (F-labels)") -> one score per model, in
        the order of ``features``.
    seconds : dict of str to float
        Method name -> total wall-clock seconds over all models.
    emms_weights : dict of str to numpy.ndarray
        Model name -> the EMMS weights t of the F-label blocks, shape (K,).
    """
    from emms_ref import emms_score
    from emms_ref.baselines import logme_flabels

    blocks = list(f_labels.values())
    emms_weights = {}

    def score_emms(name):
        result = emms_score(features[name], blocks)
        emms_weights[name] = result.weights
        return result.score

    methods = {
        "EMMS": score_emms,
        "LogME (F-labels)": lambda name: logme_flabels(features[name], blocks).score,
    }
    scores, seconds = {}, {}
    for method, score in methods.items():
        start = time.perf_counter()
        scores[method] = [float(score(name)) for name in features]
        seconds[method] = time.perf_counter() - start
    return scores, seconds, emms_weights


def load_captioning_ground_truth(path=None, *, dataset: str = "easy-vqa") -> dict:
    """Read a committed ground truth written by ``scripts/captioning_ground_truth.py``.

    Parameters
    ----------
    path : path-like, optional
        A result file; by default the committed one of ``dataset``.
    dataset : {"easy-vqa", "cifar10"}
        ``results/captioning_ground_truth.json`` or
        ``results/captioning_cifar10_ground_truth.json``, when ``path`` is None.
    """
    if isinstance(path, str) and path in _GROUND_TRUTH_FILES:
        raise ValueError(f"path={path!r} names a data set; call load_captioning_ground_truth(dataset={path!r})")
    if path is None:
        if dataset not in _GROUND_TRUTH_FILES:
            raise ValueError(f"dataset must be one of {sorted(_GROUND_TRUTH_FILES)}, got {dataset!r}")
        path = REPOSITORY / "results" / _GROUND_TRUTH_FILES[dataset]
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _comparison(task: str, data: CaptionData, ground_truth: dict, *, cache_dir, progress: bool) -> dict:
    from emms_ref.evaluation import weighted_kendall_tau

    encoders, unavailable = captioning_encoders(official=False, cache_dir=cache_dir)
    f_labels = caption_flabels(data.captions, encoders, cache_dir=cache_dir)
    features, _ = caption_zoo_features(data, cache_dir=cache_dir, progress=progress)
    scores, seconds, _ = captioning_scores(features, f_labels)

    models = [name for name in features if name in ground_truth["models"]]
    truth = [ground_truth["models"][name]["bleu4_mean"] for name in models]
    index = {name: position for position, name in enumerate(features)}
    scores = {method: [values[index[name]] for name in models] for method, values in scores.items()}
    return {
        "task": task,
        "models": models,
        "ground_truth": truth,
        "scores": scores,
        "seconds": seconds,
        "weighted_tau": {method: weighted_kendall_tau(values, truth) for method, values in scores.items()},
        "flabel_encoders": list(f_labels),
        "unavailable_encoders": unavailable,
    }


def captioning_comparison(*, cache_dir=None, progress: bool = False) -> dict:
    """Rank the zoo on the synthetic easy-VQA captioning task with EMMS and LogME (F-labels).

    Uses the chapter's caches (features, caption embeddings), so it takes
    seconds after the chapter ran. The ground truth is the mean BLEU-4 of
    ``results/captioning_ground_truth.json``. Always runs on the offline
    task, whatever ``EMMS_CAPTIONS_ROOT`` is set to, because the committed ground
    truth belongs to it.

    Returns
    -------
    dict
        Keys "task", "models", "ground_truth", "scores", "seconds",
        "weighted_tau", "flabel_encoders" and "unavailable_encoders".
    """
    return _comparison(
        "image captioning (synthetic easy-VQA captions, BLEU-4)",
        easy_vqa_caption_data("train", max_images=captioning_train_images()),
        load_captioning_ground_truth(),
        cache_dir=cache_dir,
        progress=progress,
    )


def cifar10_captioning_comparison(*, cache_dir=None, progress: bool = False) -> dict:
    """Rank the zoo on CIFAR-10 images with synthetic class captions, like :func:`captioning_comparison`.

    The ground truth is the mean BLEU-4 of
    ``results/captioning_cifar10_ground_truth.json``; the features are those
    of the CIFAR-10 chapter. Returns the same keys as :func:`captioning_comparison`.
    """
    return _comparison(
        "image captioning (CIFAR-10 images, synthetic class captions, BLEU-4)",
        cifar10_caption_data("train"),
        load_captioning_ground_truth(dataset="cifar10"),
        cache_dir=cache_dir,
        progress=progress,
    )
