"""emms_ref: reference implementation of EMMS, the Efficient Multi-task Model Selector.

Pipeline: label embedding (:mod:`emms_ref.labels`) -> features
(:mod:`emms_ref.features`) -> solver (:mod:`emms_ref.solver`) -> scores
(:func:`emms_score`) -> evaluation (:mod:`emms_ref.evaluation`).

Submodules that need torch, transformers or open_clip load on first use, so
``import emms_ref`` stays cheap.
"""

from importlib import import_module

from .out_of_core import EMMSAccumulator, emms_score_blocks, iter_row_blocks
from .scores import EMMSResult, emms_score
from .solver import (
    DegenerateScoreWarning,
    project_to_simplex,
    solve_simplex_qp,
    sparsemax,
)

__version__ = "0.1.0"

_LAZY_SUBMODULES = (
    "labels",
    "features",
    "solver",
    "evaluation",
    "baselines",
    "datasets",
    "tasks",
    "experiments",
)

# Baseline scores, importable from the top level and loaded on first use.
_BASELINE_FUNCTIONS = ("h_score", "leep", "logme", "logme_flabels", "nce", "transrate")

__all__ = [
    *_BASELINE_FUNCTIONS,
    "DegenerateScoreWarning",
    "EMMSAccumulator",
    "EMMSResult",
    "emms_score",
    "emms_score_blocks",
    "iter_row_blocks",
    "project_to_simplex",
    "solve_simplex_qp",
    "sparsemax",
    *_LAZY_SUBMODULES,
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return import_module(f".{name}", __name__)
    if name in _BASELINE_FUNCTIONS:
        return getattr(import_module(".baselines", __name__), name)
    raise AttributeError(f"module 'emms_ref' has no attribute {name!r}")
