"""Train an answer head on every zoo member's frozen easy-VQA features and record its test accuracy.

The accuracies are the ground truth of the VQA chapter (notebooks/vqa.md).
easy-VQA is a synthetic data set (shapes on flat backgrounds, templated
questions), read from the package easy-vqa 1.0.

Protocol
    A sample is an (image, question) pair. Its feature is the concatenation of
    the member's pooled image features and the all-MiniLM-L6-v2 encoding of
    the question, which is the same for every member. Both parts are
    standardised with the mean and std of the images and questions the head
    is fitted on. The head is an MLP with one hidden layer of 128 ReLU units
    and a softmax over the 13 answers. It is trained with Adam, coupled L2
    weight decay, a cosine learning-rate schedule to 0 and cross-entropy, on
    mini-batches of 128 images with all their questions. The learning rate is
    chosen from a grid by answer accuracy (seed 0) on a held-out 10% of the
    train images, fitted on the other 90%. The head is then retrained on all
    train images with every seed and scored on the test images.

    The first layer acts on the image and question parts separately and adds
    the results, which equals one linear layer on their concatenation but
    computes each image's part once per batch instead of once per question.

Usage (the command behind ``results/vqa_ground_truth.json``)::

    python scripts/vqa_ground_truth.py --threads 1

Most of the run time is feature extraction. The features are cached under
``.cache/features/``, and the first 1,000 train images use the same cache
files as the VQA chapter.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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

from emms_ref.experiments.easy_vqa_features import (
    easy_vqa_train_features,
    easy_vqa_question_features,
    easy_vqa_zoo_features,
)
from emms_ref.features import MODEL_ZOO, get_zoo_member
from emms_ref.tasks.easy_vqa import load_easy_vqa
from emms_ref.experiments.provenance import torch_cpu_description

logger = logging.getLogger("vqa_ground_truth")

REPO_ROOT = Path(__file__).resolve().parents[1]


class AnswerHead(nn.Module):
    """One-hidden-layer MLP on concat(image features, question encoding), with a factored first layer."""

    def __init__(self, image_dim: int, question_dim: int, hidden: int, num_answers: int) -> None:
        super().__init__()
        self.image_layer = nn.Linear(image_dim, hidden)
        self.question_layer = nn.Linear(question_dim, hidden, bias=False)
        self.output = nn.Linear(hidden, num_answers)

    def forward(self, image_features, question_features, image_index, question_index):
        hidden = self.image_layer(image_features)[image_index] + self.question_layer(question_features)[question_index]
        return self.output(F.relu(hidden))


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every column to zero mean and unit std on ``train``; constant columns keep std 1."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return [((array - mean) / std).astype(np.float32) for array in (train, *others)]


def split_features(image_features, question_image, question_index, images):
    """Restrict a split to the given image indices and renumber the question rows' image index."""
    images = np.asarray(images)
    position = np.full(len(image_features), -1)
    position[images] = np.arange(len(images))
    keep = position[question_image] >= 0
    return image_features[images], position[question_image[keep]], question_index[keep], keep


def train_answer_head(data: dict, *, lr: float, seed: int, args) -> AnswerHead:
    """Fit an AnswerHead with Adam and a cosine schedule on mini-batches of images with all their questions."""
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    image_features = torch.from_numpy(data["image_features"])
    question_features = torch.from_numpy(data["question_features"])
    answers = torch.from_numpy(data["answers"])
    question_image = data["question_image"]

    order = np.argsort(question_image, kind="stable")
    counts = np.bincount(question_image, minlength=len(image_features))
    starts = np.concatenate([[0], np.cumsum(counts)])

    head = AnswerHead(image_features.shape[1], question_features.shape[1], args.hidden, args.num_answers)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=args.weight_decay)
    batches_per_epoch = math.ceil(len(image_features) / args.batch_images)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * batches_per_epoch)

    head.train()
    for _ in range(args.epochs):
        permutation = generator.permutation(len(image_features))
        for first in range(0, len(permutation), args.batch_images):
            batch = permutation[first : first + args.batch_images]
            rows = np.concatenate([order[starts[image] : starts[image + 1]] for image in batch])
            local_image = np.repeat(np.arange(len(batch)), counts[batch])
            logits = head(
                image_features[batch],
                question_features,
                torch.from_numpy(local_image),
                torch.from_numpy(data["question_index"][rows]),
            )
            loss = F.cross_entropy(logits, answers[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return head.eval()


def answer_accuracy(head: AnswerHead, data: dict) -> float:
    with torch.no_grad():
        logits = head(
            torch.from_numpy(data["image_features"]),
            torch.from_numpy(data["question_features"]),
            torch.from_numpy(data["question_image"]),
            torch.from_numpy(data["question_index"]),
        )
    return float((logits.argmax(dim=1).numpy() == data["answers"]).mean())




def run_member(name: str, train, test, questions: dict, args) -> dict:
    """Extract features of one member, select the learning rate and return its test accuracies."""
    member = get_zoo_member(name)
    train_features, train_seconds = easy_vqa_train_features(train.images, name, cache_dir=args.cache_dir)
    test_features, timing = easy_vqa_zoo_features(
        test.images, split="test", members=[name], cache_dir=args.cache_dir, progress=False
    )
    test_features = test_features[name]
    extraction_seconds = {"train": round(train_seconds, 2), "test": round(timing[name], 2)}

    # Selection: fit on 90% of the train images, score on the other 10% (split seed 0).
    split_rng = np.random.default_rng(0)
    validation_images = np.sort(split_rng.choice(len(train.images), size=len(train.images) // 10, replace=False))
    fit_images = np.setdiff1d(np.arange(len(train.images)), validation_images)

    def build(fit_features, fit_question_image, fit_question_index, fit_answers, others):
        """Standardise with the fitted images and their questions, then package every evaluation set."""
        question_rows = questions["encodings"][fit_question_index]
        mean = question_rows.mean(axis=0)
        std = np.where(question_rows.std(axis=0) > 1e-12, question_rows.std(axis=0), 1.0)
        question_features = ((questions["encodings"] - mean) / std).astype(np.float32)
        image_sets = standardize(fit_features, *[features for features, *_ in others])
        datasets = [
            {
                "image_features": image_sets[0],
                "question_features": question_features,
                "question_image": fit_question_image,
                "question_index": fit_question_index,
                "answers": fit_answers,
            }
        ]
        for image_features, (_, question_image, question_index, answers) in zip(image_sets[1:], others):
            datasets.append(
                {
                    "image_features": image_features,
                    "question_features": question_features,
                    "question_image": question_image,
                    "question_index": question_index,
                    "answers": answers,
                }
            )
        return datasets

    train_answers = questions["train_answers"]
    fit_features, fit_question_image, fit_question_index, fit_keep = split_features(
        train_features, train.question_image, questions["train_index"], fit_images
    )
    validation_features, validation_question_image, validation_question_index, validation_keep = split_features(
        train_features, train.question_image, questions["train_index"], validation_images
    )
    fit_data, validation_data = build(
        fit_features,
        fit_question_image,
        fit_question_index,
        train_answers[fit_keep],
        [(validation_features, validation_question_image, validation_question_index, train_answers[validation_keep])],
    )
    validation_accuracy = {}
    for lr in args.learning_rates:
        head = train_answer_head(fit_data, lr=lr, seed=args.seeds[0], args=args)
        validation_accuracy[lr] = answer_accuracy(head, validation_data)
    chosen_lr = max(args.learning_rates, key=lambda lr: (validation_accuracy[lr], -lr))

    full_data, test_data = build(
        train_features,
        np.asarray(train.question_image),
        questions["train_index"],
        train_answers,
        [(test_features, np.asarray(test.question_image), questions["test_index"], questions["test_answers"])],
    )
    test_accuracy = [
        answer_accuracy(train_answer_head(full_data, lr=chosen_lr, seed=seed, args=args), test_data)
        for seed in args.seeds
    ]
    return {
        "is_control": member.is_control,
        "trained_on_cifar10": member.trained_on_target,
        "description": member.description,
        "feature_dim": int(train_features.shape[1]),
        "chosen_lr": chosen_lr,
        "validation_accuracy": {str(lr): round(value, 5) for lr, value in validation_accuracy.items()},
        "test_accuracy_per_seed": [round(value, 5) for value in test_accuracy],
        "test_accuracy_mean": round(float(np.mean(test_accuracy)), 5),
        "test_accuracy_std": round(float(np.std(test_accuracy, ddof=1)) if len(test_accuracy) > 1 else 0.0, 5),
        "extraction_seconds": extraction_seconds,
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--train-images", type=int, default=2000, help="first train images by id (default 2000)")
    parser.add_argument("--test-images", type=int, default=None, help="first test images by id (default: all 1000)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_ZOO), help="zoo member names (default: all)")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128, help="hidden ReLU units of the head")
    parser.add_argument("--batch-images", type=int, default=128, help="images per mini-batch, with all their questions")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: .cache or $EMMS_CACHE_DIR)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "results" / "vqa_ground_truth.json")
    args = parser.parse_args(argv)
    if args.train_images < 20:
        parser.error(f"--train-images must be at least 20, got {args.train_images}")
    if args.threads < 1:
        parser.error(f"--threads must be positive, got {args.threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    train = load_easy_vqa("train", max_images=args.train_images)
    test = load_easy_vqa("test", max_images=args.test_images)
    args.num_answers = len(train.answer_vocabulary)
    distinct = sorted(set(train.questions) | set(test.questions))
    position = {question: index for index, question in enumerate(distinct)}
    questions = {
        "encodings": easy_vqa_question_features(distinct, cache_dir=args.cache_dir),
        "train_index": np.array([position[q] for q in train.questions], dtype=np.int64),
        "test_index": np.array([position[q] for q in test.questions], dtype=np.int64),
        "train_answers": train.answer_indices(),
        "test_answers": test.answer_indices(),
    }

    command_arguments = sys.argv[1:] if argv is None else list(argv)
    result = {
        "description": "Answer accuracy on the easy-VQA test split of an MLP head on each zoo member's frozen "
        "features (ground truth of the VQA chapter; easy-VQA is synthetic).",
        "dataset": {
            "name": "easy-VQA (synthetic), package easy-vqa 1.0 from PyPI",
            "train_images": int(len(train.images)),
            "train_questions": int(len(train.questions)),
            "test_images": int(len(test.images)),
            "test_questions": int(len(test.questions)),
            "answers": train.answer_vocabulary,
        },
        "protocol": {
            "sample_features": "concat(pooled image features of the member, all-MiniLM-L6-v2 question encoding)",
            "head": f"MLP, one hidden layer of {args.hidden} ReLU units, softmax over {args.num_answers} answers",
            "standardisation": "each part with the mean and std of the images or questions the head is fitted on",
            "optimiser": f"Adam, weight decay {args.weight_decay} (coupled L2), cosine schedule to 0, cross-entropy",
            "epochs": args.epochs,
            "batch": f"{args.batch_images} images with all their questions",
            "learning_rates": args.learning_rates,
            "seeds": args.seeds,
            "lr_selection": "answer accuracy with the first seed on a held-out 10% of the train images (split seed "
            "0), fitted on the other 90%; ties go to the smaller rate; then retrained on all train images per seed",
            "accuracy_std": "sample standard deviation over seeds (ddof=1)",
        },
        "command": shlex.join(["python", "scripts/vqa_ground_truth.py", *command_arguments]),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": torch_cpu_description(),
        "timing_notes": "wall_clock_seconds covers feature extraction and head training of one model; "
        "extraction_seconds is the time of the feature extraction per split and is near 0 where the feature "
        "cache already held the features (the chapters and the other easy-VQA scripts share it)",
        "models": {},
    }

    for name in tqdm(args.models, desc="zoo members", unit="model"):
        model_start = time.perf_counter()
        entry = run_member(name, train, test, questions, args)
        entry["wall_clock_seconds"] = round(time.perf_counter() - model_start, 2)
        result["models"][name] = entry
        logger.info(
            "%s: test accuracy %.4f +- %.4f (lr %g, %.0f s)",
            name, entry["test_accuracy_mean"], entry["test_accuracy_std"], entry["chosen_lr"],
            entry["wall_clock_seconds"],
        )
        # Rewrite the file after every model, so an interrupted run keeps its results.
        result["total_wall_clock_seconds"] = round(time.perf_counter() - started, 2)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    logger.info("wrote %s in %.0f s", args.output, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
