"""Alternating minimisation, the release-compatible scorer and the torch backend."""

import numpy as np
import pytest
import torch

from emms_ref import emms_score
from emms_ref.solver import project_to_simplex

from conftest import make_problem


def _standardize(a, epsilon=0.0):
    centred = a - a.mean(axis=0)
    std = centred.std(axis=0)
    if epsilon:
        return centred / (std + epsilon)
    return centred / np.where(std > 0, std, 1.0)


@pytest.mark.parametrize("seed", range(5))
def test_alternating_exact_reaches_the_qp_optimum(seed):
    features, f_labels = make_problem(seed=20 + seed)
    exact = emms_score(features, f_labels)
    alternating = emms_score(features, f_labels, method="alternating", max_iter=500, tol=1e-12)
    assert alternating.converged
    assert alternating.score == pytest.approx(exact.score, rel=1e-8)
    np.testing.assert_allclose(alternating.weights, exact.weights, atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_alternating_exact_decreases_monotonically(seed):
    features, f_labels = make_problem(seed=30 + seed)
    result = emms_score(features, f_labels, method="alternating")
    history = result.history
    rounding = 1e-12 * history[0]
    assert np.all(np.diff(history) <= rounding)
    # Each t-step lowers F at fixed W, and the next W-step lowers it again.
    assert np.all(result.t_step_history <= history[:-1] + rounding)
    assert np.all(history[1:] <= result.t_step_history + rounding)


def test_alternating_history_matches_explicit_w_and_t():
    """Replay two iterations with an explicit W and compare the recorded objectives."""
    features, f_labels = make_problem(seed=40)
    result = emms_score(features, f_labels, method="alternating", max_iter=2, tol=0.0)
    x = _standardize(features)
    z = [_standardize(block) for block in f_labels]
    n = x.shape[0]

    grid = np.linspace(0, 1, 201)
    candidates = [np.array((a, b, 1 - a - b)) for a in grid for b in grid if a + b <= 1 + 1e-12]
    t = np.full(3, 1 / 3)
    for step in range(2):
        target = sum(weight * block for weight, block in zip(t, z))
        fitted = x @ np.linalg.lstsq(x, target, rcond=None)[0]
        assert result.history[step] == pytest.approx(np.sum((fitted - target) ** 2) / (2 * n), rel=1e-9)

        # The exact t-step at fixed W can only beat a fine search over the simplex.
        searched = min(
            np.sum((fitted - sum(weight * block for weight, block in zip(s, z))) ** 2) / (2 * n)
            for s in candidates
        )
        assert result.t_step_history[step] <= searched + 1e-12
        assert result.t_step_history[step] == pytest.approx(searched, rel=1e-3)

        t = emms_score(features, f_labels, method="alternating", max_iter=step + 1, tol=0.0).weights


def test_fast_t_step_is_ls_then_sparsemax():
    features, f_labels = make_problem(seed=41)
    result = emms_score(features, f_labels, method="alternating", t_step="fast", max_iter=1, tol=0.0)
    x = _standardize(features)
    z = [_standardize(block) for block in f_labels]
    target = sum(block / 3 for block in z)
    fitted = x @ np.linalg.lstsq(x, target, rcond=None)[0]
    design = np.stack([block.ravel() for block in z], axis=1)
    t_ls = np.linalg.lstsq(design, fitted.ravel(), rcond=None)[0]
    np.testing.assert_allclose(result.weights, project_to_simplex(t_ls), atol=1e-10)


def test_fast_t_step_can_raise_the_objective():
    """The fast step is not a descent step: find an instance where it raises F."""
    raised = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(60, 5))
        f_labels = [rng.normal(size=(60, 4)) + (k == 0) * features[:, :4] for k in range(3)]
        result = emms_score(features, f_labels, method="alternating", t_step="fast", max_iter=20)
        raised += int(np.any(result.t_step_history > result.history[:-1] * (1 + 1e-12)))
    assert raised > 0


def test_alternating_reports_non_convergence():
    features, f_labels = make_problem(seed=42)
    result = emms_score(features, f_labels, method="alternating", max_iter=1, tol=0.0)
    assert not result.converged
    assert result.n_iter == 1
    assert len(result.history) == 2


def test_release_matches_its_definition_from_explicit_steps():
    """Recompute the release's one-step arithmetic with explicit W0 and t1."""
    features, f_labels = make_problem(seed=43)
    result = emms_score(features, f_labels, method="release")
    x = _standardize(features, epsilon=1e-8)
    z = [_standardize(block, epsilon=1e-8) for block in f_labels]
    n, width = z[0].shape

    w0 = np.linalg.lstsq(x, sum(z) / 3, rcond=None)[0]
    design = np.stack([block.ravel() for block in z], axis=1)
    t1 = project_to_simplex(np.linalg.lstsq(design, (x @ w0).ravel(), rcond=None)[0])
    squared = np.sum((x @ w0 - sum(w * blk for w, blk in zip(t1, z))) ** 2)

    np.testing.assert_allclose(result.weights, t1, atol=1e-10)
    # Operator precedence in the release: sum / N * L == (sum / N) * L.
    assert result.score == pytest.approx(-(squared / n) * width, rel=1e-10)
    assert result.score == pytest.approx(-width**2 * squared / (n * width), rel=1e-10)


def test_release_score_is_no_better_than_exact():
    """The release uses a stale W0 and one t-step, so its residual cannot beat the optimum."""
    for seed in range(5):
        features, f_labels = make_problem(seed=50 + seed)
        width = f_labels[0].shape[1]
        release = emms_score(features, f_labels, method="release")
        exact = emms_score(features, f_labels)
        assert release.score / width**2 <= exact.score + 1e-9


@pytest.mark.parametrize("method", ["exact", "alternating", "release"])
def test_torch_cpu_matches_numpy(problem, method):
    features, f_labels = problem
    reference = emms_score(features, f_labels, method=method)
    result = emms_score(features, f_labels, method=method, device="cpu")
    assert result.backend == "torch:cpu"
    assert result.score == pytest.approx(reference.score, rel=1e-10)
    np.testing.assert_allclose(result.weights, reference.weights, atol=1e-9)


def test_torch_tensors_stay_on_their_device(problem):
    features, f_labels = problem
    result = emms_score(torch.from_numpy(features), [torch.from_numpy(z) for z in f_labels])
    assert result.backend == "torch:cpu"
    assert result.score == pytest.approx(emms_score(features, f_labels).score, rel=1e-10)


def test_torch_float32_working_precision_is_close(problem):
    result = emms_score(*problem, device="cpu", dtype="float32")
    assert result.score == pytest.approx(emms_score(*problem).score, rel=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_numpy(problem):
    result = emms_score(*problem, device="cuda")
    assert result.score == pytest.approx(emms_score(*problem).score, rel=1e-9)


def test_cuda_request_without_cuda_fails_clearly(problem):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        emms_score(*problem, device="cuda")
