"""Train a caption decoder on every zoo member's frozen features and record its BLEU-4.

The BLEU-4 scores are the ground truth of the captioning chapter. Two tasks
are built in, both with synthetic captions:

``--dataset easy-vqa`` (default)
    Every easy-VQA image gets the five templated captions of
    :func:`emms_ref.tasks.captions.easy_vqa_captions` (shape, colour, size
    and position of its one shape). Train on the first 2,000 train images
    (those the chapter scores), test on all 1,000 test images.
``--dataset cifar10``
    Real CIFAR-10 images with the five class-name captions of
    :func:`emms_ref.tasks.captions.cifar10_captions`. Train on the 500
    first train images per class (the 5,000 that the CIFAR-10 chapter
    scores), test on the 2,000 test images of the subset.

Protocol, the same for every model and task:

* features extracted once per model and cached under ``.cache/features/``,
  shared with the other chapters on the same images. The train mean and std
  standardise train and test features;
* a decoder: a linear layer maps the features to the initial state of a
  one-layer GRU (hidden size 128) over 64-d word embeddings, and a linear
  layer maps each GRU state to next-word logits over the caption vocabulary;
* teacher forcing with cross-entropy, one training example per (image,
  caption) pair (10,000 for easy-VQA, 25,000 for CIFAR-10); Adam, constant
  learning rate, fixed epochs, mini-batches reshuffled every epoch;
* greedy decoding of one caption per test image, scored with corpus BLEU-4
  (:func:`emms_ref.tasks.captions.corpus_bleu`) against its reference captions.

With ``--captions-root`` the same protocol runs on the real images and
captions of a local Flickr8k, Flickr30k or COCO folder (Karpathy splits, see
:func:`emms_ref.experiments.captioning.published_caption_data`).

The learning rate and epoch count are fixed, not tuned per model.

Usage (the commands behind ``results/captioning_ground_truth.json`` and
``results/captioning_cifar10_ground_truth.json``)::

    python scripts/captioning_ground_truth.py --threads 1
    python scripts/captioning_ground_truth.py --threads 1 --dataset cifar10

With one torch thread on a 2-core AMD EPYC machine shared with other jobs,
and the features already in the cache, the committed run took 505 s
(``wall_seconds``), about 50 s per model for three seeds. Extracting the
features adds about 5 to 10 s per model and 1,000 images there, measured
when the cache was filled (``extraction_seconds`` per model records only
this run's cache reads). The CIFAR-10 run trains on 25,000 (image, caption)
pairs instead of 10,000; its ``wall_seconds`` is in its result file.

On published data, for example::

    python scripts/captioning_ground_truth.py --threads 1 --captions-root ~/data/flickr8k \\
        --output results/captioning_ground_truth_flickr8k.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from emms_ref.experiments.captioning import (
    caption_zoo_features,
    cifar10_caption_data,
    easy_vqa_caption_data,
    published_caption_data,
)
from emms_ref.features import MODEL_ZOO
from emms_ref.tasks.captions import corpus_bleu, tokenize_caption
from emms_ref.experiments.provenance import cpu_model_name

logger = logging.getLogger("captioning_ground_truth")

REPO_ROOT = Path(__file__).resolve().parents[1]
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
_IMAGE_SOURCES = {
    "easyvqa": "synthetic easy-VQA renders, 64 x 64",
    "cifar10": "real CIFAR-10 photos, 32 x 32",
}


class CaptionVocabulary:
    """Word <-> index map of the training captions, with padding, start and end tokens."""

    def __init__(self, captions: list[str]) -> None:
        words = sorted({word for caption in captions for word in tokenize_caption(caption)})
        self.words = [PAD, BOS, EOS, *words]
        self.index = {word: position for position, word in enumerate(self.words)}

    def encode(self, captions: list[str]) -> torch.Tensor:
        """Return (len(captions), T) int64 token ids: BOS, words, EOS, then padding."""
        rows = [[self.index[BOS], *(self.index[word] for word in tokenize_caption(caption)), self.index[EOS]] for caption in captions]
        width = max(len(row) for row in rows)
        return torch.tensor([row + [self.index[PAD]] * (width - len(row)) for row in rows], dtype=torch.int64)

    def decode(self, ids: list[int]) -> str:
        """Return the words of ``ids`` up to the first EOS, without special tokens."""
        words = []
        for token in ids:
            if token == self.index[EOS]:
                break
            if token not in (self.index[PAD], self.index[BOS]):
                words.append(self.words[token])
        return " ".join(words)


class CaptionDecoder(nn.Module):
    """GRU caption decoder whose initial state is a linear map of the image features."""

    def __init__(self, feature_dim: int, vocabulary_size: int, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.initial_state = nn.Linear(feature_dim, hidden_size)
        self.embedding = nn.Embedding(vocabulary_size, embedding_size)
        self.gru = nn.GRU(embedding_size, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, vocabulary_size)

    def forward(self, features: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Return next-word logits of shape (B, T, vocabulary) under teacher forcing."""
        state = torch.tanh(self.initial_state(features)).unsqueeze(0)
        hidden, _ = self.gru(self.embedding(input_ids), state)
        return self.output(hidden)

    @torch.no_grad()
    def greedy(self, features: torch.Tensor, bos: int, max_length: int) -> torch.Tensor:
        """Decode greedily from BOS for ``max_length`` steps and return the (B, max_length) token ids."""
        state = torch.tanh(self.initial_state(features)).unsqueeze(0)
        token = torch.full((features.shape[0], 1), bos, dtype=torch.int64)
        generated = []
        for _ in range(max_length):
            hidden, state = self.gru(self.embedding(token), state)
            token = self.output(hidden).argmax(dim=-1)
            generated.append(token)
        return torch.cat(generated, dim=1)


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both arrays with the train mean and std (std floored at 1e-6)."""
    mean = train.mean(axis=0)
    std = np.maximum(train.std(axis=0), 1e-6)
    return (train - mean) / std, (test - mean) / std


def train_and_score(train_features, train_captions, test_features, test_captions, args, seed: int) -> dict:
    """Train one decoder with ``seed`` and return its test BLEU-4 and a few example captions."""
    flat_captions = [caption for captions in train_captions for caption in captions]
    image_of_caption = np.repeat(np.arange(len(train_captions)), [len(captions) for captions in train_captions])
    vocabulary = CaptionVocabulary(flat_captions)
    token_ids = vocabulary.encode(flat_captions)

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    decoder = CaptionDecoder(train_features.shape[1], len(vocabulary.words), args.hidden_size, args.embedding_size)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=args.learning_rate)
    features = torch.from_numpy(train_features.astype(np.float32))
    caption_image = torch.from_numpy(image_of_caption)

    decoder.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(flat_captions), generator=generator)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            ids = token_ids[batch]
            logits = decoder(features[caption_image[batch]], ids[:, :-1])
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=vocabulary.index[PAD]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    decoder.eval()
    max_length = token_ids.shape[1]
    generated_ids = decoder.greedy(torch.from_numpy(test_features.astype(np.float32)), vocabulary.index[BOS], max_length)
    hypotheses = [vocabulary.decode(row) for row in generated_ids.tolist()]
    return {
        "bleu4": corpus_bleu(hypotheses, test_captions),
        "final_train_loss": float(loss.detach()),
        "examples": hypotheses[:3],
    }




def positive_int(text: str) -> int:
    """Parse a command-line integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1).")
    parser.add_argument("--models", nargs="+", default=list(MODEL_ZOO), help="Zoo member names (default: all).")
    parser.add_argument(
        "--dataset", choices=("easy-vqa", "cifar10"), default="easy-vqa",
        help="Synthetic caption task: easy-VQA shapes (default) or CIFAR-10 class captions. Ignored with --captions-root.",
    )
    parser.add_argument(
        "--train-images", type=positive_int, default=None,
        help="Train images: the first ones by id for easy-VQA and published data (default 2000, the images the "
        "chapter scores); per class for CIFAR-10 (default 500, the CIFAR-10 chapter's subset).",
    )
    parser.add_argument(
        "--test-images", type=positive_int, default=None,
        help="Test images: the first ones by id (default 1000, all of easy-VQA); per class for CIFAR-10 "
        "(default: all 2,000 test images of the subset).",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Decoder seeds (default 0 1 2).")
    parser.add_argument("--epochs", type=positive_int, default=8, help="Passes over all (image, caption) pairs (default 8).")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="Captions per step (default 256).")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="Adam learning rate (default 3e-3).")
    parser.add_argument("--hidden-size", type=positive_int, default=128, help="GRU hidden size (default 128).")
    parser.add_argument("--embedding-size", type=positive_int, default=64, help="Word embedding size (default 64).")
    parser.add_argument(
        "--captions-root", type=Path, default=None,
        help="Folder with a Karpathy-split caption file (dataset_flickr8k.json, dataset_flickr30k.json or "
        "dataset_coco.json) and its images; default: the synthetic easy-VQA captions.",
    )
    parser.add_argument(
        "--output", type=Path, default=None,
        help="Result JSON (default: results/captioning_ground_truth.json; "
        "results/captioning_cifar10_ground_truth.json with --dataset cifar10; "
        "results/captioning_published_ground_truth.json with --captions-root).",
    )
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must not repeat a seed, got {args.seeds}")
    if args.output is None:
        if args.captions_root is not None:
            # Never overwrite the committed ground truth of a synthetic task with a published-data run.
            name = "captioning_published_ground_truth.json"
        elif args.dataset == "cifar10":
            name = "captioning_cifar10_ground_truth.json"
        else:
            name = "captioning_ground_truth.json"
        args.output = REPO_ROOT / "results" / name
    return args


def load_task(args) -> tuple:
    """Return the train and test :class:`CaptionData` that ``args`` select."""
    if args.captions_root is None and args.dataset == "cifar10":
        train_per_class = 500 if args.train_images is None else args.train_images
        return (
            cifar10_caption_data("train", images_per_class=train_per_class),
            cifar10_caption_data("test", images_per_class=args.test_images),
        )
    train_images = 2000 if args.train_images is None else args.train_images
    test_images = 1000 if args.test_images is None else args.test_images
    if args.captions_root is not None:
        return (
            published_caption_data(args.captions_root, "train", max_images=train_images),
            published_caption_data(args.captions_root, "test", max_images=test_images),
        )
    return (
        easy_vqa_caption_data("train", max_images=train_images),
        easy_vqa_caption_data("test", max_images=test_images),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    train, test = load_task(args)
    train_features, train_seconds = caption_zoo_features(train, members=args.models)
    test_features, test_seconds = caption_zoo_features(test, members=args.models)

    models = {}
    for name in tqdm(args.models, desc="models", unit="model"):
        model_start = time.perf_counter()
        train_x, test_x = standardize(train_features[name], test_features[name])
        runs = {str(seed): train_and_score(train_x, train.captions, test_x, test.captions, args, seed) for seed in args.seeds}
        scores = [run["bleu4"] for run in runs.values()]
        models[name] = {
            "bleu4_mean": float(np.mean(scores)),
            # Sample standard deviation over seeds (ddof=1); 0 for one seed.
            "bleu4_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            "bleu4_per_seed": {seed: run["bleu4"] for seed, run in runs.items()},
            "final_train_loss_per_seed": {seed: run["final_train_loss"] for seed, run in runs.items()},
            "example_captions_seed0": runs[str(args.seeds[0])]["examples"],
            "feature_dim": int(train_features[name].shape[1]),
            "extraction_seconds": train_seconds[name] + test_seconds[name],
            "training_seconds": time.perf_counter() - model_start,
        }
        logger.info("%s: BLEU-4 %.4f +- %.4f", name, models[name]["bleu4_mean"], models[name]["bleu4_std"])

    result = {
        "description": "BLEU-4 of a GRU caption decoder trained on each zoo member's frozen features "
        "(ground truth of the captioning chapter).",
        "dataset": {
            "name": train.name.removesuffix("_train"),
            "synthetic": train.synthetic,
            "images": _IMAGE_SOURCES.get(train.name.removesuffix("_train"), "real images of a published caption data set"),
            "captions": "synthetic templates filled from metadata" if train.synthetic else "human-written captions",
            "train_images": len(train.images),
            "test_images": len(test.images),
            "captions_per_image": float(np.mean([len(captions) for captions in train.captions])),
        },
        "protocol": {
            "decoder": f"linear(features) -> tanh -> initial state of a 1-layer GRU (hidden {args.hidden_size}) "
            f"over {args.embedding_size}-d word embeddings -> linear next-word logits",
            "training": f"teacher forcing, cross-entropy over all (image, caption) pairs, Adam lr {args.learning_rate} "
            f"constant, {args.epochs} epochs, batch {args.batch_size}, no weight decay",
            "features": "frozen zoo features standardised with the train mean and std",
            "decoding": "greedy, one caption per test image",
            "metric": "corpus BLEU-4 (uniform weights, brevity penalty, no smoothing) against the reference captions of each image",
            "seeds": args.seeds,
            "bleu4_std": "sample standard deviation over seeds (ddof=1)",
        },
        "command": "python scripts/captioning_ground_truth.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": {
            "cpu_model": cpu_model_name(),
            "cpu_count": os.cpu_count(),
            "torch_num_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "device": "cpu",
        },
        "wall_seconds": None,
        "models": models,
    }
    result["wall_seconds"] = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s in %.0f s", args.output, result["wall_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
