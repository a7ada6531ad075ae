"""The per-column LogME loop of the benchmark page against the vectorised LogME with F-labels."""

import warnings

import numpy as np
import pytest

from emms_ref.baselines import logme_flabels
from emms_ref.baselines.logme_per_column import logme_flabels_per_column


@pytest.mark.parametrize(("n_samples", "n_features"), [(300, 20), (40, 90)])
def test_loop_matches_vectorised_logme(n_samples, n_features):
    rng = np.random.default_rng(n_samples)
    features = rng.standard_normal((n_samples, n_features))
    f_labels = [
        features[:, :5] @ rng.standard_normal((5, 6)) + rng.standard_normal((n_samples, 6)),
        rng.standard_normal((n_samples, 3)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectorised = logme_flabels(features, f_labels).score
    assert logme_flabels_per_column(features, f_labels) == pytest.approx(vectorised, rel=1e-9)


def test_loop_matches_vectorised_logme_when_converged():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((200, 10))
    f_labels = [features[:, :2] + 0.5 * rng.standard_normal((200, 2))]
    reference = logme_flabels(features, f_labels, max_iter=500, tol=1e-12)
    assert reference.converged
    assert logme_flabels_per_column(features, f_labels, max_iter=500, tol=1e-12) == pytest.approx(
        reference.score, rel=1e-10
    )


def test_loop_validates_inputs():
    with pytest.raises(ValueError, match="f_labels\\[0\\] has 3 rows"):
        logme_flabels_per_column(np.ones((4, 2)), [np.ones((3, 1))])
