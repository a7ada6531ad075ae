"""Ground truth of the synthetic text-QA chapter: answer accuracy of a head trained on each text-zoo member.

For every member of the text zoo (emms_ref.features.text_zoo), a small MLP
answer head over the closed answer vocabulary (13 easy-VQA answers) is
trained on the member's frozen (context, question) pair features of the
synthetic training task, and its accuracy is measured on the synthetic
contexts and questions of the easy-VQA test split. The task is synthetic:
contexts are written from easy-VQA metadata (emms_ref.tasks.text_qa).

Usage (the command behind ``results/text_qa_ground_truth.json``)::

    python scripts/text_qa_ground_truth.py --threads 1

Protocol: features standardised with the mean and std of the fitting rows;
head Linear(1536, 64) - ReLU - Linear(64, 13) (``--hidden 0`` gives a linear head);
Adam with coupled L2 weight decay 1e-4, batch 256, cosine annealing of the
learning rate to 0, cross-entropy; the learning rate is chosen from the grid
by the mean accuracy over seeds on a held-out 10 % of the training images
(all questions of a held-out image are held out, since they share its
context), then the head is retrained on all training questions for every seed
and scored on the test questions. The JSON stores the protocol, per-seed
test accuracies, the chosen rate, the command, the UTC date, the hardware
and the wall-clock times.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from emms_ref.experiments import default_cache_dir  # noqa: E402
from emms_ref.experiments.text_qa import TEXT_QA_TRAIN_IMAGES  # noqa: E402
from emms_ref.features.text_zoo import cached_pair_features, get_text_zoo_member, text_zoo_member_names  # noqa: E402
from emms_ref.tasks.text_qa import load_synthetic_text_qa  # noqa: E402
from emms_ref.experiments.provenance import cpu_model_name  # noqa: E402

logger = logging.getLogger("text_qa_ground_truth")


def standardize(fit: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale columns to zero mean and unit std with the statistics of ``fit``; constant columns are only centred."""
    mean = fit.mean(axis=0, dtype=np.float64)
    std = fit.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return [((array - mean) / std).astype(np.float32) for array in (fit, *others)]


def make_head(width: int, hidden: int, num_classes: int) -> nn.Module:
    """Return Linear-ReLU-Linear with ``hidden`` units, or one Linear layer when ``hidden`` is 0."""
    if hidden == 0:
        return nn.Linear(width, num_classes)
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def train_head(features, labels, *, num_classes, hidden, lr, seed, epochs, batch_size, weight_decay) -> nn.Module:
    """Train an answer head on fixed standardised features with cross-entropy; return it in eval mode."""
    inputs = torch.from_numpy(features)
    targets = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = make_head(inputs.shape[1], hidden, num_classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(inputs) // batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(head(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return head.eval()


def accuracy(head: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """Return the fraction of rows whose arg-max logit equals the label."""
    with torch.no_grad():
        predictions = head(torch.from_numpy(features)).argmax(dim=1).numpy()
    return float(np.mean(predictions == labels))


def evaluate_member(train_features, train_labels, test_features, test_labels, val_rows, args, num_classes) -> dict:
    """Choose the learning rate on held-out training images, retrain per seed, return the result entry."""
    options = {"num_classes": num_classes, "hidden": args.hidden, "epochs": args.epochs, "batch_size": args.batch_size,
               "weight_decay": args.weight_decay}
    fit_rows = ~val_rows
    fit, val = standardize(train_features[fit_rows], train_features[val_rows])
    validation = {}
    for lr in args.learning_rates:
        scores = [
            accuracy(train_head(fit, train_labels[fit_rows], lr=lr, seed=seed, **options), val, train_labels[val_rows])
            for seed in args.seeds
        ]
        validation[lr] = float(np.mean(scores))
    # max() keeps the first maximum, so ties go to the smaller rate.
    chosen_lr = max(args.learning_rates, key=lambda lr: validation[lr])

    train_all, test = standardize(train_features, test_features)
    test_scores = [
        accuracy(train_head(train_all, train_labels, lr=chosen_lr, seed=seed, **options), test, test_labels)
        for seed in args.seeds
    ]
    return {
        "feature_dim": int(train_features.shape[1]),
        "validation_accuracy_by_lr": {repr(lr): value for lr, value in validation.items()},
        "chosen_lr": chosen_lr,
        "test_accuracy_per_seed": dict(zip(map(str, args.seeds), test_scores)),
        "test_accuracy_mean": float(np.mean(test_scores)),
        # Sample standard deviation (ddof=1) over seeds; 0 for a single seed.
        "test_accuracy_std": float(np.std(test_scores, ddof=1)) if len(test_scores) > 1 else 0.0,
    }




def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="Text-zoo members to evaluate (default: every member whose package is installed).")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="Training seeds.")

    parser.add_argument("--hidden", type=int, default=64,
                        help="Hidden units of the MLP head; 0 trains a linear head.")
    parser.add_argument("--learning-rates", nargs="+", type=float, default=[3e-3, 1e-2, 3e-2],
                        help="Adam learning-rate grid.")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per training run.")
    parser.add_argument("--batch-size", type=int, default=256, help="Mini-batch size.")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="Coupled L2 weight decay of Adam.")

    parser.add_argument("--train-images", type=int, default=TEXT_QA_TRAIN_IMAGES,
                        help="First N easy-VQA training images whose synthetic contexts and questions train the head.")
    parser.add_argument("--test-images", type=int, default=None,
                        help="First N easy-VQA test images to score on (default: all 1,000).")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="Fraction of training images held out to choose the learning rate.")
    parser.add_argument("--split-seed", type=int, default=0, help="Seed of the held-out image split.")

    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="Cache root; features go to its text_features folder "
                             "(default: emms_ref.experiments.default_cache_dir()).")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "results" / "text_qa_ground_truth.json",
                        help="Result JSON.")
    args = parser.parse_args(argv)

    if not 0 < args.val_fraction < 1:
        parser.error(f"--val-fraction must be between 0 and 1, got {args.val_fraction}.")
    available = text_zoo_member_names()
    if args.models is None:
        args.models = available
    for name in args.models:
        if name not in available:
            parser.error(f"unknown or unavailable text-zoo member {name!r}; choose from: {', '.join(available)}.")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    load_before = os.getloadavg()

    train = load_synthetic_text_qa("train", max_images=args.train_images)
    test = load_synthetic_text_qa("test", max_images=args.test_images)
    vocabulary = train.answer_vocabulary
    train_labels, test_labels = train.answer_indices(), test.answer_indices()
    fit_texts = train.contexts + train.questions

    rng = np.random.default_rng(args.split_seed)
    n_images = len(train.contexts)
    val_images = rng.choice(n_images, size=max(1, round(args.val_fraction * n_images)), replace=False)
    val_rows = np.isin(train.question_context, val_images)
    # The same cache folder as text_qa_zoo_features, so the chapter reuses these files.
    cache_dir = (default_cache_dir() if args.cache_dir is None else args.cache_dir) / "text_features"

    result = {
        "description": "Test accuracy of an answer head trained on each text-zoo member's frozen features "
                       "(ground truth of the synthetic text-QA chapter).",
        "dataset": {
            "name": "synthetic text QA: contexts written from easy-VQA metadata (emms_ref.tasks.text_qa), "
                    "easy-VQA questions and answers",
            "train_images": n_images,
            "train_questions": len(train.questions),
            "test_images": len(test.contexts),
            "test_questions": len(test.questions),
            "answer_vocabulary": vocabulary,
        },
        "protocol": {
            "features": "[u, v, |u - v|, u * v] of context embedding u and question embedding v (1,536-d)",
            "head": (f"Linear({{D}}, {args.hidden}) - ReLU - Linear({args.hidden}, {len(vocabulary)})" if args.hidden
                     else f"Linear({{D}}, {len(vocabulary)})") + " over the answer vocabulary, PyTorch default "
                    "init under the seed; D = 1536",
            "hidden_units": args.hidden,
            "optimizer": "Adam, coupled L2 weight decay, cosine annealing of the lr to 0, cross-entropy",
            "learning_rates": args.learning_rates,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "weight_decay": args.weight_decay,
            "seeds": args.seeds,
            "lr_selection": (
                f"mean accuracy over seeds on the questions of {len(val_images)} held-out training images "
                f"(split seed {args.split_seed}), head fitted on the other images' questions; ties go to the "
                "smaller rate; then retrained on all training questions per seed and scored on the test questions"
            ),
            "standardisation": "mean and std of the rows the head is fitted on",
            "accuracy_std": "sample standard deviation over seeds (ddof=1)",
        },
        "command": shlex.join(["python", "scripts/text_qa_ground_truth.py", *(sys.argv[1:] if argv is None else argv)]),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": {
            "cpu_model": cpu_model_name(),
            "cpu_count": os.cpu_count(),
            "torch_num_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
        },
        "models": {},
    }

    for name in tqdm(args.models, desc="text-zoo members", unit="model"):
        member = get_text_zoo_member(name)
        model_start = time.perf_counter()
        encoders = member.build(fit_texts if member.needs_fit_texts else None)
        features, extraction = {}, {}
        for part, task in (("train", train), ("test", test)):
            part_start = time.perf_counter()
            features[part] = cached_pair_features(
                encoders, task.contexts, task.questions, task.question_context, cache_dir=cache_dir
            )
            extraction[part] = round(time.perf_counter() - part_start, 2)
        entry = {"role": member.role, "description": member.description}
        entry.update(evaluate_member(features["train"], train_labels, features["test"], test_labels,
                                     val_rows, args, len(vocabulary)))
        entry["extraction_seconds"] = extraction
        entry["wall_clock_seconds"] = round(time.perf_counter() - model_start, 2)
        result["models"][name] = entry
        logger.info("%s: test accuracy %.4f +- %.4f (lr %g, %.0f s)", name, entry["test_accuracy_mean"],
                    entry["test_accuracy_std"], entry["chosen_lr"], entry["wall_clock_seconds"])

        # Rewrite the file after every model so that an interrupted run keeps its results.
        result["total_wall_clock_seconds"] = round(time.perf_counter() - started, 2)
        # Other jobs on the machine slow the run down; the 1-minute load averages show how busy it was.
        result["hardware"]["load_average_1min_start_end"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    logger.info("wrote %s in %.0f s", args.output, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
