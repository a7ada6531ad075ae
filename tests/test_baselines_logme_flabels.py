"""LogME with F-labels: the two ways of combining encoders, input formats and errors."""

import numpy as np
import pytest
import torch

from emms_ref.baselines import logme, logme_flabels

from conftest import make_problem


def test_average_equals_concatenate_for_equal_widths(problem):
    features, f_labels = problem
    average = logme_flabels(features, f_labels, combine="average")
    concatenate = logme_flabels(features, f_labels, combine="concatenate")
    assert average.score == pytest.approx(concatenate.score, rel=1e-13)


def test_unequal_widths_weigh_encoders_or_columns():
    features, f_labels = make_problem(n_samples=200)
    blocks = [f_labels[0], f_labels[1][:, :2], f_labels[2][:, :4]]
    per_encoder = [logme(features, block, regression=True).score for block in blocks]
    all_columns = logme(features, np.hstack(blocks), regression=True).score

    average = logme_flabels(features, blocks, combine="average")
    concatenate = logme_flabels(features, blocks, combine="concatenate")
    assert average.score == pytest.approx(np.mean(per_encoder), rel=1e-12)
    assert concatenate.score == pytest.approx(all_columns, rel=1e-12)
    assert average.score != pytest.approx(concatenate.score, rel=1e-3)
    np.testing.assert_allclose(average.encoder_scores, per_encoder, rtol=1e-12)
    np.testing.assert_array_equal(average.widths, [6, 2, 4])


def test_default_combine_is_average(problem):
    features, f_labels = problem
    result = logme_flabels(features, f_labels)
    assert result.combine == "average"


def test_stacked_array_equals_list(problem):
    features, f_labels = problem
    stacked = np.stack(f_labels, axis=2)
    assert logme_flabels(features, stacked).score == logme_flabels(features, f_labels).score


def test_single_block_equals_regression_logme(problem):
    features, f_labels = problem
    assert logme_flabels(features, f_labels[0]).score == pytest.approx(
        logme(features, f_labels[0], regression=True).score, rel=1e-13
    )


def test_less_noisy_flabels_score_higher(problem):
    # conftest builds Z_k = X W + noise with noise levels 0.3, 1 and 3.
    features, f_labels = problem
    encoder_scores = logme_flabels(features, f_labels).encoder_scores
    assert encoder_scores[0] > encoder_scores[1] > encoder_scores[2]


def test_torch_cpu_matches_numpy(problem):
    features, f_labels = problem
    reference = logme_flabels(features, f_labels)
    on_torch = logme_flabels(torch.from_numpy(features), [torch.from_numpy(z) for z in f_labels])
    assert on_torch.logme.backend == "torch:cpu"
    np.testing.assert_allclose(on_torch.logme.evidences, reference.logme.evidences, rtol=0, atol=1e-8)


def test_inputs_are_not_mutated(problem):
    features, f_labels = problem
    features_before = features.copy()
    labels_before = [z.copy() for z in f_labels]
    logme_flabels(features, f_labels, combine="concatenate")
    logme_flabels(features, f_labels, method="evidence")
    np.testing.assert_array_equal(features, features_before)
    for z, before in zip(f_labels, labels_before):
        np.testing.assert_array_equal(z, before)


def test_invalid_combine_rejected(problem):
    features, f_labels = problem
    with pytest.raises(ValueError, match="combine must be one of"):
        logme_flabels(features, f_labels, combine="sum")


def test_row_mismatch_rejected(problem):
    features, f_labels = problem
    with pytest.raises(ValueError, match=r"f_labels\[1\] has 299 rows but the features have 300"):
        logme_flabels(features, [f_labels[0], f_labels[1][:-1]])


def test_nan_in_flabels_rejected(problem):
    features, f_labels = problem
    broken = f_labels[2].copy()
    broken[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"f_labels\[2\] contains NaN or inf"):
        logme_flabels(features, [f_labels[0], f_labels[1], broken])
