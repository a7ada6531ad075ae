"""Fine-tune every zoo member on the CIFAR-10 subset and record its test accuracy.

The accuracies are the ground truth that model-selection scores are ranked
against. Two protocols are implemented:

``head`` (default)
    Head-only fine-tuning, that is a linear probe on frozen features. The
    features of all train and test images are extracted once and cached under
    ``.cache/features/``. They are standardised with the mean and std of the
    training images, and a softmax linear layer is trained with Adam, a cosine
    learning-rate schedule and cross-entropy. The learning rate is chosen from
    a grid by the mean accuracy over seeds on a class-balanced held-out 10 %
    of the train set. The head is then retrained on all train images with
    every seed and scored on the test images. Most of the run time is
    feature extraction.

``full``
    End-to-end fine-tuning of backbone and a new linear head with SGD
    (momentum 0.9, cosine schedule), random-crop and flip augmentation at
    32x32 before the resize, and the same learning-rate selection. Meant for a
    GPU; on a CPU use ``--max-steps`` and the per-class limits for a smoke test.

Usage (the command behind ``results/cifar10_ground_truth.json``)::

    python scripts/cifar10_ground_truth.py --threads 1

On a 2-core machine shared with other jobs, one torch thread extracted
features about 7 times faster than two and trained the linear heads about
35 times faster, because busy-waiting OpenMP threads competed for the cores.
With idle cores, more threads help feature extraction.

For every model, the output JSON stores the test accuracy (mean, sample std
over seeds, per seed), the chosen learning rate, the validation accuracy of
every grid point, the input resolution and the wall-clock time. It also
records the protocol, the exact command, the UTC date and the hardware.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from emms_ref.datasets import balanced_subset, load_cifar10_subset
from emms_ref.features import MODEL_ZOO, ZooMember, extract_features, get_zoo_member
from emms_ref.features.preprocess import bilinear_resize, normalize, to_float_nchw
from emms_ref.experiments.provenance import cpu_model_name

logger = logging.getLogger("cifar10_ground_truth")

REPO_ROOT = Path(__file__).resolve().parents[1]
NUM_CLASSES = 10

# Defaults of each protocol; command-line options override them.
PROTOCOL_DEFAULTS = {
    "head": {
        "learning_rates": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
        "epochs": 30,
        "batch_size": 256,
        "weight_decay": 1e-4,
    },
    "full": {
        "learning_rates": [1e-3, 1e-2],
        "epochs": 10,
        "batch_size": 64,
        "weight_decay": 5e-4,
    },
}


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters shared by all runs of one protocol, except the learning rate and seed."""

    epochs: int
    batch_size: int
    weight_decay: float
    max_steps: int | None = None


@dataclass(frozen=True)
class Split:
    """Images and labels of the train, held-out and test parts."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    fit_index: np.ndarray  # indices into train_* used for fitting during the lr search
    val_index: np.ndarray  # held-out indices into train_* for choosing the lr


def _cosine_steps(config: TrainingConfig, num_examples: int) -> int:
    steps = config.epochs * math.ceil(num_examples / config.batch_size)
    return steps if config.max_steps is None else min(steps, config.max_steps)


# --------------------------------------------------------------------------- head protocol


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every column to zero mean and unit variance with the statistics of ``train``.

    Columns with zero variance on ``train`` are only centred. Returns new
    float32 arrays, ``train`` first.
    """
    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return [((array - mean) / std).astype(np.float32) for array in (train, *others)]


def train_linear_head(
    features: np.ndarray, labels: np.ndarray, *, lr: float, seed: int, config: TrainingConfig
) -> nn.Linear:
    """Train a softmax linear classifier on fixed features.

    Parameters
    ----------
    features : np.ndarray
        Shape (N, D), float32, standardised.
    labels : np.ndarray
        Shape (N,), int64 in [0, NUM_CLASSES).
    lr : float
        Initial Adam learning rate, annealed to 0 by a cosine schedule.
    seed : int
        Seeds the head initialisation and the mini-batch order.
    config : TrainingConfig
        Epochs, batch size, weight decay (coupled L2 of Adam) and an optional step limit.

    Returns
    -------
    torch.nn.Linear
        The trained head, in eval mode.
    """
    inputs = torch.from_numpy(features)
    targets = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(inputs.shape[1], NUM_CLASSES)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=config.weight_decay)
    total_steps = _cosine_steps(config, len(inputs))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

    step = 0
    while step < total_steps:
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = F.cross_entropy(head(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step == total_steps:
                break
    return head.eval()


def linear_head_accuracy(head: nn.Linear, features: np.ndarray, labels: np.ndarray) -> float:
    """Return the fraction of rows whose arg-max logit equals the label."""
    with torch.no_grad():
        predictions = head(torch.from_numpy(features)).argmax(dim=1).numpy()
    return float(np.mean(predictions == labels))


def extract_split_features(member: ZooMember, split: Split, args) -> tuple[np.ndarray, np.ndarray, dict]:
    """Extract (or load cached) features of the train and test images; also return timings."""
    model = member.load()
    features = {}
    seconds = {}
    for part, images in (("train", split.train_images), ("test", split.test_images)):
        start = time.perf_counter()
        features[part] = extract_features(
            model,
            images,
            batch_size=args.extract_batch_size,
            device=args.device,
            cache_path=args.cache_dir / f"{member.name}_{part}.npz",
            model_name=member.name,
            **member.preprocessing(),
        )
        seconds[part] = round(time.perf_counter() - start, 2)
    return features["train"], features["test"], seconds


def run_head_protocol(member: ZooMember, split: Split, args, config: TrainingConfig) -> dict:
    """Run the linear probe for one member and return its result entry."""
    train_features, test_features, extraction_seconds = extract_split_features(member, split, args)
    start = time.perf_counter()

    fit_features, val_features = standardize(
        train_features[split.fit_index], train_features[split.val_index]
    )
    fit_labels = split.train_labels[split.fit_index]
    val_labels = split.train_labels[split.val_index]

    validation = {}
    for lr in args.learning_rates:
        accuracies = [
            linear_head_accuracy(
                train_linear_head(fit_features, fit_labels, lr=lr, seed=seed, config=config),
                val_features,
                val_labels,
            )
            for seed in args.seeds
        ]
        validation[lr] = float(np.mean(accuracies))
    # max() returns the first maximum, so ties go to the smaller rate.
    chosen_lr = max(args.learning_rates, key=lambda lr: validation[lr])

    all_train, test = standardize(train_features, test_features)
    test_accuracies = [
        linear_head_accuracy(
            train_linear_head(all_train, split.train_labels, lr=chosen_lr, seed=seed, config=config),
            test,
            split.test_labels,
        )
        for seed in args.seeds
    ]
    return {
        "feature_dim": int(train_features.shape[1]),
        "validation_accuracy_by_lr": {repr(lr): accuracy for lr, accuracy in validation.items()},
        "chosen_lr": chosen_lr,
        "test_accuracy_per_seed": dict(zip(map(str, args.seeds), test_accuracies)),
        "extraction_seconds": extraction_seconds,
        "training_seconds": round(time.perf_counter() - start, 2),
    }


# --------------------------------------------------------------------------- full protocol


class _Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _augmented_batch(images: np.ndarray, member: ZooMember, generator: torch.Generator) -> torch.Tensor:
    """Random 32x32 crop of the image padded by 4 zero pixels, random flip, resize, normalise."""
    batch = to_float_nchw(images)
    padded = F.pad(batch, (4, 4, 4, 4))
    height, width = batch.shape[-2:]
    offsets = torch.randint(0, 9, (len(batch), 2), generator=generator)
    flips = torch.rand(len(batch), generator=generator) < 0.5
    crops = []
    for image, (top, left), flip in zip(padded, offsets.tolist(), flips.tolist()):
        crop = image[:, top : top + height, left : left + width]
        crops.append(crop.flip(-1) if flip else crop)
    batch = bilinear_resize(torch.stack(crops), member.resolution)
    return normalize(batch, member.mean, member.std)


def _plain_batch(images: np.ndarray, member: ZooMember) -> torch.Tensor:
    batch = bilinear_resize(to_float_nchw(images), member.resolution)
    return normalize(batch, member.mean, member.std)


def fine_tune(
    member: ZooMember, images: np.ndarray, labels: np.ndarray, *, lr: float, seed: int, config: TrainingConfig,
    device: torch.device,
) -> nn.Module:
    """Fine-tune the member's backbone and a new linear head end to end; return the model in eval mode."""
    backbone = member.load()
    with torch.no_grad():
        feature_dim = backbone(_plain_batch(images[:1], member)).shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _Classifier(backbone, feature_dim)
    model.to(device).train()

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=0.9, weight_decay=config.weight_decay, nesterov=True
    )
    total_steps = _cosine_steps(config, len(images))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    targets = torch.from_numpy(labels)

    step = 0
    with tqdm(total=total_steps, desc=f"fine-tune {member.name} lr={lr:g} seed={seed}", leave=False) as bar:
        while step < total_steps:
            order = torch.randperm(len(images), generator=generator).numpy()
            for start in range(0, len(images), config.batch_size):
                batch_index = order[start : start + config.batch_size]
                inputs = _augmented_batch(images[batch_index], member, generator).to(device)
                loss = F.cross_entropy(model(inputs), targets[batch_index].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                bar.update()
                if step == total_steps:
                    break
    return model.eval()


def image_accuracy(
    model: nn.Module, member: ZooMember, images: np.ndarray, labels: np.ndarray, batch_size: int,
    device: torch.device,
) -> float:
    """Return the accuracy of a fine-tuned classifier on un-augmented images."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            inputs = _plain_batch(images[start : start + batch_size], member).to(device)
            predictions = model(inputs).argmax(dim=1).cpu().numpy()
            correct += int(np.sum(predictions == labels[start : start + batch_size]))
    return correct / len(images)


def run_full_protocol(member: ZooMember, split: Split, args, config: TrainingConfig) -> dict:
    """Fine-tune one member end to end and return its result entry."""
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    start = time.perf_counter()
    fit_images = split.train_images[split.fit_index]
    fit_labels = split.train_labels[split.fit_index]
    val_images = split.train_images[split.val_index]
    val_labels = split.train_labels[split.val_index]

    def train_and_score(images, labels, eval_images, eval_labels, lr, seed):
        model = fine_tune(member, images, labels, lr=lr, seed=seed, config=config, device=device)
        return image_accuracy(model, member, eval_images, eval_labels, args.extract_batch_size, device)

    validation = {}
    for lr in args.learning_rates:
        accuracies = [train_and_score(fit_images, fit_labels, val_images, val_labels, lr, seed) for seed in args.seeds]
        validation[lr] = float(np.mean(accuracies))
    chosen_lr = max(args.learning_rates, key=lambda lr: validation[lr])

    test_accuracies = [
        train_and_score(split.train_images, split.train_labels, split.test_images, split.test_labels, chosen_lr, seed)
        for seed in args.seeds
    ]
    return {
        "validation_accuracy_by_lr": {repr(lr): accuracy for lr, accuracy in validation.items()},
        "chosen_lr": chosen_lr,
        "test_accuracy_per_seed": dict(zip(map(str, args.seeds), test_accuracies)),
        "training_seconds": round(time.perf_counter() - start, 2),
    }


# --------------------------------------------------------------------------- bookkeeping


def make_split(args) -> Split:
    """Load the CIFAR-10 subset, apply the per-class limits and hold out the validation part."""
    data = load_cifar10_subset(args.data)
    train_index = np.arange(len(data.train_labels))
    test_index = np.arange(len(data.test_labels))
    if args.train_per_class is not None:
        train_index = balanced_subset(data.train_labels, args.train_per_class)
    if args.test_per_class is not None:
        test_index = balanced_subset(data.test_labels, args.test_per_class)
    train_labels = data.train_labels[train_index]

    per_class = np.bincount(train_labels, minlength=NUM_CLASSES).min()
    val_per_class = max(1, int(round(args.val_fraction * per_class)))
    val_index = balanced_subset(train_labels, val_per_class, seed=args.split_seed)
    fit_index = np.setdiff1d(np.arange(len(train_labels)), val_index)
    return Split(
        train_images=data.train_images[train_index],
        train_labels=train_labels,
        test_images=data.test_images[test_index],
        test_labels=data.test_labels[test_index],
        fit_index=fit_index,
        val_index=val_index,
    )




def hardware_description(args) -> dict:
    device = args.device or ("cuda" if (args.protocol == "full" and torch.cuda.is_available()) else "cpu")
    description = {
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
    }
    if device.startswith("cuda"):
        description["gpu_model"] = torch.cuda.get_device_name(torch.device(device))
    return description


def summarise(entry: dict) -> dict:
    accuracies = list(entry["test_accuracy_per_seed"].values())
    entry["test_accuracy_mean"] = float(np.mean(accuracies))
    # Sample standard deviation (ddof=1) over seeds; 0 for a single seed.
    entry["test_accuracy_std"] = float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0
    return entry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--protocol", choices=sorted(PROTOCOL_DEFAULTS), default="head",
                        help="head: linear probe on frozen features; full: end-to-end fine-tuning.")
    parser.add_argument("--models", nargs="+", default=list(MODEL_ZOO), metavar="NAME",
                        help="Zoo members to evaluate.")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="Training seeds.")
    parser.add_argument("--learning-rates", nargs="+", type=float, default=None,
                        help="Learning-rate grid (default: per protocol, head 1e-4 3e-4 1e-3 3e-3 1e-2 3e-2, full 1e-3 1e-2).")
    parser.add_argument("--epochs", type=int, default=None, help="Epochs per run (default: head 30, full 10).")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="Training batch size (default: head 256, full 64).")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="L2 weight decay (default: head 1e-4, full 5e-4).")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="Stop every training run after this many optimizer steps (for smoke tests).")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="Fraction of each class's train images held out to choose the learning rate.")
    parser.add_argument("--split-seed", type=int, default=0, help="Seed of the held-out split.")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="Use only the first N train images of each class (default: all 1,000).")
    parser.add_argument("--test-per-class", type=int, default=None,
                        help="Use only the first N test images of each class (default: all 200).")
    parser.add_argument("--extract-batch-size", type=int, default=100,
                        help="Images per forward pass when extracting features or evaluating.")
    parser.add_argument("--device", default=None,
                        help="torch device, e.g. cpu or cuda (default: cpu for head, cuda if available for full).")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); use 1 on a machine shared with other jobs.")
    parser.add_argument("--data", type=Path, default=None,
                        help="CIFAR-10 subset .npz (default: data/cifar10_subset.npz).")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "features",
                        help="Folder of the feature cache files.")
    parser.add_argument("--output", type=Path, default=None,
                        help="Result JSON (default: results/cifar10_ground_truth.json for head, "
                             "results/cifar10_ground_truth_full.json for full).")
    args = parser.parse_args(argv)

    for key, value in PROTOCOL_DEFAULTS[args.protocol].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.output is None:
        suffix = "" if args.protocol == "head" else f"_{args.protocol}"
        args.output = REPO_ROOT / "results" / f"cifar10_ground_truth{suffix}.json"
    if not 0 < args.val_fraction < 1:
        parser.error(f"--val-fraction must be between 0 and 1, got {args.val_fraction}.")
    for name in args.models:
        if name not in MODEL_ZOO:
            parser.error(f"unknown model {name!r}; choose from: {', '.join(MODEL_ZOO)}.")
    return args


def protocol_description(args, config: TrainingConfig, split: Split) -> dict:
    common = {
        "name": args.protocol,
        "learning_rates": args.learning_rates,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "weight_decay": config.weight_decay,
        "max_steps": config.max_steps,
        "seeds": args.seeds,
        "lr_selection": (
            f"mean accuracy over seeds on a class-balanced held-out {args.val_fraction:.0%} of the train "
            f"images ({len(split.val_index)} images, split seed {args.split_seed}), fitted on the other "
            f"{len(split.fit_index)}; ties go to the smaller rate; then retrained on all "
            f"{len(split.train_labels)} train images per seed and scored on {len(split.test_labels)} test images"
        ),
        "accuracy_std": "sample standard deviation over seeds (ddof=1)",
    }
    if args.protocol == "head":
        common["description"] = (
            "head-only fine-tuning (linear probe): frozen pooled features, standardised with the mean and std "
            "of the images the head is fitted on; softmax linear layer with PyTorch's default init under the "
            "seed; Adam with coupled L2 weight decay; cosine annealing of the lr to 0 over all steps; "
            "cross-entropy; mini-batches reshuffled every epoch"
        )
    else:
        common["description"] = (
            "end-to-end fine-tuning: backbone plus a new linear head, SGD with Nesterov momentum 0.9 and "
            "weight decay; cosine annealing to 0; augmentation by random 32x32 crops of the image padded by "
            "4 zero pixels and random horizontal flips, before the bilinear resize; batch norm in train mode"
        )
    return common


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, weight_decay=args.weight_decay, max_steps=args.max_steps
    )

    split = make_split(args)
    run_protocol = run_head_protocol if args.protocol == "head" else run_full_protocol
    result = {
        "description": "Test accuracy of each zoo member fine-tuned on the CIFAR-10 subset (ground truth).",
        "dataset": {
            "name": "CIFAR-10 subset (data/cifar10_subset.npz)",
            "train_images": int(len(split.train_labels)),
            "test_images": int(len(split.test_labels)),
            "num_classes": NUM_CLASSES,
        },
        "protocol": protocol_description(args, config, split),
        "command": shlex.join(["python", "scripts/cifar10_ground_truth.py", *sys.argv[1:]])
        if argv is None else shlex.join(["python", "scripts/cifar10_ground_truth.py", *argv]),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": hardware_description(args),
        "timing_notes": (
            "wall_clock_seconds covers feature extraction and training of one model; extraction_seconds is "
            "the time of extract_features per split (train, test) and is near 0 when the feature cache was fresh"
            if args.protocol == "head"
            else "wall_clock_seconds covers all fine-tuning runs of one model, learning-rate search included"
        ),
        "models": {},
    }

    started = time.perf_counter()
    for name in tqdm(args.models, desc=f"{args.protocol} protocol", unit="model"):
        member = get_zoo_member(name)
        logger.info("starting %s", name)
        model_start = time.perf_counter()
        entry = {
            "resolution": member.resolution,
            "mean": list(member.mean),
            "std": list(member.std),
            "is_control": member.is_control,
            "trained_on_target": member.trained_on_target,
            "description": member.description,
            "weights_source": member.weights_source,
        }
        entry.update(run_protocol(member, split, args, config))
        entry["wall_clock_seconds"] = round(time.perf_counter() - model_start, 2)
        result["models"][name] = summarise(entry)
        logger.info(
            "%s: test accuracy %.4f +- %.4f (lr %g, %.0f s)",
            name, entry["test_accuracy_mean"], entry["test_accuracy_std"], entry["chosen_lr"],
            entry["wall_clock_seconds"],
        )

        # Rewrite the file after every model so that an interrupted run keeps its results.
        result["total_wall_clock_seconds"] = round(time.perf_counter() - started, 2)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
