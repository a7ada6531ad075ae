"""Provenance of committed results: the hardware a script ran on."""

from __future__ import annotations

import platform


def cpu_model_name() -> str:
    """Return the CPU model from /proc/cpuinfo, or platform.processor() where that file is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_cpu_description() -> dict:
    """Return the CPU model, core count, torch threads and versions of a CPU training run."""
    import os

    import torch

    return {
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": "cpu",
    }
