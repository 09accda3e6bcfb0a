"""Models saved by earlier releases load and score as they did."""

import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

from ibdetect.persistence import load, read_info, save

DATA = Path(__file__).parent / "data"

# The saved scores came from another CPU, whose float32 kernels round in
# another order: the network's outputs agree to a few units in the last
# place of float32, about 1e-7 of scores near 1 (measured: up to 3.7e-7
# between AVX-512 and AVX2 machines). decision_function subtracts the
# distance from the threshold, so near 0 that is no relative bound.
SCORE_ATOL = 1e-6


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "scores-0.2.0.npz") as saved:
        return dict(saved)


def test_model_file_of_0_2_0_loads_and_scores_as_saved(expected):
    with warnings.catch_warnings():
        # The file names the versions that saved it, which may differ here.
        warnings.simplefilter("ignore")
        model = load(DATA / "model-0.2.0.ibdetect")
    assert read_info(DATA / "model-0.2.0.ibdetect").metadata == {"written_by": "ibdetect 0.2.0"}
    assert model[-1].anomaly_score_ == "knn+input"
    np.testing.assert_allclose(model.decision_function(expected["X"]), expected["pipeline"], rtol=1e-6, atol=SCORE_ATOL)


@pytest.fixture
def unpickled():
    with warnings.catch_warnings():
        # scikit-learn warns that another version pickled it, where it did.
        warnings.simplefilter("ignore")
        return joblib.load(DATA / "detector-0.2.0.joblib")


def test_pickle_of_0_2_0_loads_and_scores_as_saved(unpickled, expected):
    # 0.2.0 had neither max_references nor n_neighbors_: its k-NN score
    # searched the n_neighbors-th nearest reference.
    assert (unpickled.max_references, unpickled.n_neighbors_) == ("auto", unpickled.n_neighbors)
    np.testing.assert_allclose(unpickled.decision_function(expected["X"]), expected["pickle"], rtol=1e-6, atol=SCORE_ATOL)


def test_pickle_of_0_2_0_converts_to_a_model_file(unpickled, expected, tmp_path):
    save(unpickled, tmp_path / "converted.ibdetect")
    loaded = load(tmp_path / "converted.ibdetect")
    np.testing.assert_array_equal(loaded.decision_function(expected["X"]), unpickled.decision_function(expected["X"]))


def test_a_density_pickle_without_input_units_asks_to_be_refitted(blobs, tmp_path):
    from ibdetect import IBDeepDescription

    X, y, _ = blobs
    detector = IBDeepDescription(anomaly_score="knn+density", max_epochs=1, random_state=0).fit(X, y)
    del detector.input_scales_
    joblib.dump(detector, tmp_path / "detector.joblib")
    with pytest.raises(ValueError, match="development build .* refit it"):
        joblib.load(tmp_path / "detector.joblib")


def test_pickle_of_0_2_0_refits_with_the_current_code(unpickled, expected):
    X = expected["X"][:120]
    refitted = unpickled.set_params(max_epochs=1).fit(X)
    assert refitted.n_neighbors_ == refitted.n_neighbors
    assert refitted.decision_scores_.shape == (len(X),)
