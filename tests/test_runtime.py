"""The torch runtime of a fit: seeding, the device, and a fit that completes or changes nothing."""

import io

import joblib
import numpy as np
import pytest
import torch

from ibdetect import IBDeepDescription
from ibdetect._runtime import torch_threads
from ibdetect._training import resolve_precision
from ibdetect.encoders import CNNEncoder, MLPEncoder
from ibdetect.net import DeepDescriptionNet


def test_refit_with_same_seed_is_bit_identical(blobs, fast):
    X, y, _ = blobs
    first = IBDeepDescription(**fast).fit(X, y).score_samples(X)
    second = IBDeepDescription(**fast).fit(X, y).score_samples(X)
    np.testing.assert_array_equal(first, second)
    other_seed = IBDeepDescription(**{**fast, "random_state": 1}).fit(X, y).score_samples(X)
    assert not np.array_equal(first, other_seed)


def test_fit_leaves_global_random_state_alone(blobs, fast):
    X, y, _ = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    IBDeepDescription(**fast).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_is_resolved_without_touching_the_parameter(blobs, device, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(device=device, **fast).fit(X, y)
    assert detector.device == device
    assert detector.device_ == ("cuda" if device == "auto" and torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(blobs, fast):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        IBDeepDescription(device="cuda", **fast).fit(X, y)


@pytest.mark.parametrize("device", ["mps", "xpu", "cuda:7"])
def test_a_device_this_machine_lacks_is_a_clear_error(blobs, device, fast):
    if torch.device(device).type == "cuda" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    X, y, _ = blobs
    with pytest.raises(ValueError, match=f"device='{device}'"):
        IBDeepDescription(**{**fast, "device": device}).fit(X, y)


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# name: (parameters that make fit fail, the error, whether the failure is
# patched in after training)
FAILURES = {
    "divergence": ({"lr": 1e20}, FloatingPointError, False),
    "too many neighbours": ({"anomaly_score": "knn", "n_neighbors": 500}, ValueError, False),
    "interrupt after training": ({}, KeyboardInterrupt, True),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_fit_that_raises_changes_nothing(blobs, monkeypatch, failure, fast):
    X, y, X_unseen = blobs
    bad_params, error, after_training = FAILURES[failure]
    detector = IBDeepDescription(**fast).fit(X, y)
    expected = detector.decision_function(X_unseen)
    attributes = dict(vars(detector))
    unfitted = IBDeepDescription(**{**fast, **bad_params})
    if after_training:
        # The trained net's first pass over the training data follows training.
        monkeypatch.setattr(DeepDescriptionNet, "embed", interrupt)
    with pytest.raises(error):
        detector.set_params(**bad_params).fit(X, y)
    with pytest.raises(error):
        unfitted.fit(X, y)
    monkeypatch.undo()
    detector.set_params(**{name: IBDeepDescription().get_params()[name] for name in bad_params})
    assert vars(detector).keys() == attributes.keys()
    assert all(vars(detector)[name] is value for name, value in attributes.items() if name.endswith("_"))
    np.testing.assert_array_equal(detector.decision_function(X_unseen), expected)
    assert not [name for name in vars(unfitted) if name.endswith("_")]


@pytest.mark.parametrize("n_jobs", [None, 1, -1, 200, 10**30])
def test_torch_threads_are_at_most_the_cpus_and_restored(n_jobs):
    before = torch.get_num_threads()
    with torch_threads(n_jobs):
        threads = torch.get_num_threads()
    assert 1 <= threads <= joblib.cpu_count()
    assert threads == (1 if n_jobs in (None, 1) else joblib.cpu_count())
    assert torch.get_num_threads() == before


class DtypeRecorder(torch.nn.Module):
    """A linear encoder that records the dtype its layer computes in, in training mode."""

    def __init__(self, input_shape, embedding_dim):
        super().__init__()
        self.linear = torch.nn.Linear(input_shape[0], embedding_dim, bias=False)
        self.dtypes = set()

    def forward(self, x):
        out = self.linear(x)
        if self.training:
            self.dtypes.add(out.dtype)
        return out


@pytest.mark.parametrize("precision, expected", [("float32", torch.float32), ("bfloat16", torch.bfloat16)])
def test_training_computes_in_the_precision_asked_and_scoring_in_float32(blobs, precision, expected, fast, roc_auc):
    X, y, X_unseen = blobs
    detector = IBDeepDescription(**fast, encoder=DtypeRecorder, precision=precision).fit(X, y)
    assert detector.net_.module_.encoder.dtypes == {expected}
    # Weights and centres stay float32, and so do the scores.
    assert detector.net_.module_.encoder.linear.weight.dtype == torch.float32
    assert detector.transform(X).dtype == np.float32
    assert roc_auc(detector, X, X_unseen) > 0.95


@pytest.mark.parametrize("capabilities, expected", [({"avx512_bf16": True}, "bfloat16"), ({}, "float32")])
def test_the_precision_auto_chose_is_kept_with_the_model(capabilities, expected, fast, monkeypatch):
    from ibdetect.persistence import load, save

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    X = np.random.RandomState(0).rand(40, 16).astype(np.float32)
    detector = IBDeepDescription(**{**fast, "hidden_layer_sizes": (2,)}, input_shape=(1, 4, 4)).fit(X)
    assert detector.precision == "auto" and detector.precision_ == expected
    file = io.BytesIO()
    save(detector, file)
    assert load(file).precision_ == expected


@pytest.mark.parametrize(
    "capabilities, encoder, expected",
    [
        ({"amx_bf16": True}, CNNEncoder((1, 28, 28)), "bfloat16"),
        ({"avx512_bf16": True}, CNNEncoder((1, 28, 28)), "bfloat16"),
        ({"avx512_bf16": False}, CNNEncoder((1, 28, 28)), "float32"),
        # Too small a step to gain from it.
        ({"amx_bf16": True}, MLPEncoder((6,)), "float32"),
    ],
)
def test_auto_precision_is_bfloat16_for_the_cnn_where_the_cpu_computes_it_natively(
    capabilities, encoder, expected, monkeypatch
):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert resolve_precision("auto", encoder, "cpu") == expected
    assert resolve_precision("float32", encoder, "cpu") == "float32"


def test_auto_precision_is_float32_where_torch_cannot_say_what_the_cpu_computes(monkeypatch):
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert resolve_precision("auto", CNNEncoder((1, 28, 28)), "cpu") == "float32"


def test_bfloat16_on_a_gpu_without_it_is_an_error_before_training(blobs, fast, monkeypatch):
    X, y, _ = blobs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr("ibdetect._estimator.resolve_device", lambda device: "cuda")
    monkeypatch.setattr("ibdetect._training.train", lambda *args: pytest.fail("trained"))
    with pytest.raises(ValueError, match="cannot compute in bfloat16"):
        IBDeepDescription(**fast, precision="bfloat16").fit(X, y)
