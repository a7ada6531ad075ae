"""Input formats, bad input and non-mutation of emms_score."""

import numpy as np
import pytest
import torch

from emms_ref import emms_score, emms_score_blocks

from conftest import make_problem


def test_stacked_array_equals_list(problem):
    features, f_labels = problem
    stacked = np.stack(f_labels, axis=2)
    assert emms_score(features, stacked).score == pytest.approx(
        emms_score(features, f_labels).score, rel=1e-12
    )


def test_different_widths_are_zero_padded(problem):
    features, f_labels = problem
    narrow = [f_labels[0], f_labels[1][:, :4], f_labels[2][:, :2]]
    padded = [np.hstack([z, np.zeros((z.shape[0], 6 - z.shape[1]))]) for z in narrow]
    result = emms_score(features, narrow)
    assert result.score == pytest.approx(emms_score(features, padded).score, rel=1e-12)
    assert result.score == pytest.approx(emms_score(features, narrow).score, rel=0)


def test_widths_like_clip_gpt2_bert_are_accepted():
    """CLIP ViT-g-14 (1024), GPT-2 large (1280) and BERT-base (768) F-labels together."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 16))
    f_labels = [rng.normal(size=(300, width)) for width in (1024, 1280, 768)]
    result = emms_score(features, f_labels)
    padded = [np.hstack([z, np.zeros((300, 1280 - z.shape[1]))]) for z in f_labels]
    assert np.isfinite(result.score)
    assert result.weights.shape == (3,)
    assert result.score == emms_score(features, f_labels).score
    assert result.score == pytest.approx(emms_score(features, padded).score, rel=1e-12)


def test_float32_inputs_are_computed_in_float64(problem):
    features, f_labels = problem
    features32 = features.astype(np.float32)
    labels32 = [z.astype(np.float32) for z in f_labels]
    result = emms_score(features32, labels32)
    upcast = emms_score(features32.astype(np.float64), [z.astype(np.float64) for z in labels32])
    assert result.score == upcast.score
    assert result.score == pytest.approx(emms_score(features, f_labels).score, abs=1e-4)


def test_mixed_float32_and_float64_inputs(problem):
    features, f_labels = problem
    mixed = [f_labels[0].astype(np.float32), f_labels[1], f_labels[2]]
    result = emms_score(features.astype(np.float32), mixed)
    assert result.score == pytest.approx(emms_score(features, f_labels).score, abs=1e-4)


def test_inputs_are_not_mutated(problem):
    features, f_labels = problem
    features_before = features.copy()
    labels_before = [z.copy() for z in f_labels]
    stacked = np.stack(f_labels, axis=2)
    stacked_before = stacked.copy()
    for method in ("exact", "alternating", "release"):
        emms_score(features, f_labels, method=method)
        emms_score(features, stacked, method=method)
        emms_score(features, f_labels, method=method, device="cpu")
    np.testing.assert_array_equal(features, features_before)
    for z, before in zip(f_labels, labels_before):
        np.testing.assert_array_equal(z, before)
    np.testing.assert_array_equal(stacked, stacked_before)


def test_torch_inputs_are_not_mutated(problem):
    features = torch.from_numpy(problem[0].copy())
    f_labels = [torch.from_numpy(z.copy()) for z in problem[1]]
    for method in ("exact", "release"):
        emms_score(features, f_labels, method=method)
    assert torch.equal(features, torch.from_numpy(problem[0]))
    for z, original in zip(f_labels, problem[1]):
        assert torch.equal(z, torch.from_numpy(original))


def test_repeated_calls_are_identical(problem):
    first = emms_score(*problem)
    second = emms_score(*problem)
    assert first.score == second.score
    np.testing.assert_array_equal(first.weights, second.weights)


def test_nan_in_features_names_position(problem):
    features, f_labels = problem
    features = features.copy()
    features[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"features contains NaN or inf, first at index \(5, 3\)"):
        emms_score(features, f_labels)


def test_inf_in_f_labels_names_encoder_and_position(problem):
    features, f_labels = problem
    f_labels = [z.copy() for z in f_labels]
    f_labels[2][7, 1] = np.inf
    with pytest.raises(ValueError, match=r"f_labels\[2\] contains NaN or inf, first at index \(7, 1\)"):
        emms_score(features, f_labels)


def test_nan_in_torch_features_is_rejected(problem):
    features = torch.from_numpy(problem[0].copy())
    features[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"index \(1, 2\)"):
        emms_score(features, problem[1])


def test_row_mismatch_reports_both_shapes(problem):
    features, f_labels = problem
    with pytest.raises(ValueError, match=r"f_labels\[1\] has 299 rows but the features have 300"):
        emms_score(features, [f_labels[0], f_labels[1][:-1], f_labels[2]])


@pytest.mark.parametrize(
    "features, message",
    [
        (np.zeros((1, 3)), "at least 2 samples"),
        (np.zeros((5,)), "2-D array"),
        (np.zeros((5, 0)), "no feature columns"),
        (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
    ],
)
def test_bad_features_are_rejected(features, message):
    with pytest.raises((ValueError, TypeError), match=message):
        emms_score(features, [np.zeros((features.shape[0], 2))])


def test_no_f_labels_is_rejected(problem):
    with pytest.raises(ValueError, match="f_labels is empty"):
        emms_score(problem[0], [])
    with pytest.raises(ValueError, match="f_labels is missing"):
        emms_score(problem[0], None)


def test_one_dimensional_f_label_gets_a_fix(problem):
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        emms_score(problem[0], [np.zeros(300)])


def test_unknown_method_is_rejected(problem):
    with pytest.raises(ValueError, match="method must be one of"):
        emms_score(*problem, method="lstsq")
    with pytest.raises(ValueError, match="t_step must be one of"):
        emms_score(*problem, method="alternating", t_step="slow")
    with pytest.raises(ValueError, match="factorization must be one of"):
        emms_score(*problem, factorization="qr")


def test_constant_features_give_the_worst_score():
    rng = np.random.default_rng(1)
    f_labels = [rng.normal(size=(50, 3))]
    result = emms_score(np.ones((50, 4)), f_labels)
    assert result.rank == 0
    assert result.score == pytest.approx(-1.0)


@pytest.mark.parametrize("method", ["exact", "alternating"])
@pytest.mark.parametrize("make_block", [np.ones, np.zeros], ids=["ones", "zeros"])
def test_constant_f_label_block_is_rejected(problem, method, make_block):
    """A constant block would be fitted exactly by any features, so every model would score 0."""
    features, f_labels = problem
    constant = make_block(f_labels[0].shape)
    with pytest.raises(ValueError, match=r"f_labels\[1\] is constant"):
        emms_score(features, [f_labels[0], constant, f_labels[1]], method=method)


def test_constant_block_rejected_out_of_core(problem):
    features, f_labels = problem
    blocks = [f_labels[0], np.full_like(f_labels[0], 3.0)]
    with pytest.raises(ValueError, match=r"f_labels\[1\] is constant"):
        emms_score_blocks([(features[:150], [b[:150] for b in blocks]), (features[150:], [b[150:] for b in blocks])])


def test_underflowing_f_label_block_is_rejected(problem):
    features, f_labels = problem
    with pytest.raises(ValueError, match="too small to square"):
        emms_score(features, [f_labels[0] * 1e-200])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_overflowing_inputs_get_a_rescaling_hint(problem):
    features, f_labels = problem
    with pytest.raises(ValueError, match="features overflow when squared"):
        emms_score(features * 1e160, f_labels)
    with pytest.raises(ValueError, match=r"f_labels\[1\] overflow when squared"):
        emms_score(features, [f_labels[0], f_labels[1] * 1e160])


def test_large_but_squarable_scale_keeps_the_score(problem):
    features, f_labels = problem
    assert emms_score(features * 1e150, f_labels).score == pytest.approx(emms_score(features, f_labels).score, rel=1e-9)


def test_partly_constant_block_is_scored(problem):
    """Constant columns inside a block become 0; the other columns still carry the fit."""
    features, f_labels = problem
    block = f_labels[0].copy()
    block[:, 0] = 2.0
    assert -1.0 < emms_score(features, [block]).score < 0.0


def test_large_problem_shapes_are_consistent():
    features, f_labels = make_problem(seed=2, n_samples=2000, n_features=64, width=16)
    result = emms_score(features, f_labels)
    assert result.residual_gram.shape == (3, 3)
    assert result.rank == 64


def test_rounding_noise_columns_count_as_constant(problem):
    """Sentence encoders emit dead dimensions of std ~1e-33; they must not get unit variance."""
    features, f_labels = problem
    rng = np.random.default_rng(3)
    noisy = []
    for z in f_labels:
        block = z.astype(np.float32)
        dead = (1e-33 * rng.normal(size=(z.shape[0], 2))).astype(np.float32)
        noisy.append(np.hstack([block, dead]))
    zeroed = [np.hstack([z.astype(np.float32), np.zeros((z.shape[0], 2), np.float32)]) for z in f_labels]
    assert emms_score(features, noisy).score == pytest.approx(emms_score(features, zeroed).score, rel=1e-12)


def test_float32_noise_level_columns_count_as_constant(problem):
    """A float32 column whose spread is below float32 rounding of the block is noise."""
    features, f_labels = problem
    block = f_labels[0].astype(np.float32)
    tiny = (1e-9 * np.random.default_rng(4).normal(size=(block.shape[0], 1))).astype(np.float32)
    with_tiny = emms_score(features, [np.hstack([block, tiny])])
    with_zero = emms_score(features, [np.hstack([block, np.zeros_like(tiny)])])
    assert with_tiny.score == pytest.approx(with_zero.score, rel=1e-12)


def test_small_float64_columns_are_kept():
    """In float64, a genuinely small-scale column still carries signal."""
    rng = np.random.default_rng(5)
    features = rng.normal(size=(200, 3))
    f_label = features[:, :1] + 0.1 * rng.normal(size=(200, 1))
    scaled = features.copy()
    scaled[:, 0] *= 1e-9
    assert emms_score(scaled, [f_label]).score == pytest.approx(emms_score(features, [f_label]).score, rel=1e-9)


def test_degenerate_score_is_positive_zero():
    rng = np.random.default_rng(6)
    with pytest.warns(UserWarning):
        result = emms_score(rng.normal(size=(5, 8)), [rng.normal(size=(5, 2))])
    assert str(result.score) == "0.0"
