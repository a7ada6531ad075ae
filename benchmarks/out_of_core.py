#!/usr/bin/env python3
"""Score memory-mapped features of N = 1,000,000 samples with bounded memory.

    .venv/bin/python benchmarks/out_of_core.py                    # N = 1,000,000, D = 2,048: about 10 GB of disk
    .venv/bin/python benchmarks/out_of_core.py --samples 100000   # a smaller run

Steps, each in a fresh child process so that its peak resident memory
(``ru_maxrss``) is its own:

1. ``write``: write synthetic features (N, D) and K F-label blocks (N, L) as
   float32 .npy files, in chunks, so the writer never holds the whole array.
2. ``score``: ``emms_score`` on ``np.load(path, mmap_mode="r")`` arrays,
   which reads them in row blocks (see emms_ref.out_of_core).
3. ``compare``: on the first --compare-samples rows, the in-memory score
   (all rows loaded as float64) against the memory-mapped score of the same
   rows, and against four shards merged as on four machines.

Writes results/benchmarks/out_of_core.json with the scores, their
differences, each step's peak resident memory and wall time, the command,
the date and the machine. The data files are deleted at the end unless
--keep is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHUNK_ROWS = 50_000


def write_data(folder: Path, n, d, l, k, seed) -> None:
    """Write features.npy (N, D) and f_labels_{k}.npy (N, L), float32, chunk by chunk."""
    from tqdm.auto import tqdm

    mixing_rng = np.random.default_rng([seed, 0])
    informative = min(d, l)
    mixings = [mixing_rng.standard_normal((informative, l)) / np.sqrt(informative) for _ in range(k)]
    features = np.lib.format.open_memmap(folder / "features.npy", mode="w+", dtype=np.float32, shape=(n, d))
    labels = [
        np.lib.format.open_memmap(folder / f"f_labels_{j}.npy", mode="w+", dtype=np.float32, shape=(n, l))
        for j in range(k)
    ]
    for start in tqdm(range(0, n, CHUNK_ROWS), desc="writing synthetic data", unit="chunk"):
        stop = min(start + CHUNK_ROWS, n)
        rng = np.random.default_rng([seed, 1, start])
        chunk = rng.standard_normal((stop - start, d), dtype=np.float32) + 0.5
        features[start:stop] = chunk
        for mixing, target in zip(mixings, labels):
            target[start:stop] = chunk[:, :informative] @ mixing.astype(np.float32) + rng.standard_normal(
                (stop - start, l), dtype=np.float32
            )
        features.flush()
        for target in labels:
            target.flush()
    del features, labels


def open_data(folder: Path, k: int):
    features = np.load(folder / "features.npy", mmap_mode="r")
    labels = [np.load(folder / f"f_labels_{j}.npy", mmap_mode="r") for j in range(k)]
    return features, labels


def score_mapped(folder: Path, k: int) -> dict:
    from emms_ref import emms_score

    features, labels = open_data(folder, k)
    start = time.perf_counter()
    result = emms_score(features, labels)
    return {"score": result.score, "weights": result.weights.tolist(), "rank": result.rank, "seconds": time.perf_counter() - start}


def compare_in_memory(folder: Path, k: int, rows: int) -> dict:
    from emms_ref import EMMSAccumulator, emms_score, iter_row_blocks

    features, labels = open_data(folder, k)
    features, labels = features[:rows], [block[:rows] for block in labels]
    mapped = emms_score(features, labels).score
    shards = []
    bounds = np.linspace(0, rows, 5).astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        worker = EMMSAccumulator()
        for block_x, block_z in iter_row_blocks(features[start:stop], [block[start:stop] for block in labels], block_rows=7919):
            worker.update(block_x, block_z)
        shards.append(worker.to_numpy())
    merged = shards[0]
    for shard in shards[1:]:
        merged = merged.merge(shard)
    sharded = merged.result().score
    in_memory_features = np.array(features, dtype=np.float64)
    in_memory_labels = [np.array(block, dtype=np.float64) for block in labels]
    in_memory = emms_score(in_memory_features, in_memory_labels).score
    return {
        "rows": rows,
        "in_memory_score": in_memory,
        "memory_mapped_score": mapped,
        "four_shards_merged_score": sharded,
        "relative_difference_mapped": abs(mapped - in_memory) / abs(in_memory),
        "relative_difference_sharded": abs(sharded - in_memory) / abs(in_memory),
    }


def run_step(step: str, arguments, folder: Path) -> dict:
    """Run one step in a child process and return its JSON output with peak RSS and wall time."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--data-dir", str(folder),
               "--samples", str(arguments.samples), "--features", str(arguments.features),
               "--width", str(arguments.width), "--encoders", str(arguments.encoders),
               "--compare-samples", str(arguments.compare_samples), "--seed", str(arguments.seed)]
    start = time.perf_counter()
    completed = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    output = json.loads(completed.stdout.strip().splitlines()[-1])
    output["wall_clock_seconds"] = round(time.perf_counter() - start, 1)
    return output


def child(arguments) -> None:
    folder = Path(arguments.data_dir)
    if arguments.child == "write":
        write_data(folder, arguments.samples, arguments.features, arguments.width, arguments.encoders, arguments.seed)
        output = {}
    elif arguments.child == "score":
        output = score_mapped(folder, arguments.encoders)
    else:
        output = compare_in_memory(folder, arguments.encoders, min(arguments.compare_samples, arguments.samples))
    # ru_maxrss is in KiB on Linux.
    output["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(output))


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000, help="N (default 1,000,000)")
    parser.add_argument("--features", type=int, default=2048, help="D (default 2,048)")
    parser.add_argument("--width", type=int, default=128, help="L of every F-label block (default 128)")
    parser.add_argument("--encoders", type=int, default=3, help="K (default 3)")
    parser.add_argument("--compare-samples", type=int, default=100_000, help="rows of the in-memory comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where the .npy files go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "results" / "benchmarks" / "out_of_core.json")
    parser.add_argument("--child", choices=("write", "score", "compare"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child:
        child(arguments)
        return 0
    from machine import describe_machine

    machine = describe_machine()
    started = time.perf_counter()
    folder = Path(arguments.data_dir) if arguments.data_dir else Path(tempfile.mkdtemp(prefix="emms_out_of_core_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        steps = {step: run_step(step, arguments, folder) for step in ("write", "score", "compare")}
        data_bytes = sum(path.stat().st_size for path in folder.glob("*.npy"))
    finally:
        if not arguments.keep:
            for path in folder.glob("*.npy"):
                path.unlink()
    n, d, l, k = arguments.samples, arguments.features, arguments.width, arguments.encoders
    result = {
        "description": "EMMS on memory-mapped float32 files read in row blocks; peak RSS per step (child process).",
        "data": "synthetic: standard normal features + 0.5; F-labels = features[:, :L] @ random mixing + noise",
        "size": {"N": n, "D": d, "L": l, "K": k},
        "data_file_gib": data_bytes / 2**30,
        "moment_memory_gib": 8 * (d * d + d * k * l + k * k * l + d + k * l) / 2**30,
        "steps": steps,
        "command": shlex.join(["python", "benchmarks/out_of_core.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine,
        "load_average_at_end": list(os.getloadavg()),
        "total_wall_clock_seconds": round(time.perf_counter() - started, 1),
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    score = steps["score"]
    compare = steps["compare"]
    print(f"wrote {arguments.output}")
    print(f"N={n} D={d}: score {score['score']:.6f}, peak RSS {score['peak_rss_gib']:.2f} GiB, "
          f"{score['wall_clock_seconds']} s; in-memory vs mapped on {compare['rows']} rows: "
          f"{compare['relative_difference_mapped']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
