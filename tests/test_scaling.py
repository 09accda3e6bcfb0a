"""Large data: memmaps without copies, memory bounded in fit and inference."""

import pickle
import tracemalloc

import numpy as np
import pytest
from conftest import FAST

from ibdetect import IBDeepDescription


@pytest.fixture
def memmap(tmp_path):
    """10,000 rows of 256 float32 features (10 MB) in a .npy file, opened read-only."""
    rng = np.random.RandomState(0)
    y = rng.randint(3, size=10_000)
    X = (rng.normal(size=(10_000, 256)) + 4.0 * y[:, None]).astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r"), y


def test_fit_reads_a_read_only_memmap_without_copying_it(memmap):
    X, y = memmap
    params = {**FAST, "max_epochs": 1, "pretrain_epochs": 1, "batch_size": 1024}
    # Fitted first, which also imports what a first fit imports.
    in_memory = IBDeepDescription(**params).fit(np.array(X), y)
    detector = IBDeepDescription(**params)
    tracemalloc.start()
    try:
        detector.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A copy of X would take 10 MB; the embeddings, labels, targets, masks
    # and indices take less than 2 MB.
    assert peak < X.nbytes / 2
    np.testing.assert_allclose(detector.decision_function(X[:500]), in_memory.decision_function(X[:500]), rtol=1e-5)


def test_the_validation_split_is_drawn_again_rather_than_stored(blobs):
    X, y, _ = blobs
    detector = IBDeepDescription(**FAST).fit(np.tile(X, (50, 1)), np.tile(y, 50))
    assert "valid_loss" in detector.net_.history[-1]
    # Two numbers, whatever the number of held-out samples (600 here).
    assert len(pickle.dumps(detector.net_.train_split)) < 300
