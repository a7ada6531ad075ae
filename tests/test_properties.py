"""Property-based tests of emms_score: invariances and monotonicity on random problems.

The exact EMMS score depends on the features only through the column space of
the standardised features. So it must not change when the samples are permuted
or when an invertible matrix re-mixes the feature dimensions. Adding feature
columns can only enlarge that space, so it must not lower the score.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emms_ref import emms_score

from conftest import make_problem

# Scores lie in [-1, 0]. These tolerances are far above float64 rounding for
# problems of this size and far below any real change of the fit.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-10
NOISE_LEVELS = (0.3, 1.0, 3.0)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
# N >= 30 and D <= 8 keep N > D + 1 (and N > D + 4 after adding up to three
# columns), so every drawn problem has a non-degenerate score.
sample_counts = st.integers(min_value=30, max_value=80)
feature_counts = st.integers(min_value=2, max_value=8)
label_widths = st.integers(min_value=1, max_value=5)
encoder_counts = st.integers(min_value=1, max_value=3)


def draw_problem(seed, n_samples, n_features, width, n_encoders):
    """Draw features (N, D) and K F-labels (N, L) that depend linearly on them plus noise."""
    return make_problem(
        seed=seed,
        n_samples=n_samples,
        n_features=n_features,
        width=width,
        noise_levels=NOISE_LEVELS[:n_encoders],
    )


@settings(max_examples=25, deadline=None)
@given(seeds, sample_counts, feature_counts, label_widths, encoder_counts)
def test_score_invariant_to_sample_permutation(seed, n_samples, n_features, width, n_encoders):
    features, f_labels = draw_problem(seed, n_samples, n_features, width, n_encoders)
    order = np.random.default_rng(seed + 1).permutation(n_samples)

    original = emms_score(features, f_labels).score
    permuted = emms_score(features[order], [block[order] for block in f_labels]).score

    assert permuted == pytest.approx(original, rel=RELATIVE_TOLERANCE, abs=ABSOLUTE_TOLERANCE)


@settings(max_examples=25, deadline=None)
@given(seeds, sample_counts, feature_counts, label_widths, encoder_counts)
def test_score_invariant_to_feature_remixing(seed, n_samples, n_features, width, n_encoders):
    features, f_labels = draw_problem(seed, n_samples, n_features, width, n_encoders)
    rng = np.random.default_rng(seed + 2)
    # A random orthogonal matrix times a positive diagonal in [0.5, 2] is invertible
    # with condition number at most 4, so rounding cannot mask a real change.
    orthogonal, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    mixing = orthogonal * rng.uniform(0.5, 2.0, size=n_features)

    original = emms_score(features, f_labels).score
    remixed = emms_score(features @ mixing, f_labels).score

    assert remixed == pytest.approx(original, rel=RELATIVE_TOLERANCE, abs=ABSOLUTE_TOLERANCE)


@settings(max_examples=25, deadline=None)
@given(
    seeds,
    sample_counts,
    feature_counts,
    label_widths,
    encoder_counts,
    st.integers(min_value=1, max_value=3),
)
def test_score_monotone_in_added_columns(seed, n_samples, n_features, width, n_encoders, n_added):
    features, f_labels = draw_problem(seed, n_samples, n_features, width, n_encoders)
    rng = np.random.default_rng(seed + 3)
    # The added columns mix the existing features with noise, so the new column
    # space overlaps the old one instead of being independent of it.
    mixed = features @ rng.normal(size=(n_features, n_added)) + rng.normal(size=(n_samples, n_added))
    extended = np.concatenate([features, mixed], axis=1)

    original = emms_score(features, f_labels).score
    with_added = emms_score(extended, f_labels).score

    assert with_added >= original - ABSOLUTE_TOLERANCE
