"""The benchmark scripts run end to end on tiny sizes and write what the book page reads."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = {
    "floor": (300, 12, 4, 2),
    "base": (200, 8, 3, 2),
    "sweeps": {"N": [100, 200], "D": [4, 8], "L": [2, 3], "K": [1, 2]},
    "floor_repeats": 1,
    "sweep_repeats": 1,
}


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_solver_speed_run_records_every_method_and_ratio():
    solver_speed = load("solver_speed")
    result = solver_speed.run(TINY, "cpu", seed=0, progress=False)
    assert set(result["floor"]["median_seconds"]) == set(solver_speed.METHODS)
    assert result["floor_ratios"]["exact_over_products"] > 0
    assert [run["size"]["D"] for run in result["sweeps"]["D"]] == [4, 8]
    assert all(len(values) == 1 for values in result["floor"]["all_seconds"].values())


def test_solver_speed_runs_on_torch_tensors():
    # The code path of the GPU column (--device cuda), on CPU tensors.
    solver_speed = load("solver_speed")
    result = solver_speed.run(TINY, "cpu-torch", seed=0, progress=False)
    assert "logme_per_column" not in result["floor"]["median_seconds"]
    assert "emms_release" in result["floor"]["median_seconds"]


def test_solver_speed_main_writes_json_and_plot(tmp_path, monkeypatch):
    solver_speed = load("solver_speed")
    monkeypatch.setattr(solver_speed, "QUICK", TINY)
    output = tmp_path / "speed.json"
    assert solver_speed.main(["--quick", "--output", str(output)]) == 0
    record = json.loads(output.read_text())
    assert record["quick"] and record["machine"]["logical_cores"] >= 1
    assert record["command"].startswith("python benchmarks/solver_speed.py --quick")
    assert output.with_suffix(".png").stat().st_size > 0


def test_solver_speed_without_cuda_writes_nothing(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    solver_speed = load("solver_speed")
    assert solver_speed.main(["--device", "cuda", "--output", str(tmp_path / "gpu.json")]) == 0
    assert not (tmp_path / "gpu.json").exists()
    assert "CUDA is not available" in capsys.readouterr().out


def test_out_of_core_benchmark_matches_in_memory(tmp_path):
    out_of_core = load("out_of_core")
    output = tmp_path / "ooc.json"
    arguments = ["--samples", "3000", "--features", "16", "--width", "4", "--encoders", "2",
                 "--compare-samples", "2500", "--data-dir", str(tmp_path / "data"), "--output", str(output)]
    assert out_of_core.main(arguments) == 0
    record = json.loads(output.read_text())
    assert record["size"] == {"N": 3000, "D": 16, "L": 4, "K": 2}
    compare = record["steps"]["compare"]
    assert compare["relative_difference_mapped"] < 1e-10
    assert compare["relative_difference_sharded"] < 1e-10
    assert record["steps"]["score"]["peak_rss_gib"] > 0
    assert not list((tmp_path / "data").glob("*.npy")), "the data files should be deleted"
    assert np.isfinite(record["steps"]["score"]["score"])
