"""Describe the machine a benchmark ran on, for the JSON records of benchmarks/."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from emms_ref.experiments.provenance import cpu_model_name




def describe_machine(device: str = "cpu") -> dict:
    """Return CPU, core count, memory, library versions, BLAS threads, load and the UTC date."""
    import numpy as np
    import scipy
    import torch

    description = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_model_name(),
        "logical_cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "blas_threads_env": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            total_kib = int(handle.readline().split()[1])
        description["memory_gib"] = round(total_kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        description["memory_gib"] = None
    if device.startswith("cuda") and torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name(torch.device(device))
        description["cuda"] = torch.version.cuda
    return description
