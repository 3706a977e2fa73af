"""Small datasets shared by the SGD tests: Gaussian blobs and a noisy linear target."""

from __future__ import annotations

import numpy as np


def blobs(n_samples=400, n_features=5, n_classes=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.5, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X.astype(dtype), y


def linear(n_samples=400, n_features=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = X @ np.arange(1.0, n_features + 1) - 2.0 + 0.1 * rng.normal(size=n_samples)
    return X.astype(dtype), y.astype(dtype)
