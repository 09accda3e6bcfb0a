import numpy as np
import pytest

# Small, quick settings shared by the estimator tests.
FAST = {"max_epochs": 5, "hidden_layer_sizes": (32,), "embedding_dim": 8, "random_state": 0}


def make_blobs(centres, n_per_class, scale=1.0, seed=0, dtype=np.float64):
    """Samples drawn around each of ``centres``, and their class labels 0, 1, ...

    The one builder of labelled Gaussian classes for every test module.
    """
    rng = np.random.RandomState(seed)
    centres = np.atleast_2d(np.asarray(centres, dtype=float))
    X = np.vstack([rng.normal(centre, scale, (n_per_class, centres.shape[1])) for centre in centres])
    return X.astype(dtype), np.repeat(np.arange(len(centres)), n_per_class)


# Three well separated normal classes in 6-D and a far-away unseen class.
BLOB_CENTRES = [[-6, 0, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0]]
UNSEEN_CENTRE = [0, -6, 6, 0, 0, 0]


@pytest.fixture
def blobs():
    """Three well separated normal classes in 6-D (40 samples each) and 30 samples of an unseen class."""
    X, y = make_blobs(BLOB_CENTRES, 40)
    X_unseen, _ = make_blobs([UNSEEN_CENTRE], 30, seed=1)
    return X, y, X_unseen


@pytest.fixture(scope="session")
def fitted_blobs():
    """A detector fitted once with FAST settings on the blobs, for tests that only read it.

    Returns the detector and the blobs; a test must neither refit nor change them.
    """
    from ibdetect import IBDeepDescription

    X, y = make_blobs(BLOB_CENTRES, 40)
    X_unseen, _ = make_blobs([UNSEEN_CENTRE], 30, seed=1)
    return IBDeepDescription(**FAST).fit(X, y), (X, y, X_unseen)
