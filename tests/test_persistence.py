import io
import warnings
from unittest import mock

import joblib
import numpy as np
import pytest
import torch
import torch.serialization
from conftest import FAST
from skorch.exceptions import DeviceWarning

from ibdetect import IBDeepDescription


def dump_to_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


@pytest.fixture
def fitted(blobs):
    X, y, X_unseen = blobs
    return IBDeepDescription(**FAST).fit(X, y), np.vstack([X, X_unseen])


def test_joblib_round_trip_gives_identical_scores(fitted, tmp_path):
    detector, X = fitted
    path = tmp_path / "model.joblib"
    joblib.dump(detector, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    np.testing.assert_array_equal(loaded.transform(X), detector.transform(X))
    assert loaded.get_params() == detector.get_params()


def test_loaded_model_keeps_training(fitted, blobs):
    detector, _ = fitted
    loaded = joblib.load(dump_to_bytes(detector))
    # Resuming must not move the centres back to the initial class means.
    with mock.patch.object(loaded.net_, "initialize_centers", side_effect=AssertionError):
        loaded.net_.partial_fit(blobs[0].astype(np.float32), np.repeat([0, 1, 2], 40))
    assert len(loaded.net_.history) == 2 * FAST["max_epochs"]


def pretend_fitted_on_cuda(detector):
    """Pickle the detector as a CUDA machine would write it.

    The net says it lives on "cuda" and torch tags every tensor storage with
    "cuda:0", so loading it needs a map to the CPU, exactly as for a model that
    was really fitted on a GPU.
    """
    detector.net_.device = "cuda"
    with mock.patch.object(torch.serialization, "location_tag", lambda storage: "cuda:0"):
        return dump_to_bytes(detector)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_model_fitted_on_cuda_loads_on_cpu(fitted):
    detector, X = fitted
    expected = detector.decision_function(X)
    buffer = pretend_fitted_on_cuda(detector)
    # The bytes really are CUDA-tagged: a plain torch.load of them fails here.
    with mock.patch.object(torch.serialization, "location_tag", lambda storage: "cuda:0"):
        torch_buffer = io.BytesIO()
        torch.save(torch.ones(1), torch_buffer)
    torch_buffer.seek(0)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(torch_buffer)

    with pytest.warns(DeviceWarning):
        loaded = joblib.load(buffer)
    assert loaded.device_ == "cpu"
    assert loaded.net_.module_.centers.device.type == "cpu"
    np.testing.assert_array_equal(loaded.decision_function(X), expected)


def test_cpu_model_loads_without_device_warnings(fitted):
    detector, X = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceWarning)
        loaded = joblib.load(dump_to_bytes(detector))
    assert loaded.device_ == "cpu"
