"""Models saved by earlier releases load and score as they did."""

import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

from ibdetect.persistence import load, read_info

DATA = Path(__file__).parent / "data"


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
    np.testing.assert_allclose(model.decision_function(expected["X"]), expected["pipeline"], rtol=1e-6, atol=1e-9)


def test_pickle_of_0_2_0_loads_and_scores_as_saved(expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = joblib.load(DATA / "detector-0.2.0.joblib")
    np.testing.assert_allclose(detector.decision_function(expected["X"]), expected["pickle"], rtol=1e-6, atol=1e-9)
    # Refitting the loaded detector goes through the current code.
    assert detector.fit(expected["X"][:120]).offset_ < 0
