"""LogME: exact evidence, agreement of the two algorithms, scale, classes, precision and errors."""

import math
import warnings

import numpy as np
import pytest
import torch

from emms_ref.baselines import LogMEConvergenceWarning, logme


def make_classification(seed=0, n_samples=300, n_features=10, n_classes=3, noise=1.0):
    """Gaussian classes with random means: a well-posed LogME problem (N > D, class signal)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_samples)
    means = rng.normal(size=(n_classes, n_features))
    features = means[labels] + noise * rng.normal(size=(n_samples, n_features))
    return features, labels


def make_regression(seed=0, n_samples=60, n_features=8, n_targets=2, noise=0.5):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_samples, n_features))
    targets = features @ rng.normal(size=(n_features, n_targets)) + noise * rng.normal(size=(n_samples, n_targets))
    return features, targets


def direct_log_evidence(features, target, alpha, beta):
    """log N(y; 0, C) with C = I/beta + X X^T/alpha, from slogdet of the N x N covariance."""
    n_samples = features.shape[0]
    covariance = np.eye(n_samples) / beta + features @ features.T / alpha
    sign, log_det = np.linalg.slogdet(covariance)
    assert sign > 0
    quadratic = target @ np.linalg.solve(covariance, target)
    return -0.5 * (n_samples * math.log(2 * math.pi) + log_det + quadratic)


# Evidence against an independent computation


# With N < D the iteration needs more than 11 updates; the checks hold at any (alpha, beta).
IGNORE_CAP = pytest.mark.filterwarnings("ignore::emms_ref.baselines.LogMEConvergenceWarning")


@IGNORE_CAP
@pytest.mark.parametrize("method", ["fixed_point", "evidence"])
@pytest.mark.parametrize("shape", [(60, 8), (30, 50)], ids=["N>D", "N<D"])
def test_evidence_equals_slogdet_marginal_likelihood(method, shape):
    features, targets = make_regression(n_samples=shape[0], n_features=shape[1])
    result = logme(features, targets, regression=True, method=method)
    for column in range(targets.shape[1]):
        expected = direct_log_evidence(features, targets[:, column], result.alphas[column], result.betas[column])
        assert result.evidences[column] * shape[0] == pytest.approx(expected, rel=1e-10, abs=1e-8)


def test_converged_alpha_beta_maximise_evidence():
    features, targets = make_regression(n_targets=1)
    result = logme(features, targets, regression=True, epsilon=0.0, tol=1e-13, max_iter=10_000)
    alpha, beta = result.alphas[0], result.betas[0]
    best = direct_log_evidence(features, targets[:, 0], alpha, beta)
    for alpha_factor, beta_factor in [(1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99), (1.01, 1.01)]:
        perturbed = direct_log_evidence(features, targets[:, 0], alpha * alpha_factor, beta * beta_factor)
        assert perturbed < best


# The two published algorithms


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_algorithms_agree_at_published_defaults(seed):
    # On well-posed problems (N > D, every class carries signal) both
    # iterations converge within 11 updates and agree to 1e-6 nats per sample.
    features, labels = make_classification(seed=seed)
    fixed_point = logme(features, labels, method="fixed_point")
    evidence = logme(features, labels, method="evidence")
    assert fixed_point.converged and evidence.converged
    assert fixed_point.score == pytest.approx(evidence.score, abs=1e-6)


@pytest.mark.parametrize("shape", [(300, 10), (40, 70)], ids=["N>D", "N<D"])
def test_algorithms_agree_at_convergence(shape):
    features, labels = make_classification(n_samples=shape[0], n_features=shape[1])
    options = {"tol": 1e-12, "max_iter": 10_000}
    fixed_point = logme(features, labels, method="fixed_point", **options)
    evidence = logme(features, labels, method="evidence", **options)
    np.testing.assert_allclose(fixed_point.evidences, evidence.evidences, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fixed_point.alphas, evidence.alphas, rtol=1e-6)


def test_published_tolerances_are_defaults():
    features, labels = make_classification()
    assert logme(features, labels, method="fixed_point").score == logme(features, labels, tol=1e-3).score
    assert logme(features, labels, method="evidence").score == logme(
        features, labels, method="evidence", tol=1e-2
    ).score


# Feature scale: the absolute epsilon


def test_absolute_epsilon_breaks_scale_invariance():
    features, labels = make_classification(seed=1)
    unit = logme(features, labels).score
    large = logme(1e3 * features, labels).score
    # ||m||^2 shrinks by 1e6 and meets epsilon = 1e-5, so alpha saturates.
    assert abs(large - unit) > 0.01


@pytest.mark.parametrize("scale", [1e-3, 1e3, 1e6])
def test_without_epsilon_scale_invariant(scale):
    features, labels = make_classification(seed=1)
    options = {"epsilon": 0.0, "tol": 1e-12, "max_iter": 10_000}
    assert logme(scale * features, labels, **options).score == pytest.approx(
        logme(features, labels, **options).score, abs=1e-9
    )


# Classes: only the ones present, any label values


def test_absent_class_ids_add_nothing():
    features, labels = make_classification(n_classes=3)
    gapped = np.where(labels == 1, 2, labels)  # ids {0, 2}: id 1 is absent
    dense = np.where(gapped == 2, 1, gapped)  # the same classes as {0, 1}
    result = logme(features, gapped)
    assert result.evidences.shape == (2,)
    assert result.score == logme(features, dense).score
    np.testing.assert_array_equal(result.classes, [0, 2])


def test_range_max_loop_adds_spurious_evidence():
    # A loop over range(max(labels) + 1), as in the public copies, also fits
    # the all-zero indicator of the absent id 1. LogME fits it exactly and
    # the epsilon-limited beta makes its evidence very large, inflating the mean.
    features, labels = make_classification(n_classes=3)
    gapped = np.where(labels == 1, 2, labels)
    ours = logme(features, gapped)
    empty_class = logme(features, np.zeros(len(gapped)), regression=True).evidences[0]
    range_loop_score = np.mean([ours.evidences[0], empty_class, ours.evidences[1]])
    assert empty_class > 1.0
    assert range_loop_score > ours.score + 1.0


@pytest.mark.parametrize(
    "relabel",
    [
        lambda codes: np.array([3, 17, 40])[codes],
        lambda codes: np.array(["cat", "dog", "ship"])[codes],
        lambda codes: np.array(["ship", "dog", "cat"])[codes],
        lambda codes: (10 - 3 * codes).astype(float),
    ],
    ids=["sparse-ids", "strings", "strings-reverse-order", "float-ids"],
)
def test_relabelling_classes_keeps_score(relabel):
    features, labels = make_classification()
    assert logme(features, relabel(labels)).score == pytest.approx(logme(features, labels).score, rel=1e-13)


def test_sample_permutation_keeps_score():
    features, labels = make_classification()
    order = np.random.default_rng(5).permutation(len(labels))
    for method in ("fixed_point", "evidence"):
        assert logme(features[order], labels[order], method=method).score == pytest.approx(
            logme(features, labels, method=method).score, rel=1e-10
        )


def test_regression_vector_equals_one_column():
    features, targets = make_regression(n_targets=1)
    assert logme(features, targets[:, 0], regression=True).score == logme(features, targets, regression=True).score


# Precision and backends


def test_float32_input_is_computed_in_float64():
    features, labels = make_classification()
    features32 = features.astype(np.float32)
    assert logme(features32, labels).score == logme(features32.astype(np.float64), labels).score
    # Rounding the input to float32 moves the score by about 1e-9 here.
    assert logme(features32, labels).score == pytest.approx(logme(features, labels).score, abs=1e-7)


def test_float32_working_precision_within_1e_5():
    features, labels = make_classification()
    reference = logme(features, labels).score
    for method in ("fixed_point", "evidence"):
        assert logme(features, labels, method=method, dtype="float32").score == pytest.approx(reference, abs=1e-5)


@IGNORE_CAP
@pytest.mark.parametrize("method", ["fixed_point", "evidence"])
@pytest.mark.parametrize("shape", [(300, 10), (40, 70)], ids=["N>D", "N<D"])
def test_torch_cpu_matches_numpy_to_1e_8(method, shape):
    features, labels = make_classification(n_samples=shape[0], n_features=shape[1])
    reference = logme(features, labels, method=method)
    on_torch = logme(features, labels, method=method, device="cpu")
    assert on_torch.backend == "torch:cpu"
    np.testing.assert_allclose(on_torch.evidences, reference.evidences, rtol=0, atol=1e-8)
    np.testing.assert_allclose(on_torch.alphas, reference.alphas, rtol=1e-8)


def test_torch_tensors_stay_on_torch():
    features, targets = make_regression()
    result = logme(torch.from_numpy(features), torch.from_numpy(targets), regression=True)
    assert result.backend == "torch:cpu"
    assert result.score == pytest.approx(logme(features, targets, regression=True).score, abs=1e-10)


# Inputs are never modified


def test_inputs_are_not_mutated():
    features, labels = make_classification()
    features_before, labels_before = features.copy(), labels.copy()
    for method in ("fixed_point", "evidence"):
        logme(features, labels, method=method)
    np.testing.assert_array_equal(features, features_before)
    np.testing.assert_array_equal(labels, labels_before)

    tensor = torch.from_numpy(features.copy())
    tensor_before = tensor.clone()
    logme(tensor, labels, device="cpu")
    assert torch.equal(tensor, tensor_before)


# Convergence reporting


def test_iteration_cap_warns_and_flags():
    features, labels = make_classification()
    with pytest.warns(LogMEConvergenceWarning, match="did not converge for 3 of 3 targets"):
        result = logme(features, labels, max_iter=1)
    assert not result.converged
    assert not result.target_converged.any()
    np.testing.assert_array_equal(result.n_iter, [1, 1, 1])


def test_well_posed_problem_does_not_warn():
    features, labels = make_classification()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogMEConvergenceWarning)
        result = logme(features, labels)
    assert result.converged
    assert result.n_iter.max() <= 11


# Errors


def test_single_class_rejected():
    features, _ = make_classification()
    with pytest.raises(ValueError, match="at least 2"):
        logme(features, np.full(len(features), "cat"))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "mackay"}, "method must be one of"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"tol": -1.0}, "tol must be a finite number"),
        ({"epsilon": -1e-5}, "epsilon must be a finite number"),
        ({"epsilon": float("nan")}, "epsilon must be a finite number"),
    ],
)
def test_invalid_options_rejected(options, message):
    features, labels = make_classification()
    with pytest.raises(ValueError, match=message):
        logme(features, labels, **options)


def test_label_count_mismatch_rejected():
    features, labels = make_classification()
    with pytest.raises(ValueError, match="labels has 299 entries but the features have 300"):
        logme(features, labels[:-1])


def test_nan_in_features_or_targets_rejected():
    features, targets = make_regression()
    broken = features.copy()
    broken[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"features contains NaN or inf, first at index \(3, 2\)"):
        logme(broken, targets, regression=True)
    broken_targets = targets.copy()
    broken_targets[5, 1] = np.inf
    with pytest.raises(ValueError, match=r"labels contains NaN or inf, first at index \(5, 1\)"):
        logme(features, broken_targets, regression=True)


def test_string_targets_rejected_in_regression():
    features, labels = make_classification()
    with pytest.raises(TypeError, match="regression=False"):
        logme(features, labels.astype(str), regression=True)


def test_zero_epsilon_with_orthogonal_target_rejected():
    features, _ = make_regression()
    with pytest.raises(ValueError, match="Pass epsilon > 0"):
        logme(features, np.zeros(len(features)), regression=True, epsilon=0.0)


def test_all_zero_features_rejected():
    _, labels = make_classification()
    with pytest.raises(ValueError, match="rank 0"):
        logme(np.zeros((len(labels), 4)), labels)
