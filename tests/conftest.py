import numpy as np
import pytest

# Small, quick settings shared by the estimator tests.
FAST = {"max_epochs": 5, "hidden_layer_sizes": (32,), "embedding_dim": 8, "random_state": 0}


@pytest.fixture
def blobs():
    """Three well separated normal classes in 6-D and a far-away unseen class."""
    rng = np.random.RandomState(0)
    centres = np.array([[-6, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0]], dtype=float)
    X = np.vstack([rng.normal(c, 1.0, (40, 6)) for c in centres])
    y = np.repeat([0, 1, 2], 40)
    X_unseen = rng.normal([0, -6, 6, 0, 0, 0], 1.0, (30, 6))
    return X, y, X_unseen
