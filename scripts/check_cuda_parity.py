#!/usr/bin/env python3
"""Compare emms_score in numpy with torch on a CUDA device, for every method, and time both.

    .venv/bin/python scripts/check_cuda_parity.py                # CUDA, writes results/cuda_parity.json
    .venv/bin/python scripts/check_cuda_parity.py --device cpu   # the same comparison against torch on the CPU

For each synthetic problem size (N samples, D feature dimensions, L F-label
width, K F-labels) and each method, the script scores the same arrays with the
numpy backend and with torch on the device, both in float64. It prints the
score difference, the largest weight difference and both wall-clock times, and
writes a JSON record with the device name, the torch version and the date.
A row passes when the scores agree to --rtol and the weights to --atol.

Without CUDA, the default --device cuda prints a message and exits with status
0 without writing a file, so the script is safe to run on any machine.
Exit status 1 means at least one row failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from emms_ref import emms_score  # noqa: E402

DEFAULT_SIZES = ("2000x128x32x3", "10000x512x128x4", "20000x1280x384x3")
DEFAULT_CUDA_OUTPUT = REPO_ROOT / "results" / "cuda_parity.json"

# Method label -> keyword arguments of emms_score.
METHODS = {
    "exact (gram)": {"method": "exact", "factorization": "gram"},
    "exact (svd)": {"method": "exact", "factorization": "svd"},
    "alternating, exact t-step": {"method": "alternating", "t_step": "exact"},
    "alternating, fast t-step": {"method": "alternating", "t_step": "fast"},
    "release": {"method": "release"},
}


def parse_size(text: str) -> tuple[int, int, int, int]:
    """Parse "NxDxLxK" into four positive integers."""
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: expected NxDxLxK, for example 2000x128x32x3.")
    return tuple(int(part) for part in parts)


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device",
        default="cuda",
        help="torch device to compare with numpy: 'cuda', 'cuda:N' or 'cpu' (default: cuda).",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[parse_size(size) for size in DEFAULT_SIZES],
        metavar="NxDxLxK",
        help=f"synthetic problem sizes (default: {' '.join(DEFAULT_SIZES)}).",
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per backend; the minimum is reported (default: 2).")
    parser.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance on the score (default: 1e-8).")
    parser.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance on the weights (default: 1e-6).")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic problems (default: 0).")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"JSON file to write (default: {DEFAULT_CUDA_OUTPUT.relative_to(REPO_ROOT)} for CUDA devices, none for cpu).",
    )
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {arguments.repeats}.")
    return arguments


def make_problem(rng, n_samples, n_features, width, n_labels):
    """Features and F-labels Z_k = X W_k + noise_k with increasing noise levels."""
    features = rng.normal(size=(n_samples, n_features))
    signal = features @ rng.normal(size=(n_features, width)) / np.sqrt(n_features)
    f_labels = [signal + rng.normal(scale=0.5 * (k + 1), size=signal.shape) for k in range(n_labels)]
    return features, f_labels


def timed_score(features, f_labels, repeats, synchronize, **options):
    """Return the result of the last run and the fastest of ``repeats`` wall-clock times in seconds."""
    best = np.inf
    result = None
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        result = emms_score(features, f_labels, **options)
        synchronize()
        best = min(best, time.perf_counter() - start)
    return result, best


def compare(arguments, torch) -> list[dict]:
    rng = np.random.default_rng(arguments.seed)
    device = torch.device(arguments.device)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rows = []
    for n_samples, n_features, width, n_labels in arguments.sizes:
        features, f_labels = make_problem(rng, n_samples, n_features, width, n_labels)
        # Move the data once, so the torch timings exclude host-to-device copies.
        features_on_device = torch.as_tensor(features, dtype=torch.float64, device=device)
        labels_on_device = [torch.as_tensor(block, dtype=torch.float64, device=device) for block in f_labels]
        # One untimed call loads the device's linear-algebra kernels.
        emms_score(features_on_device, labels_on_device)

        for label, options in METHODS.items():
            reference, numpy_seconds = timed_score(features, f_labels, arguments.repeats, lambda: None, **options)
            result, torch_seconds = timed_score(
                features_on_device, labels_on_device, arguments.repeats, synchronize, **options
            )
            score_error = abs(result.score - reference.score) / max(abs(reference.score), np.finfo(float).tiny)
            weight_error = float(np.max(np.abs(result.weights - reference.weights)))
            rows.append(
                {
                    "n_samples": n_samples,
                    "n_features": n_features,
                    "width": width,
                    "n_labels": n_labels,
                    "method": label,
                    "numpy_score": reference.score,
                    "torch_score": result.score,
                    "score_relative_error": score_error,
                    "weight_max_abs_error": weight_error,
                    "numpy_seconds": numpy_seconds,
                    "torch_seconds": torch_seconds,
                    "backend": result.backend,
                    "passed": bool(score_error <= arguments.rtol and weight_error <= arguments.atol),
                }
            )
            print_row(rows[-1])
    return rows


def print_header():
    print(
        f"{'N x D x L x K':>22s}  {'method':26s} {'score rel. err':>14s} {'weight err':>11s} "
        f"{'numpy (s)':>10s} {'torch (s)':>10s} {'speed-up':>9s}  status"
    )


def print_row(row):
    size = f"{row['n_samples']}x{row['n_features']}x{row['width']}x{row['n_labels']}"
    speed_up = row["numpy_seconds"] / row["torch_seconds"] if row["torch_seconds"] > 0 else float("inf")
    print(
        f"{size:>22s}  {row['method']:26s} {row['score_relative_error']:14.2e} {row['weight_max_abs_error']:11.2e} "
        f"{row['numpy_seconds']:10.3f} {row['torch_seconds']:10.3f} {speed_up:9.1f}  "
        f"{'ok' if row['passed'] else 'FAILED'}",
        flush=True,
    )


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    import torch

    on_cuda = arguments.device.startswith("cuda")
    if on_cuda and not torch.cuda.is_available():
        print(
            f"CUDA is not available (torch {torch.__version__}, built for CUDA {torch.version.cuda}), "
            "so there is nothing to compare; no file was written. "
            "Run this script on a machine with a CUDA GPU, or pass --device cpu to compare numpy with torch on the CPU."
        )
        return 0

    if on_cuda:
        device_name = torch.cuda.get_device_name(torch.device(arguments.device))
    else:
        device_name = platform.processor() or platform.machine()
    print(f"device: {arguments.device} ({device_name}), torch {torch.__version__}, numpy {np.__version__}")
    print_header()
    rows = compare(arguments, torch)

    failed = [row for row in rows if not row["passed"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} comparisons within rtol={arguments.rtol:g} (score), "
          f"atol={arguments.atol:g} (weights).")

    output = arguments.output
    if output is None and on_cuda:
        output = DEFAULT_CUDA_OUTPUT
    if output is not None:
        record = {
            "device": arguments.device,
            "device_name": device_name,
            "torch_version": torch.__version__,
            "torch_cuda_version": torch.version.cuda,
            "numpy_version": np.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "rtol": arguments.rtol,
            "atol": arguments.atol,
            "repeats": arguments.repeats,
            "seed": arguments.seed,
            "all_passed": not failed,
            "rows": rows,
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
