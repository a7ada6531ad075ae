"""Agreement between transferability scores and fine-tuned performances.

A model selector gives one transferability score ``T_m`` per pre-trained
model. Fine-tuning each model on the target task gives its ground-truth
performance ``G_m``, an accuracy for example. The functions here measure how well the
ranking by ``T`` matches the ranking by ``G``.

LogME (You et al., ICML 2021) and EMMS (Meng et al., NeurIPS 2023) compare
selectors by the weighted Kendall tau of Vigna (WWW 2015), computed here with
:func:`scipy.stats.weightedtau`. It counts swaps among the top models more
than swaps among the bottom ones, because a selector is used to pick from the
top of its ranking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = [
    "kendall_tau",
    "pearson_r",
    "ranking_report",
    "rel_at_k",
    "weighted_kendall_tau",
]

MIN_MODELS = 2


def _validate_pair(scores, performances) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 copies of both inputs after checking shape and values."""
    score_array = _as_finite_vector(scores, "scores")
    performance_array = _as_finite_vector(performances, "performances")

    if score_array.shape != performance_array.shape:
        raise ValueError(
            f"scores has {score_array.size} entries but performances has "
            f"{performance_array.size}. Pass one score and one performance per model, "
            "in the same model order."
        )
    if score_array.size < MIN_MODELS:
        raise ValueError(
            f"got {score_array.size} model(s), but a ranking needs at least {MIN_MODELS} models."
        )
    return score_array, performance_array


def _as_finite_vector(values, name: str) -> np.ndarray:
    # np.array copies, so nothing below can write into the caller's array.
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of numbers, one per model: {error}") from None

    if array.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional with one value per model, got shape {array.shape}. "
            "Flatten it or pass one value per model."
        )
    if not np.all(np.isfinite(array)):
        bad = np.flatnonzero(~np.isfinite(array)).tolist()
        raise ValueError(
            f"{name} contains NaN or infinite values at positions {bad}. "
            "Drop those models or fix their values."
        )
    return array


def _is_constant(array: np.ndarray) -> bool:
    return bool(np.all(array == array[0]))


def weighted_kendall_tau(scores, performances) -> float:
    """Compute the weighted Kendall tau between scores and performances.

    This is :func:`scipy.stats.weightedtau` with its defaults: a hyperbolic
    weigher, where the model at rank ``r`` (0 = best) has weight ``1 / (r + 1)``,
    and ``rank=True``, which averages the coefficients obtained by ranking on
    ``scores`` and by ranking on ``performances``. The result is therefore
    symmetric in its two arguments.

    Parameters
    ----------
    scores : array_like, shape (M,)
        Transferability score of each of the ``M`` models. Higher means the
        selector expects better transfer.
    performances : array_like, shape (M,)
        Ground-truth performance of the same models, in the same order;
        higher is better.

    Returns
    -------
    float
        Coefficient in ``[-1, 1]``: 1 for identical rankings, -1 for reversed
        ones. NaN when ``scores`` or ``performances`` is constant, because a
        constant vector defines no ranking.

    Raises
    ------
    ValueError
        If the inputs differ in length, hold fewer than two models, are not
        one-dimensional or contain NaN or infinite values.
    """
    score_array, performance_array = _validate_pair(scores, performances)
    if _is_constant(score_array) or _is_constant(performance_array):
        return math.nan

    return float(stats.weightedtau(score_array, performance_array).statistic)


def kendall_tau(scores, performances) -> float:
    """Compute Kendall's tau-b between scores and performances.

    Tau-b corrects for ties in either input. It is the default variant of
    :func:`scipy.stats.kendalltau`.

    Parameters
    ----------
    scores : array_like, shape (M,)
        Transferability score of each model.
    performances : array_like, shape (M,)
        Ground-truth performance of the same models, in the same order.

    Returns
    -------
    float
        Coefficient in ``[-1, 1]``. NaN when either input is constant.

    Raises
    ------
    ValueError
        On the same invalid inputs as :func:`weighted_kendall_tau`.
    """
    score_array, performance_array = _validate_pair(scores, performances)
    if _is_constant(score_array) or _is_constant(performance_array):
        return math.nan

    return float(stats.kendalltau(score_array, performance_array, variant="b").statistic)


def pearson_r(scores, performances) -> float:
    """Compute the Pearson correlation coefficient between scores and performances.

    Unlike the rank correlations, Pearson's r depends on the values and not
    only on their order, so it changes under a monotone rescaling of the
    scores.

    Parameters
    ----------
    scores : array_like, shape (M,)
        Transferability score of each model.
    performances : array_like, shape (M,)
        Ground-truth performance of the same models, in the same order.

    Returns
    -------
    float
        Coefficient in ``[-1, 1]``. NaN when either input is constant.
        With two models it is always -1 or 1.

    Raises
    ------
    ValueError
        On the same invalid inputs as :func:`weighted_kendall_tau`.
    """
    score_array, performance_array = _validate_pair(scores, performances)
    if _is_constant(score_array) or _is_constant(performance_array):
        return math.nan

    return float(stats.pearsonr(score_array, performance_array).statistic)


def rel_at_k(scores, performances, k: int = 1) -> float:
    """Compute rel@k: the best performance among the top-``k`` models by score, relative to the best overall.

    ``rel@k = max(G_m for m in top-k by T) / max(G)``, so 1 means the
    selector's top ``k`` contain a best model.

    When models tie on the score at the cut-off, so that the top-``k`` set is
    not unique, the ties are broken uniformly at random and the expected
    rel@k is returned. The result therefore does not depend on the order of
    the models, and a constant score gets the value of a random pick. Without
    such ties this is the usual definition.

    Parameters
    ----------
    scores : array_like, shape (M,)
        Transferability score of each model.
    performances : array_like, shape (M,)
        Ground-truth performance of the same models, in the same order. The
        maximum must be positive, because it is the denominator.
    k : int, default 1
        Number of top-scored models to keep, ``1 <= k <= M``.

    Returns
    -------
    float
        Value in ``(0, 1]`` for non-negative performances.

    Raises
    ------
    ValueError
        On the invalid inputs of :func:`weighted_kendall_tau`, if ``k`` is
        not an integer in ``[1, M]`` or if the best performance is not
        positive.
    """
    score_array, performance_array = _validate_pair(scores, performances)
    n_models = score_array.size

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer number of models, got {k!r}.")
    if not 1 <= k <= n_models:
        raise ValueError(f"k must be between 1 and the number of models ({n_models}), got {k}.")

    best_performance = float(performance_array.max())
    if best_performance <= 0:
        raise ValueError(
            f"the best performance is {best_performance}, but rel@k divides by it. "
            "Pass performances whose maximum is positive (an accuracy, for example)."
        )

    expected_top_performance = _expected_top_k_max(score_array, performance_array, k)
    return expected_top_performance / best_performance


def _expected_top_k_max(scores: np.ndarray, performances: np.ndarray, k: int) -> float:
    """Expected best performance among the top ``k`` by score, ties broken at random."""
    cutoff_score = np.sort(scores)[::-1][k - 1]
    above_cutoff = performances[scores > cutoff_score]
    tied = np.sort(performances[scores == cutoff_score])
    n_drawn = k - above_cutoff.size
    above_cutoff_best = float(above_cutoff.max()) if above_cutoff.size else -math.inf

    # Draw n_drawn of the n_tied tied models without replacement. With the
    # tied performances sorted ascending, the best drawn one is tied[j] with
    # probability C(j, n_drawn - 1) / C(n_tied, n_drawn).
    n_tied = tied.size
    total_draws = math.comb(n_tied, n_drawn)
    expected = 0.0
    for j in range(n_drawn - 1, n_tied):
        probability = math.comb(j, n_drawn - 1) / total_draws
        expected += probability * max(above_cutoff_best, float(tied[j]))
    return expected


def ranking_report(scores, performances, names: Sequence[str] | None = None) -> dict:
    """Compute all ranking-agreement metrics for one target task.

    Parameters
    ----------
    scores : array_like, shape (M,)
        Transferability score of each model.
    performances : array_like, shape (M,)
        Ground-truth performance of the same models, in the same order.
    names : sequence of str, optional
        Model names in the same order. When given, the report also names the
        model the selector picks and the best model.

    Returns
    -------
    dict
        ``"weighted_kendall_tau"``, ``"kendall_tau"``, ``"pearson_r"`` and
        ``"rel_at_1"`` (floats, see the functions of the same names) and
        ``"n_models"`` (int). With ``names``, also ``"selected_model"``, the
        name of the highest-scored model, and ``"best_model"``, the name of
        the best-performing one. On ties, the first in input order wins.

    Raises
    ------
    ValueError
        On the invalid inputs of the metric functions, or if ``names`` does
        not have one entry per model.
    """
    score_array, performance_array = _validate_pair(scores, performances)

    report = {
        "n_models": int(score_array.size),
        "weighted_kendall_tau": weighted_kendall_tau(score_array, performance_array),
        "kendall_tau": kendall_tau(score_array, performance_array),
        "pearson_r": pearson_r(score_array, performance_array),
        "rel_at_1": rel_at_k(score_array, performance_array, k=1),
    }

    if names is not None:
        name_list = list(names)
        if len(name_list) != score_array.size:
            raise ValueError(
                f"names has {len(name_list)} entries but there are {score_array.size} models. "
                "Pass one name per model, in the same order as scores."
            )
        report["selected_model"] = name_list[int(np.argmax(score_array))]
        report["best_model"] = name_list[int(np.argmax(performance_array))]

    return report
