"""Evaluation of model selectors: agreement of transferability scores with fine-tuned performance."""

from emms_ref.evaluation.ranking import (
    kendall_tau,
    pearson_r,
    ranking_report,
    rel_at_k,
    weighted_kendall_tau,
)

# In the order of the API reference: the headline metric first.
__all__ = [
    "weighted_kendall_tau",
    "kendall_tau",
    "pearson_r",
    "rel_at_k",
    "ranking_report",
]
