#!/usr/bin/env python3
"""Time EMMS and LogME with F-labels against the matrix products they cannot avoid.

    .venv/bin/python benchmarks/solver_speed.py                 # CPU, about 3 minutes on an idle 2-core machine
    .venv/bin/python benchmarks/solver_speed.py --quick         # small sizes, under a minute
    .venv/bin/python benchmarks/solver_speed.py --device cuda   # the GPU column, a few minutes on one GPU
    .venv/bin/python benchmarks/solver_speed.py --device cpu-torch --quick   # torch tensors on the CPU

Two experiments, each on synthetic data (features from a standard normal
distribution, F-labels a noisy linear function of some feature columns):

1. The cost floor at N = 20,000, D = 1,024, L = 384, K = 3: the time to form
   X^T X and X^T Z on already standardised data, against every solver, with
   standardisation inside the solver's time. All timings interleave, so the
   ratios compare runs under the same machine load.
2. Sweeps of N, D, L and K around a base size, for EMMS (exact, alternating
   with fast and exact t-steps, the release's one-step scorer) and LogME with
   F-labels (vectorised over columns, and one column per loop pass as in the
   published code).

Writes results/benchmarks/solver_speed[_cuda].json with the medians, every
repeat, the command, the date and the machine, and a PNG of the sweeps next
to it. The book's benchmark page reads the JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from emms_ref import emms_score  # noqa: E402
from emms_ref.baselines import logme_flabels  # noqa: E402
from emms_ref.baselines.logme_per_column import logme_flabels_per_column  # noqa: E402

FULL = {
    "floor": (20000, 1024, 384, 3),
    "base": (5000, 512, 128, 3),
    "sweeps": {
        "N": [1000, 2500, 5000, 10000, 20000],
        "D": [64, 128, 256, 512, 1024],
        "L": [32, 64, 128, 256, 512],
        "K": [1, 2, 3, 4, 6],
    },
    "floor_repeats": 3,
    "sweep_repeats": 2,
}
QUICK = {
    "floor": (4000, 256, 64, 3),
    "base": (1000, 64, 16, 2),
    "sweeps": {"N": [500, 1000, 2000], "D": [32, 64, 128], "L": [8, 16, 32], "K": [1, 2, 3]},
    "floor_repeats": 2,
    "sweep_repeats": 1,
}

# Method name -> (description, whether it runs on CUDA).
METHODS = {
    "products": ("X^T X and X^T Z on standardised data (the cost floor)", True),
    "emms_exact": ("EMMS, exact simplex QP (default factorization='auto')", True),
    "emms_exact_eigh": ("EMMS, exact, with an eigendecomposition (factorization='gram')", True),
    "emms_alternating_fast": ("EMMS, alternating minimisation, fast t-step", True),
    "emms_alternating_exact": ("EMMS, alternating minimisation, exact t-step", True),
    "emms_release": ("EMMS as in the official release (one least-squares step)", True),
    "logme_vectorised": ("LogME with F-labels, all columns at once", True),
    "logme_per_column": ("LogME with F-labels, one column per loop pass (published code)", False),
}
SWEEP_METHODS = [name for name in METHODS if name not in ("emms_exact_eigh",)]


def make_problem(n, d, l, k, seed, device):
    """Synthetic features (N, D) and K F-label blocks (N, L), as numpy arrays or CUDA tensors."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d))
    informative = min(d, l)
    f_labels = []
    for _ in range(k):
        mixing = rng.standard_normal((informative, l)) / np.sqrt(informative)
        f_labels.append(features[:, :informative] @ mixing + rng.standard_normal((n, l)))
    if device == "cpu":
        return features, f_labels
    import torch

    target = "cpu" if device == "cpu-torch" else device
    return torch.as_tensor(features, device=target), [torch.as_tensor(block, device=target) for block in f_labels]


def standardised_copy(features, f_labels):
    """Standardise X and the stacked Z, the inputs of the cost-floor products."""
    if isinstance(features, np.ndarray):
        stacked = np.concatenate(f_labels, axis=1)
        return (features - features.mean(0)) / features.std(0), (stacked - stacked.mean(0)) / stacked.std(0)
    import torch

    stacked = torch.cat(f_labels, dim=1)
    return (
        (features - features.mean(0)) / features.std(0, unbiased=False),
        (stacked - stacked.mean(0)) / stacked.std(0, unbiased=False),
    )


def method_call(name, features, f_labels, standardised):
    """Return a zero-argument callable that runs one method once."""
    if name == "products":
        x, z = standardised
        return lambda: (x.T @ x, x.T @ z)
    options = {
        "emms_exact": {},
        "emms_exact_eigh": {"factorization": "gram"},
        "emms_alternating_fast": {"method": "alternating", "t_step": "fast"},
        "emms_alternating_exact": {"method": "alternating", "t_step": "exact"},
        "emms_release": {"method": "release"},
    }
    if name in options:
        return lambda: emms_score(features, f_labels, **options[name])
    if name == "logme_vectorised":
        return lambda: logme_flabels(features, f_labels)
    if name == "logme_per_column":
        return lambda: logme_flabels_per_column(features, f_labels)
    raise ValueError(f"unknown method {name!r}")


def time_methods(names, size, repeats, device, seed):
    """Median and all wall-clock times of each method on one problem, repeats interleaved."""
    import torch

    features, f_labels = make_problem(*size, seed=seed, device=device)
    standardised = standardised_copy(features, f_labels)
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    calls = {name: method_call(name, features, f_labels, standardised) for name in names}
    for call in calls.values():  # warm-up: imports, BLAS threads, CUDA kernels
        call()
    synchronize()
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name, call in calls.items():
            synchronize()
            start = time.perf_counter()
            call()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return {
        "size": dict(zip("NDLK", size)),
        "median_seconds": {name: float(np.median(values)) for name, values in times.items()},
        "all_seconds": times,
    }


def run(config, device, seed, progress=True):
    from tqdm.auto import tqdm

    # The per-column loop is numpy only, as in the published code.
    names = [name for name in METHODS if device == "cpu" or METHODS[name][1]]
    sweep_names = [name for name in SWEEP_METHODS if name in names]
    jobs = [("floor", None, config["floor"])]
    for axis, values in config["sweeps"].items():
        for value in values:
            size = list(config["base"])
            size["NDLK".index(axis)] = value
            jobs.append(("sweep", axis, tuple(size)))

    floor, sweeps, cache = None, {axis: [] for axis in config["sweeps"]}, {}
    for kind, axis, size in tqdm(jobs, desc="benchmark sizes", disable=not progress):
        if kind == "floor":
            floor = time_methods(names, size, config["floor_repeats"], device, seed)
            continue
        if size not in cache:
            cache[size] = time_methods(sweep_names, size, config["sweep_repeats"], device, seed)
        sweeps[axis].append(cache[size])

    medians = floor["median_seconds"]
    ratios = {
        "exact_over_products": medians["emms_exact"] / medians["products"],
        "release_over_exact": medians["emms_release"] / medians["emms_exact"],
        "eigh_over_exact": medians["emms_exact_eigh"] / medians["emms_exact"],
        "logme_vectorised_over_exact": medians["logme_vectorised"] / medians["emms_exact"],
    }
    if "logme_per_column" in medians:
        ratios["logme_per_column_over_exact"] = medians["logme_per_column"] / medians["emms_exact"]
    return {"floor": floor, "floor_ratios": ratios, "sweeps": sweeps, "methods": {name: METHODS[name][0] for name in names}}


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from plots import plot_sweeps

    figure = plot_sweeps(result, plt)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (under a minute)")
    parser.add_argument(
        "--device", default="cpu", help="'cpu' (numpy inputs), 'cpu-torch' (torch tensors on the CPU) or 'cuda' / 'cuda:N'"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="JSON path (default results/benchmarks/solver_speed[_cuda|_quick].json)")
    parser.add_argument("--no-plot", action="store_true", help="write the JSON only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    device = arguments.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("CUDA is not available on this machine; nothing to benchmark on the GPU.")
            return 0
    suffix = {"cpu": "", "cpu-torch": "_torch_cpu"}.get(device, "_cuda")
    suffix += "_quick" if arguments.quick else ""
    output = arguments.output or REPO_ROOT / "results" / "benchmarks" / f"solver_speed{suffix}.json"
    config = QUICK if arguments.quick else FULL

    machine = describe_machine(device)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # LogME's published 11 updates leave some columns unconverged; the
        # benchmark times the published setting, so the warning is expected.
        warnings.simplefilter("ignore")
        result = run(config, device, arguments.seed)
    result.update(
        {
            "description": "Wall-clock seconds of EMMS and LogME with F-labels on synthetic data (medians of interleaved repeats).",
            "data": "synthetic: standard normal features; F-labels = features[:, :min(D, L)] @ random mixing + standard normal noise",
            "device": device,
            "quick": arguments.quick,
            "config": {key: value for key, value in config.items()},
            "command": shlex.join(["python", "benchmarks/solver_speed.py", *(sys.argv[1:] if argv is None else argv)]),
            "machine": machine,
            "load_average_at_end": list(__import__("os").getloadavg()),
            "total_wall_clock_seconds": round(time.perf_counter() - started, 1),
        }
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if not arguments.no_plot:
        plot(result, output.with_suffix(".png"))
    ratios = result["floor_ratios"]
    print(f"wrote {output}")
    print(f"floor size {result['floor']['size']}: exact / products = {ratios['exact_over_products']:.2f}, "
          f"release / exact = {ratios['release_over_exact']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
