"""Weighted least-squares solver of EMMS: statistics, simplex QP and alternating minimisation."""

from .alternating import AlternatingResult, alternating_minimization
from .backend import (
    NumpyBackend,
    TorchBackend,
    machine_epsilon,
    select_backend,
    standardize_columns,
)
from .release import release_score
from .simplex import (
    SimplexQPResult,
    project_to_simplex,
    simplex_qp_objective,
    solve_simplex_qp,
    sparsemax,
)
from .moments import RegressionMoments
from .statistics import (
    DegenerateScoreWarning,
    RegressionStatistics,
    compute_statistics,
    statistics_from_moments,
)

__all__ = [
    "AlternatingResult",
    "DegenerateScoreWarning",
    "NumpyBackend",
    "RegressionMoments",
    "RegressionStatistics",
    "SimplexQPResult",
    "TorchBackend",
    "alternating_minimization",
    "compute_statistics",
    "project_to_simplex",
    "machine_epsilon",
    "release_score",
    "select_backend",
    "simplex_qp_objective",
    "solve_simplex_qp",
    "sparsemax",
    "standardize_columns",
    "statistics_from_moments",
]
