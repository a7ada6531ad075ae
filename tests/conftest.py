"""Shared fixtures: small synthetic EMMS problems with a known structure."""

import numpy as np
import pytest


def make_problem(seed=0, n_samples=300, n_features=12, width=6, noise_levels=(0.3, 1.0, 3.0)):
    """Features X and F-labels Z_k = X W + noise_k, one per noise level."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, width))
    clean = features @ weights
    f_labels = [clean + rng.normal(scale=level, size=clean.shape) for level in noise_levels]
    return features, f_labels


@pytest.fixture
def problem():
    return make_problem()
