import copy
import io
import json
import re
import sys
import warnings
import zipfile
from unittest import mock

import joblib
import numpy as np
import pytest
import safetensors.torch
import torch
import torch.serialization
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from skorch.exceptions import DeviceWarning
from torch import nn

from ibdetect import IBDeepDescription, _streaming
from ibdetect.persistence import ModelVersionWarning, file_kind, load, read_info, save


def dump_to_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


@pytest.fixture
def fitted(blobs, fast):
    X, y, X_unseen = blobs
    return IBDeepDescription(**fast).fit(X, y), np.vstack([X, X_unseen])


def test_joblib_round_trip_gives_identical_scores(fitted, tmp_path):
    detector, X = fitted
    path = tmp_path / "model.joblib"
    joblib.dump(detector, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    np.testing.assert_array_equal(loaded.transform(X), detector.transform(X))
    assert loaded.get_params() == detector.get_params()


def test_loaded_model_keeps_training(fitted, blobs, fast):
    detector, _ = fitted
    loaded = joblib.load(dump_to_bytes(detector))
    # Resuming must not move the centres back to the initial class means.
    with mock.patch.object(loaded.net_, "initialize_centers", side_effect=AssertionError):
        loaded.net_.partial_fit(blobs[0].astype(np.float32), np.repeat([0, 1, 2], 40))
    assert len(loaded.net_.history) == 2 * fast["max_epochs"]


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


# -- the safe format ---------------------------------------------------------------


def rewrite(path, edit_header=None, drop=None):
    """Rewrite the model file at ``path`` with its header edited, or a member left out."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if edit_header is not None:
        header = json.loads(members["model.json"])
        edit_header(header)
        members["model.json"] = json.dumps(header).encode()
    members.pop(drop, None)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def assert_same_model(loaded, detector, X):
    for method in ["decision_function", "predict", "predict_class", "transform"]:
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(detector, method)(X))
    assert loaded.get_params() == detector.get_params()
    assert list(loaded.net_.history) == list(detector.net_.history)


@pytest.mark.parametrize("params, labels", [
    ({}, "ints"),
    ({"anomaly_score": "distance", "validation_fraction": None}, "strings"),
    ({"loss": "svdd", "pretrain_epochs": 2}, "none"),
    ({"encoder": "cnn", "input_shape": (1, 2, 3), "hidden_layer_sizes": (4,)}, "ints"),
])
def test_safe_round_trip_gives_identical_results(blobs, tmp_path, params, labels, fast):
    pd = pytest.importorskip("pandas")
    X, y, X_unseen = blobs
    y = {"ints": y, "strings": np.array(["ant", "bee", "cat"], dtype=object)[y], "none": None}[labels]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    detector = IBDeepDescription(**{**fast, **params}).fit(frame, y)
    path = tmp_path / "model.ibdetect"
    save(detector, path)
    loaded = load(path)
    assert_same_model(loaded, detector, pd.DataFrame(np.vstack([X, X_unseen]), columns=frame.columns))
    assert loaded.classes_.dtype == detector.classes_.dtype
    assert loaded.feature_names_in_.tolist() == detector.feature_names_in_.tolist()
    assert hasattr(loaded, "pretrain_history_") == hasattr(detector, "pretrain_history_")
    assert loaded.device_ == "cpu"


def test_loaded_model_trains_on_with_warm_start(fitted, blobs, tmp_path, fast):
    detector, _ = fitted
    X, y, _ = blobs
    save(detector, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect").set_params(warm_start=True).fit(X, y)
    assert len(loaded.net_.history) == 2 * fast["max_epochs"]


class SmallEncoder(nn.Module):
    def __init__(self, input_shape, embedding_dim):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], embedding_dim, bias=False)

    def forward(self, x):
        return self.linear(x)


def test_own_encoder_class_loads_only_when_trusted(blobs, tmp_path, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**{**fast, "encoder": SmallEncoder}).fit(X, y)
    save(detector, tmp_path / "model.ibdetect")
    with pytest.raises(ValueError, match="test_persistence:SmallEncoder.*trusted_encoders"):
        load(tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect", trusted_encoders=[SmallEncoder])
    assert_same_model(loaded, detector, X)


def test_own_encoder_ignoring_hidden_layer_sizes_round_trips(blobs, tmp_path, fast):
    X, y, _ = blobs
    # SmallEncoder is called without hidden_layer_sizes: 30 layers, one tensor in all.
    detector = IBDeepDescription(**{**fast, "encoder": SmallEncoder, "hidden_layer_sizes": (4,) * 30}).fit(X, y)
    save(detector, tmp_path / "model.ibdetect")
    assert_same_model(load(tmp_path / "model.ibdetect", trusted_encoders=[SmallEncoder]), detector, X)


class MetaShyEncoder(SmallEncoder):
    """An encoder that reads a weight as it is built, which torch's meta device cannot do."""

    def __init__(self, input_shape, embedding_dim):
        super().__init__(input_shape, embedding_dim)
        self.first = float(self.linear.weight[0, 0].item())


def test_own_encoder_not_built_on_meta_loads_when_its_weights_bear_out_its_features(blobs, tmp_path, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**{**fast, "encoder": MetaShyEncoder, "anomaly_score": "distance"}).fit(X, y)
    # Without the rows kept for partial_fit, whose widths would give the
    # features away before the network is looked at.
    for attribute in _streaming.FITTED_STATE:
        delattr(detector, attribute.name)
    save(detector, tmp_path / "model.ibdetect")
    assert_same_model(load(tmp_path / "model.ibdetect", trusted_encoders=[MetaShyEncoder]), detector, X)
    rewrite(tmp_path / "model.ibdetect", lambda header: header["attributes"].update(n_features_in_=10**9))
    with pytest.raises(ValueError, match="n_features_in_ is 1000000000, more than the 48 weights of the encoder"):
        load(tmp_path / "model.ibdetect", trusted_encoders=[MetaShyEncoder])


def test_module_instance_as_encoder_is_refused(blobs, tmp_path, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**{**fast, "encoder": SmallEncoder((6,), 4)}).fit(X, y)
    with pytest.raises(ValueError, match="module instance.*pass its class"):
        save(detector, tmp_path / "model.ibdetect")


def test_callbacks_are_saved_as_none_with_a_warning(blobs, tmp_path, fast):
    from skorch.callbacks import EarlyStopping

    X, y, _ = blobs
    detector = IBDeepDescription(**{**fast, "callbacks": [EarlyStopping(patience=50)]}).fit(X, y)
    with pytest.warns(UserWarning, match="callbacks cannot be saved"):
        save(detector, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))


def test_histories_of_skorch_callbacks_round_trip(blobs, tmp_path, fast):
    from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring, LRScheduler

    X, y, _ = blobs
    callbacks = [
        EarlyStopping(patience=50),
        EpochScoring(lambda net, X, y: 0.5, name="half", lower_is_better=False),
        LRScheduler(policy="StepLR", step_every="batch", step_size=2),
        Checkpoint(dirname=str(tmp_path / "checkpoints")),
    ]
    detector = IBDeepDescription(**{**fast, "callbacks": callbacks}).fit(X, y)
    epoch = detector.net_.history[-1]
    assert {"valid_loss_best", "half", "half_best", "event_lr", "event_cp"} <= set(epoch) | set(epoch["batches"][0])
    with pytest.warns(UserWarning, match="callbacks cannot be saved"):
        save(detector, tmp_path / "model.ibdetect")
    assert list(load(tmp_path / "model.ibdetect").net_.history) == list(detector.net_.history)


PAYLOAD_MODULE = '''
import pathlib
pathlib.Path(__file__).with_name("payload_ran").touch()


class Encoder:
    pass
'''


@pytest.mark.parametrize("tamper", [
    lambda header: header["params"].update(encoder={"callable": "payload_module:Encoder"}),
    lambda header: header["params"].update(encoder={"callable": "os:system"}),
    lambda header: header["params"].update(encoder="payload_module:Encoder"),
    lambda header: header["params"].update(callbacks=[{"tuple": ["cb", "payload_module:Encoder"]}]),
    lambda header: header["attributes"]["classes_"].update(dtype="|O"),
])
def test_a_tampered_file_runs_nothing(fitted, tmp_path, monkeypatch, tamper):
    (tmp_path / "payload_module.py").write_text(PAYLOAD_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    detector, X = fitted
    save(detector, tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", tamper)
    try:
        loaded = load(tmp_path / "model.ibdetect")
    except ValueError as exc:
        assert "trusted_encoders" in str(exc) or "not a valid ibdetect model file" in str(exc)
    else:
        # Labels from the file are data, whatever their dtype says.
        np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    assert "payload_module" not in sys.modules
    assert not (tmp_path / "payload_ran").exists()


def damaged_files(folder, fitted):
    detector, _ = fitted
    save(detector, folder / "whole.ibdetect")
    whole = (folder / "whole.ibdetect").read_bytes()
    joblib.dump(detector, folder / "model.joblib")
    with zipfile.ZipFile(folder / "other.zip", "w") as archive:
        archive.writestr("model.json", "{}")
    return {
        "truncated": whole[: len(whole) // 2],
        # Within the weights, stored as they are: the archive's checksum no longer matches.
        "a changed byte": whole[: len(whole) // 2] + bytes([whole[len(whole) // 2] ^ 1]) + whole[len(whole) // 2 + 1:],
        "empty": b"",
        "garbage": np.random.RandomState(0).bytes(1000),
        "a pickle": (folder / "model.joblib").read_bytes(),
        "another zip": (folder / "other.zip").read_bytes(),
    }


@pytest.mark.parametrize("damage, message", [
    ("truncated", "model.ibdetect is damaged or incomplete: it begins as a model file does"),
    ("a changed byte", "model.ibdetect is damaged or incomplete"),
    ("empty", "model.ibdetect is not an ibdetect model file"),
    ("garbage", "model.ibdetect is not an ibdetect model file"),
    ("a pickle", "model.ibdetect is a pickle \\(joblib\\) file, not an ibdetect model file; joblib.load"),
    ("another zip", "model.ibdetect is not an ibdetect model file"),
])
def test_a_damaged_or_foreign_file_is_a_clear_error(fitted, tmp_path, damage, message):
    path = tmp_path / "model.ibdetect"
    path.write_bytes(damaged_files(tmp_path, fitted)[damage])
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize("drop, edit", [
    ("tensors.safetensors", None),
    (None, lambda header: header["attributes"].update(n_features_in_=5)),
    (None, lambda header: header["attributes"].pop("offset_")),
    (None, lambda header: header["params"].update(beta=-1)),
    (None, lambda header: header["params"].update(unknown=1)),
    (None, lambda header: header.update(set_output={"detector": "numpy"})),
    (None, lambda header: header.update(set_output={"encoder": "pandas"})),
])
def test_an_edited_file_is_a_clear_error(fitted, tmp_path, drop, edit):
    detector, _ = fitted
    save(detector, tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", edit, drop)
    with pytest.raises(ValueError, match="model.ibdetect is not a.* ibdetect model file"):
        load(tmp_path / "model.ibdetect")


def test_a_newer_format_asks_for_a_newer_ibdetect(fitted, tmp_path):
    save(fitted[0], tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", lambda header: header.update(format_version=99))
    with pytest.raises(ValueError, match="format 99.*upgrade ibdetect"):
        load(tmp_path / "model.ibdetect")


@pytest.fixture
def capped(blobs, fast):
    """A detector whose reference keeps 30 of its 120 normal samples, so that it searches rank 2, not 8."""
    X, y, X_unseen = blobs
    detector = IBDeepDescription(n_neighbors=8, max_references=30, validation_fraction=None, **fast).fit(X, y)
    assert detector.n_neighbors_ == 2
    return detector, np.vstack([X, X_unseen])


def test_the_searched_rank_survives_the_round_trip(capped, tmp_path):
    detector, X = capped
    save(detector, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    assert loaded.n_neighbors_ == 2
    assert_same_model(loaded, detector, X)


def test_a_format_1_file_searches_n_neighbors(capped, tmp_path):
    # Format 1 had no n_neighbors_: its detectors searched n_neighbors itself.
    detector, X = capped
    save(detector, tmp_path / "model.ibdetect")

    def as_format_1(header):
        header.update(format_version=1)
        del header["attributes"]["n_neighbors_"]

    loaded = load(rewrite(tmp_path / "model.ibdetect", as_format_1))
    assert loaded.n_neighbors_ == 8
    detector.n_neighbors_ = 8
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


@pytest.mark.parametrize("rank", [0, 30, "2"])
def test_an_impossible_rank_in_a_file_is_a_clear_error(capped, tmp_path, rank):
    save(capped[0], tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", lambda header: header["attributes"].update(n_neighbors_=rank))
    with pytest.raises(ValueError, match="model.ibdetect is not a valid ibdetect model file: n_neighbors_"):
        load(tmp_path / "model.ibdetect")


def test_other_versions_warn(fitted, tmp_path):
    detector, X = fitted
    save(detector, tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", lambda header: header["versions"].update(torch="1.0.0", skorch="0.9"))
    with pytest.warns(ModelVersionWarning, match=r"skorch 0.9 \(here .*\), torch 1.0.0 \(here"):
        loaded = load(tmp_path / "model.ibdetect")
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))


def _next_patch_release(version):
    major, minor, patch = version.split("+")[0].split(".")[:3]
    return f"{major}.{minor}.{int(patch) + 1}"


@pytest.mark.parametrize("package, version", [
    ("torch", torch.__version__.split("+")[0] + "+cu121"),  # a CUDA build of the same release
    ("numpy", _next_patch_release(np.__version__)),  # another patch release
])
def test_another_build_or_patch_release_of_a_dependency_does_not_warn(fitted, tmp_path, package, version):
    save(fitted[0], tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", lambda header: header["versions"].update({package: version}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        load(tmp_path / "model.ibdetect")


@pytest.mark.parametrize("package, version", [
    ("ibdetect", "0.0.1"),  # any other version of ibdetect
    ("numpy", np.__version__.split("+")[0] + "rc1"),  # a pre-release may change results as no release does
])
def test_another_ibdetect_or_a_pre_release_warns(fitted, tmp_path, package, version):
    save(fitted[0], tmp_path / "model.ibdetect")
    rewrite(tmp_path / "model.ibdetect", lambda header: header["versions"].update({package: version}))
    with pytest.warns(ModelVersionWarning, match=re.escape(f"{package} {version} (here")):
        load(tmp_path / "model.ibdetect")


def test_metadata_travels_with_the_model(fitted, tmp_path):
    save(fitted[0], tmp_path / "model.ibdetect", metadata={"label_column": "machine"})
    info = read_info(tmp_path / "model.ibdetect")
    assert info.metadata == {"label_column": "machine"}
    assert set(info.versions) == {"ibdetect", "numpy", "scikit-learn", "skorch", "torch"}
    loaded, info_on_load = load(tmp_path / "model.ibdetect", with_info=True)
    assert info_on_load == info and isinstance(loaded, IBDeepDescription)
    # JSON would give a key of 1 back as "1": refused, and nothing written.
    with pytest.raises(ValueError, match="metadata keys must be strings, as JSON keeps them; got 1"):
        save(fitted[0], tmp_path / "other.ibdetect", metadata={1: "first"})
    assert not (tmp_path / "other.ibdetect").exists()


def test_saved_tensors_are_cpu_copies(fitted):
    # What save writes is moved off the model's device and shares no memory
    # with it, so a model on a GPU saves as one on the CPU would.
    from ibdetect._model_state import encode_state

    detector, _ = fitted
    _, _, tensors = encode_state(detector)
    model_pointers = {value.data_ptr() for value in detector.net_.module_.state_dict().values()}
    assert all(value.device.type == "cpu" for value in tensors.values())
    assert not model_pointers & {value.data_ptr() for value in tensors.values()}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_model_fitted_on_cuda_loads_on_the_cpu_from_the_safe_format(blobs, tmp_path, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(**{**fast, "device": "cuda"}).fit(X, y)
    save(detector, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    assert loaded.device_ == "cpu" and detector.device_.startswith("cuda")
    # The same weights on another device: equal up to the devices' rounding.
    np.testing.assert_allclose(loaded.transform(X), detector.transform(X), rtol=1e-4, atol=1e-5)
    on_gpu = load(tmp_path / "model.ibdetect", device="cuda")
    np.testing.assert_array_equal(on_gpu.decision_function(X), detector.decision_function(X))


def fitted_attributes(model):
    return {name: value for name, value in vars(model).items() if name.endswith("_") and not name.startswith("_")}


@pytest.mark.parametrize("anomaly_score", ["knn", "knn+input", "knn+density"])
@pytest.mark.parametrize("validation_fraction", [0.1, None])
def test_every_fitted_attribute_survives_the_round_trip(blobs, tmp_path, validation_fraction, anomaly_score, fast):
    X, y, _ = blobs
    detector = IBDeepDescription(validation_fraction=validation_fraction, anomaly_score=anomaly_score, **fast)
    detector.fit(X, y)
    save(detector, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    expected, found = fitted_attributes(detector), fitted_attributes(loaded)
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(found[name], value, err_msg=name)
            assert found[name].dtype == value.dtype, name
        elif name not in ("net_",):
            assert found[name] == value, name


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler, RobustScaler])
def test_a_pipeline_of_scaler_and_detector_round_trips(blobs, tmp_path, scaler, fast):
    pd = pytest.importorskip("pandas")
    X, y, X_unseen = blobs
    columns = [f"f{i}" for i in range(6)]
    pipeline = make_pipeline(scaler(), IBDeepDescription(**fast)).fit(pd.DataFrame(X * 100, columns=columns), y)
    save(pipeline, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipeline.steps]
    assert loaded[0].get_params() == pipeline[0].get_params()
    frame = pd.DataFrame(np.vstack([X, X_unseen]) * 100, columns=columns)
    np.testing.assert_array_equal(loaded.decision_function(frame), pipeline.decision_function(frame))
    assert loaded.feature_names_in_.tolist() == columns


@pytest.mark.parametrize("scaler, name, value, message", [
    (RobustScaler, "center_", -1e308, "the scaler's center_ must hold numbers within float32's range"),
    (StandardScaler, "scale_", 1e39, "the scaler's scale_ must hold numbers within float32's range"),
    (StandardScaler, "var_", float("nan"), "the scaler's var_ must hold finite numbers"),
    (MinMaxScaler, "data_max_", float("inf"), "the scaler's data_max_ must hold finite numbers"),
])
def test_scaler_statistics_the_detector_cannot_take_are_refused(blobs, tmp_path, fast, scaler, name, value, message):
    X, y, _ = blobs
    save(make_pipeline(scaler(), IBDeepDescription(**fast)).fit(X, y), tmp_path / "model.ibdetect")

    def edit(header):
        statistic = header["scaler"]["attributes"][name]
        statistic["array"][0] = value

    rewrite(tmp_path / "model.ibdetect", edit)
    with pytest.raises(ValueError, match=f"not a valid ibdetect model file: {re.escape(message)}"):
        load(tmp_path / "model.ibdetect")


def test_pipelines_whose_steps_would_load_only_by_running_code_are_refused(blobs, tmp_path, fast):
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = blobs
    pipeline = make_pipeline(FunctionTransformer(_shifted), IBDeepDescription(**fast)).fit(X, y)
    with pytest.raises(ValueError, match=f"The pipeline cannot be saved: .*{__name__}._shifted.*save the pipeline with joblib"):
        save(pipeline, tmp_path / "model.ibdetect")
    with pytest.raises(TypeError, match="save writes an IBDeepDescription, or a Pipeline that ends in one"):
        save(make_pipeline(PCA(3)).fit(X), tmp_path / "model.ibdetect")
    assert not (tmp_path / "model.ibdetect").exists()


def _shifted(X):
    return X + 1


@pytest.mark.parametrize("preparation", [[StandardScaler()], [StandardScaler(), PCA(3)]], ids=["scaler", "skops"])
@pytest.mark.parametrize("container", ["pandas", "default"])
def test_the_output_set_output_chose_is_kept(blobs, tmp_path, fast, preparation, container):
    pd = pytest.importorskip("pandas")
    X, y, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    pipeline = make_pipeline(*preparation, IBDeepDescription(**fast)).set_output(transform=container).fit(frame, y)
    save(pipeline, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    # A loaded step giving arrays to a detector fitted on named columns
    # would make scikit-learn warn on every call.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loaded.decision_function(frame), pipeline.decision_function(frame))
    assert type(loaded.transform(frame)) is type(pipeline.transform(frame))


def test_a_table_preparation_set_to_pandas_output_saves_and_loads(tmp_path, fast):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("skops")
    from ibdetect.preprocessing import make_preprocessor

    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"amount": rng.lognormal(3, 0.3, 120), "grade": rng.choice(["a", "b", "c"], 120)})
    pipeline = make_pipeline(make_preprocessor(frame), IBDeepDescription(**fast)).set_output(transform="pandas")
    pipeline.fit(frame)
    save(pipeline, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    np.testing.assert_array_equal(loaded.decision_function(frame), pipeline.decision_function(frame))
    prepared = loaded[:-1].transform(frame)
    assert list(prepared.columns) == list(pipeline[:-1].transform(frame).columns)
    assert any(name.startswith("categories__onehot__grade_") for name in prepared.columns)
    # Saving wrote a copy: the pipeline's own union still holds pandas' names.
    union = pipeline[0].named_steps["columns"].named_transformers_["categories"].named_steps["encode"]
    assert all(isinstance(names, pd.Index) for names in union._transformers_feature_names_out)


def test_columns_a_selector_chose_are_saved_as_chosen(tmp_path, fast):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("skops")
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"amount": rng.normal(size=100), "grade": rng.choice(["a", "b"], 100)})
    columns = ColumnTransformer([
        ("numbers", StandardScaler(), make_column_selector(dtype_include="number")),
        ("categories", OneHotEncoder(sparse_output=False), make_column_selector(dtype_include=object)),
    ])
    pipeline = make_pipeline(columns, IBDeepDescription(**fast)).fit(frame)
    save(pipeline, tmp_path / "model.ibdetect")
    loaded = load(tmp_path / "model.ibdetect")
    np.testing.assert_array_equal(loaded.score_samples(frame), pipeline.score_samples(frame))
    assert [chosen for _, _, chosen in loaded[0].transformers] == [["amount"], ["grade"]]
    # The pipeline saved keeps its selectors.
    assert all(callable(chosen) for _, _, chosen in pipeline[0].transformers)


def test_a_numpy_function_saves_once_its_transformer_names_its_features(blobs, tmp_path, fast):
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = blobs
    X = np.abs(X)
    unnamed = make_pipeline(FunctionTransformer(np.log1p), IBDeepDescription(**fast)).fit(X, y)
    with pytest.raises(ValueError, match="a FunctionTransformer, does not name its output features.*"
                                         "feature_names_out='one-to-one'"):
        save(unnamed, tmp_path / "model.ibdetect")
    assert not (tmp_path / "model.ibdetect").exists()
    named = make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), IBDeepDescription(**fast))
    save(named.fit(X, y), tmp_path / "model.ibdetect")
    np.testing.assert_array_equal(load(tmp_path / "model.ibdetect").decision_function(X), named.decision_function(X))


# -- recognising files ----------------------------------------------------------


def test_a_model_file_is_recognised_whatever_its_name(fitted_blobs, tmp_path):
    detector, _ = fitted_blobs
    save(detector, tmp_path / "model.pkl")
    assert file_kind(tmp_path / "model.pkl") == "model"
    assert file_kind(str(tmp_path / "model.pkl")) == "model"


def test_a_file_object_is_read_from_its_start_and_left_where_it_was(fitted_blobs):
    detector, _ = fitted_blobs
    file = io.BytesIO()
    save(detector, file)
    end = file.tell()
    assert file_kind(file) == "model"
    assert file.tell() == end


@pytest.mark.parametrize("compress", [
    0, True, 3, ("zlib", 1), ("zlib", 6), ("zlib", 9), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3),
])
def test_a_pickle_is_recognised_compressed_or_not(tmp_path, compress):
    joblib.dump({"weights": np.arange(5)}, tmp_path / "model.ibdetect", compress=compress)
    assert file_kind(tmp_path / "model.ibdetect") == "pickle"


@pytest.mark.parametrize("content", [b"", b"PK", b"f0,f1\n1.0,2.0\n", b"\x93NUMPY", b"%PDF-1.7"])
def test_other_files_are_neither(tmp_path, content):
    (tmp_path / "model.ibdetect").write_bytes(content)
    assert file_kind(tmp_path / "model.ibdetect") is None


def rewrite_tensors(path, edit):
    """Rewrite the model file at ``path`` with its tensors (a dict of name to tensor) edited."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    tensors = safetensors.torch.load(members["tensors.safetensors"])
    edit(tensors)
    members["tensors.safetensors"] = safetensors.torch.save(tensors)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def set_attribute(name, value):
    return lambda header: header["attributes"].update({name: value})


def set_tensor(name, change):
    def edit(tensors):
        tensors[f"attributes.{name}"] = change(tensors[f"attributes.{name}"]).contiguous()

    return edit


@pytest.mark.parametrize("edit_header, edit_tensors, message", [
    (set_attribute("offset_", float("nan")), None, "offset_ must hold finite values"),
    (set_attribute("offset_", float("-inf")), None, "offset_ must hold finite values"),
    (set_attribute("offset_", "-1.5"), None, "offset_ must be a number"),
    (set_attribute("anomaly_score_", "euclid"), None, "anomaly_score_ must be one of distance, knn, knn"),
    (set_attribute("n_features_in_", True), None, "n_features_in_ must be a positive integer"),
    (set_attribute("feature_names_in_", ["a", "b"]), None, "feature_names_in_ must name the 6 features"),
    (set_attribute("fitted_elsewhere_", 1), None, "unknown fitted attribute 'fitted_elsewhere_'"),
    (set_attribute("classes_", [0, 1, 2]), None, "classes_ must be an object of values and their dtype"),
    (None, set_tensor("reference_inputs_", lambda t: t[:, :-1]), "reference_inputs_ must have 6 entries along axis 1"),
    (None, set_tensor("reference_inputs_", lambda t: t[:-1]), "reference_inputs_ must have 99 entries along axis 0"),
    (None, set_tensor("neighbor_scales_", lambda t: t[:0]), "neighbor_scales_ must have 2 entries along axis 0"),
    (None, set_tensor("neighbor_scales_", lambda t: t * 0), "neighbor_scales_ must hold finite values above 0"),
    (None, set_tensor("centers_", lambda t: t.float()), "centers_ must be an array of float64"),
    (None, set_tensor("centers_", lambda t: t[:2]), "centers_ must have 3 entries along axis 0"),
    (None, set_tensor("calibration_scores_", lambda t: t[None]), "calibration_scores_ must have 1 dimension"),
    (None, lambda tensors: tensors.pop("attributes.reference_embeddings_"), "reference_embeddings_ is missing"),
    (None, set_tensor("class_calibration_counts_", lambda t: t + 1),
     "class_calibration_counts_ must be counts of at least 0 that add up to the calibration scores"),
    (None, set_tensor("class_calibration_counts_", lambda t: t[:2]), "class_calibration_counts_ must have 3 entries"),
    (None, set_tensor("class_calibration_scores_", lambda t: t[:-1]), "class_calibration_scores_ must have 21 entries"),
    (None, lambda tensors: tensors.pop("attributes.class_calibration_scores_"), "class_calibration_scores_ is missing"),
    (None, set_tensor("calibration_targets_", lambda t: t + 3), "calibration_targets_ must hold indices of classes_"),
    (None, set_tensor("calibration_targets_", lambda t: t[:-1]), "calibration_targets_ must have 21 entries"),
    (lambda header: header.update(shared_arrays=["replay_inputs_"]), None, "shared_arrays must be an object of array names"),
    (lambda header: header.update(shared_arrays={"replay_inputs_": "calibration_inputs_"}), None,
     "shared_arrays maps replay_inputs_ to calibration_inputs_; it may map only replay_inputs_ to reference_inputs_"),
    (None, lambda tensors: tensors.update({"attributes.replay_inputs_": tensors["attributes.reference_inputs_"].clone()}),
     "replay_inputs_ is both stored and shared with reference_inputs_"),
    (None, lambda tensors: tensors.pop("attributes.reference_inputs_"),
     "replay_inputs_ is shared with reference_inputs_, which the file does not hold"),
])
def test_a_fitted_value_that_breaks_its_declaration_is_refused_on_load(
    fitted_blobs, tmp_path, edit_header, edit_tensors, message
):
    path = tmp_path / "model.ibdetect"
    save(fitted_blobs[0], path)
    if edit_header is not None:
        rewrite(path, edit_header)
    if edit_tensors is not None:
        rewrite_tensors(path, edit_tensors)
    with pytest.raises(ValueError, match=f"model.ibdetect is not a valid ibdetect model file: {re.escape(message)}"):
        load(path)


@pytest.mark.parametrize("edit_header, edit_tensors, message", [
    (None, set_tensor("reference_radii_", lambda t: t * 0), "reference_radii_ must hold finite values above 0"),
    (None, set_tensor("reference_radii_", lambda t: -t), "reference_radii_ must hold finite values above 0"),
    (None, set_tensor("reference_radii_", lambda t: t[:-1]), "reference_radii_ must have 99 entries along axis 0"),
    (None, set_tensor("reference_radii_", lambda t: t.float()), "reference_radii_ must be an array of float64"),
    (None, lambda tensors: tensors.pop("attributes.reference_radii_"), "reference_radii_ is missing"),
    # Raw input distances read as relative ones would rank samples wrongly.
    (set_attribute("anomaly_score_", "knn+input"), None, "reference_radii_ is not expected"),
    (None, set_tensor("input_scales_", lambda t: t * 0), "input_scales_ must hold finite values above 0"),
    (None, set_tensor("input_scales_", lambda t: t / 0), "input_scales_ must hold finite values above 0"),
    (None, set_tensor("input_scales_", lambda t: t[:-1]), "input_scales_ must have 6 entries along axis 0"),
    (None, set_tensor("input_scales_", lambda t: t.double()), "input_scales_ must be an array of float32"),
    # Radii measured in the reference's units, read against other units.
    (None, set_tensor("input_scales_", lambda t: 2 * t), "input_scales_ must be the spread of reference_inputs_"),
    (None, lambda tensors: tensors.pop("attributes.input_scales_"), "input_scales_ is missing"),
    (
        set_attribute("anomaly_score_", "knn+input"),
        lambda tensors: tensors.pop("attributes.reference_radii_"),
        "input_scales_ is not expected",
    ),
    (
        set_attribute("anomaly_score_", "knn"),
        lambda tensors: [tensors.pop(f"attributes.{name}") for name in ("reference_radii_", "neighbor_scales_")],
        "input_scales_ is not expected",
    ),
])
def test_a_density_model_whose_radii_break_their_declaration_is_refused_on_load(
    blobs, fast, tmp_path, edit_header, edit_tensors, message
):
    X, y, _ = blobs
    path = tmp_path / "model.ibdetect"
    save(IBDeepDescription(anomaly_score="knn+density", **fast).fit(X, y), path)
    if edit_header is not None:
        rewrite(path, edit_header)
    if edit_tensors is not None:
        rewrite_tensors(path, edit_tensors)
    with pytest.raises(ValueError, match=f"model.ibdetect is not a valid ibdetect model file: {re.escape(message)}"):
        load(path)


def test_text_labels_take_their_own_width_not_the_declared_one(fitted_blobs, tmp_path):
    # A declared width of 2e8 characters would cost 800 MB per label.
    path = tmp_path / "model.ibdetect"
    save(fitted_blobs[0], path)

    def as_wide_text(header):
        for name in ("classes_", "normal_labels_"):
            header["attributes"][name] = {"values": ["0", "1", "2"], "dtype": "<U200000000"}

    loaded = load(rewrite(path, as_wide_text))
    assert loaded.classes_.tolist() == ["0", "1", "2"]
    assert loaded.classes_.dtype == np.dtype("<U1")


def test_a_detector_that_would_not_load_is_refused_before_writing(fitted_blobs, tmp_path):
    # As a detector pickled before n_neighbors_ existed comes back.
    detector = copy.copy(fitted_blobs[0])
    del detector.n_neighbors_
    path = tmp_path / "model.ibdetect"
    with pytest.raises(ValueError, match="cannot be saved: n_neighbors_ is missing"):
        save(detector, path)
    assert not path.exists()
