"""Tests of the ranking-agreement metrics against independent computations."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from emms_ref.evaluation import (
    kendall_tau,
    pearson_r,
    ranking_report,
    rel_at_k,
    weighted_kendall_tau,
)

CORRELATIONS = [weighted_kendall_tau, kendall_tau, pearson_r]
ALL_METRICS = CORRELATIONS + [rel_at_k]


def kendall_tau_b_by_pairs(x, y):
    """Kendall tau-b from its definition, looping over all O(M^2) pairs."""
    concordant = discordant = ties_x_only = ties_y_only = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx = np.sign(x[i] - x[j])
        dy = np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x_only += 1
        elif dy == 0:
            ties_y_only += 1
        elif dx == dy:
            concordant += 1
        else:
            discordant += 1
    pairs_untied_in_x = concordant + discordant + ties_y_only
    pairs_untied_in_y = concordant + discordant + ties_x_only
    return (concordant - discordant) / math.sqrt(pairs_untied_in_x * pairs_untied_in_y)


def rel_at_k_by_enumeration(scores, performances, k):
    """rel@k averaged over every order in which tied scores could be ranked."""
    values = []
    for order in itertools.permutations(range(len(scores))):
        ranked = sorted(order, key=lambda m: -scores[m])  # stable, so order breaks ties
        values.append(max(performances[m] for m in ranked[:k]) / max(performances))
    return float(np.mean(values))


KENDALL_CASES = [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ([3.0, 1.0, 2.0, 5.0, 4.0], [2.0, 1.0, 3.0, 5.0, 4.0]),
    ([1.0, 1.0, 2.0, 3.0], [4.0, 2.0, 2.0, 1.0]),
    ([0.5, -1.0, 2.0, 2.0, 7.0, 0.1], [10.0, 20.0, 20.0, 30.0, 5.0, 1.0]),
]


@pytest.mark.parametrize(("scores", "performances"), KENDALL_CASES)
def test_kendall_tau_matches_pairwise_count(scores, performances):
    expected = kendall_tau_b_by_pairs(scores, performances)
    assert kendall_tau(scores, performances) == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_random_cases_match_pairwise_count():
    rng = np.random.default_rng(0)
    for _ in range(20):
        size = int(rng.integers(3, 9))
        # Small integer ranges produce ties in both inputs.
        scores = rng.integers(0, 4, size).astype(float)
        performances = rng.integers(0, 4, size).astype(float)
        if np.all(scores == scores[0]) or np.all(performances == performances[0]):
            continue
        expected = kendall_tau_b_by_pairs(scores, performances)
        assert kendall_tau(scores, performances) == pytest.approx(expected, abs=1e-12)


def test_weighted_kendall_tau_matches_scipy_defaults():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=11)
    performances = rng.normal(size=11)
    expected = stats.weightedtau(scores, performances).statistic
    assert weighted_kendall_tau(scores, performances) == pytest.approx(expected, abs=1e-12)


def test_weighted_kendall_tau_is_symmetric():
    scores = [3.0, 1.0, 2.0, 5.0, 4.0, 0.0]
    performances = [2.0, 1.0, 3.0, 5.0, 4.0, 6.0]
    forward = weighted_kendall_tau(scores, performances)
    backward = weighted_kendall_tau(performances, scores)
    assert forward == pytest.approx(backward, abs=1e-12)


def test_weighted_kendall_tau_weights_top_swaps_more():
    performances = [5.0, 4.0, 3.0, 2.0, 1.0]
    top_swapped = [4.0, 5.0, 3.0, 2.0, 1.0]
    bottom_swapped = [5.0, 4.0, 3.0, 1.0, 2.0]
    top_value = weighted_kendall_tau(top_swapped, performances)
    bottom_value = weighted_kendall_tau(bottom_swapped, performances)
    assert top_value < bottom_value
    # Unweighted tau cannot tell the two swaps apart.
    assert kendall_tau(top_swapped, performances) == kendall_tau(bottom_swapped, performances)


@pytest.mark.parametrize("metric", CORRELATIONS)
def test_correlations_perfect_agreement_is_one(metric):
    performances = [71.2, 80.5, 90.1, 65.0, 88.8]
    scores = [2.0 * value - 3.0 for value in performances]
    assert metric(scores, performances) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("metric", CORRELATIONS)
def test_correlations_reversed_order_is_minus_one(metric):
    performances = [71.2, 80.5, 90.1, 65.0, 88.8]
    scores = [-value for value in performances]
    assert metric(scores, performances) == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("metric", [weighted_kendall_tau, kendall_tau])
def test_rank_correlations_ignore_monotone_rescaling(metric):
    scores = np.array([0.1, 0.4, 0.2, 0.9, 0.3])
    performances = [3.0, 1.0, 2.0, 5.0, 4.0]
    assert metric(np.exp(10 * scores), performances) == pytest.approx(metric(scores, performances))


def test_pearson_r_matches_numpy():
    scores = [0.1, 0.4, 0.2, 0.9, 0.3]
    performances = [3.0, 1.0, 2.0, 5.0, 4.0]
    expected = np.corrcoef(scores, performances)[0, 1]
    assert pearson_r(scores, performances) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", CORRELATIONS)
def test_correlations_constant_input_is_nan(metric):
    assert math.isnan(metric([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(metric([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))


@pytest.mark.parametrize("metric", CORRELATIONS)
def test_correlations_two_models(metric):
    assert metric([0.0, 1.0], [10.0, 20.0]) == pytest.approx(1.0)
    assert metric([1.0, 0.0], [10.0, 20.0]) == pytest.approx(-1.0)


def test_rel_at_1_top_model_is_best():
    assert rel_at_k([0.9, 0.1, 0.5], [80.0, 60.0, 70.0]) == 1.0


def test_rel_at_1_top_model_is_not_best():
    # The top-scored model reaches 60 while the best reaches 80.
    assert rel_at_k([0.1, 0.9, 0.5], [80.0, 60.0, 70.0]) == pytest.approx(60.0 / 80.0)


def test_rel_at_k_grows_with_k():
    scores = [0.1, 0.9, 0.5]
    performances = [80.0, 60.0, 70.0]
    assert rel_at_k(scores, performances, k=2) == pytest.approx(70.0 / 80.0)
    assert rel_at_k(scores, performances, k=3) == 1.0


def test_rel_at_1_tied_top_scores_average_over_ties():
    # Models 0 and 1 share the top score, so either is picked with probability 1/2.
    value = rel_at_k([0.9, 0.9, 0.1], [50.0, 100.0, 75.0])
    assert value == pytest.approx((50.0 / 100.0 + 100.0 / 100.0) / 2)


def test_rel_at_1_tied_scores_independent_of_order():
    first = rel_at_k([0.9, 0.9, 0.1], [50.0, 100.0, 75.0])
    second = rel_at_k([0.9, 0.9, 0.1], [100.0, 50.0, 75.0])
    assert first == second


def test_rel_at_1_constant_scores_is_mean_over_max():
    performances = [40.0, 60.0, 80.0, 100.0]
    assert rel_at_k([0.3] * 4, performances) == pytest.approx(70.0 / 100.0)


def test_rel_at_1_tied_performances_both_best():
    # Two models tie for the best performance, and the selector picks one of them.
    assert rel_at_k([0.2, 0.8, 0.5], [90.0, 90.0, 10.0]) == 1.0


def test_rel_at_k_ties_match_enumeration():
    rng = np.random.default_rng(2)
    for _ in range(30):
        size = int(rng.integers(2, 7))
        scores = rng.integers(0, 3, size).astype(float)
        performances = rng.integers(1, 6, size).astype(float)
        k = int(rng.integers(1, size + 1))
        expected = rel_at_k_by_enumeration(scores, performances, k)
        assert rel_at_k(scores, performances, k=k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("bad_k", [0, 4, 1.5, True, "1"])
def test_rel_at_k_rejects_invalid_k(bad_k):
    with pytest.raises(ValueError, match="k must be"):
        rel_at_k([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], k=bad_k)


def test_rel_at_k_rejects_non_positive_best():
    with pytest.raises(ValueError, match="maximum is positive"):
        rel_at_k([0.1, 0.2], [-1.0, 0.0])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_reject_length_mismatch(metric):
    with pytest.raises(ValueError, match="scores has 3 entries but performances has 2"):
        metric([0.1, 0.2, 0.3], [1.0, 2.0])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_reject_single_model(metric):
    with pytest.raises(ValueError, match="at least 2 models"):
        metric([0.1], [1.0])


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_metrics_reject_non_finite_scores(metric, bad_value):
    with pytest.raises(ValueError, match=r"scores contains NaN or infinite values at positions \[1\]"):
        metric([0.1, bad_value, 0.3], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_reject_non_finite_performances(metric):
    with pytest.raises(ValueError, match="performances contains NaN"):
        metric([0.1, 0.2, 0.3], [1.0, math.nan, 3.0])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_reject_two_dimensional_input(metric):
    with pytest.raises(ValueError, match=r"scores must be one-dimensional.*shape \(3, 1\)"):
        metric(np.zeros((3, 1)), [1.0, 2.0, 3.0])


def test_metrics_reject_non_numeric_input():
    with pytest.raises(ValueError, match="performances must be a sequence of numbers"):
        kendall_tau([0.1, 0.2], ["a", "b"])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_do_not_mutate_inputs(metric):
    scores = np.array([0.3, 0.1, 0.3, 0.9])
    performances = np.array([70.0, 60.0, 80.0, 90.0])
    scores_before = scores.copy()
    performances_before = performances.copy()
    metric(scores, performances)
    np.testing.assert_array_equal(scores, scores_before)
    np.testing.assert_array_equal(performances, performances_before)


def test_metrics_accept_lists_and_integer_arrays():
    assert kendall_tau([1, 2, 3], np.array([10, 20, 30])) == pytest.approx(1.0)


def test_ranking_report_contains_all_metrics():
    scores = [0.3, 0.1, 0.5, 0.9]
    performances = [70.0, 60.0, 80.0, 75.0]
    report = ranking_report(scores, performances)
    assert set(report) == {"n_models", "weighted_kendall_tau", "kendall_tau", "pearson_r", "rel_at_1"}
    assert report["n_models"] == 4
    assert report["weighted_kendall_tau"] == weighted_kendall_tau(scores, performances)
    assert report["kendall_tau"] == kendall_tau(scores, performances)
    assert report["pearson_r"] == pearson_r(scores, performances)
    assert report["rel_at_1"] == pytest.approx(75.0 / 80.0)


def test_ranking_report_names_selected_and_best():
    report = ranking_report([0.3, 0.1, 0.5, 0.9], [70.0, 60.0, 80.0, 75.0], names=["a", "b", "c", "d"])
    assert report["selected_model"] == "d"
    assert report["best_model"] == "c"


def test_ranking_report_rejects_wrong_number_of_names():
    with pytest.raises(ValueError, match="names has 2 entries but there are 3 models"):
        ranking_report([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], names=["a", "b"])
