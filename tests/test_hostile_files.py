"""Hostile model and data files: refused with a ValueError before they cost memory."""

import bz2
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import safetensors.torch
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ibdetect import IBDeepDescription, _model_file, _streaming
from ibdetect.io import read_data
from ibdetect._model_file import FORMAT_VERSION, HEADER_MEMBER, MAX_HEADER_BYTES, MAX_PREPARATION_MEMBERS, MAX_TENSORS, PREPARATION_MEMBER, TENSORS_MEMBER
from ibdetect._preparation import TRUSTED_TYPES
from ibdetect.persistence import load, read_info, save
from ibdetect.preprocessing import make_preprocessor

STORED, DEFLATED, BZIP2, LZMA = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA


def without_rows_kept(detector):
    """``detector`` without the rows it keeps for partial_fit and explain, as detectors of format 3 files are.

    Their widths would give a crafted ``n_features_in_`` away before the
    network is looked at, which these tests are about.
    """
    for attribute in _streaming.FITTED_STATE:
        delattr(detector, attribute.name)
    if detector.anomaly_score_ == "knn":
        del detector.reference_inputs_
    return detector


@pytest.fixture(scope="module")
def members(make_blobs, fast):
    """The header (as a dict) and the tensors (as bytes) of a saved detector whose score reads no input rows."""
    X, y = make_blobs(((-6, 0, 0), (6, 0, 0)), 20)
    file = io.BytesIO()
    save(without_rows_kept(IBDeepDescription(**fast, anomaly_score="knn").fit(X, y)), file)
    with zipfile.ZipFile(file) as archive:
        return json.loads(archive.read(HEADER_MEMBER)), archive.read(TENSORS_MEMBER)


def deflated(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def deflate_bomb(mebibytes):
    """A raw deflate stream of ``mebibytes`` MiB of zeros, about a thousandth of that, made in no time."""
    # After a full flush the compressor starts afresh: each MiB compresses to the same bytes.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressor.compress(bytes(2**20))
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mebibytes + compressor.flush()


def zip_of(*members):
    """A zip archive written by hand, so that any member may take any method and declare any size.

    Each member is ``(name, data as stored, method, declared size, CRC)``, as :func:`member`
    makes them.
    """
    local, central = b"", b""
    for name, data, method, size, crc in members:
        name = name.encode()
        fields = (20, 0, method, 0, 33, crc, len(data), size, len(name))
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, len(local)) + name
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + name + data
    return local + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)


def member(name, content, method=STORED, declared=None):
    """A member of :func:`zip_of`: ``content`` stored, deflated or compressed with bzip2 or lzma, as a
    member declaring its size (``declared``, by default the size of ``content``)."""
    compress = {STORED: bytes, DEFLATED: deflated, BZIP2: bz2.compress, LZMA: lambda data: data}[method]
    return name, compress(content), method, len(content) if declared is None else declared, zlib.crc32(content)


def model_file(header, tensors, header_method=DEFLATED):
    return zip_of(member(HEADER_MEMBER, json.dumps(header).encode(), header_method), member(TENSORS_MEMBER, tensors))


def hostile_archives(header, tensors):
    """Archives that break what save writes, each with the words of its refusal."""
    content = json.dumps(header).encode()
    good_header, good_tensors = member(HEADER_MEMBER, content, DEFLATED), member(TENSORS_MEMBER, tensors)
    # A mebibyte of deflate inflating to 1 GiB of zeros, declaring that or a kilobyte.
    bomb, small_bomb = deflate_bomb(1024), deflate_bomb(64)
    return {
        "bzip2 bomb": (zip_of(member(HEADER_MEMBER, bytes(2**23), BZIP2), good_tensors), "compressed in a way"),
        "lzma header": (zip_of(member(HEADER_MEMBER, content, LZMA), good_tensors), "compressed in a way"),
        "deflated tensors": (zip_of(good_header, member(TENSORS_MEMBER, tensors, DEFLATED)), "compressed in a way"),
        "deflate bomb": (zip_of((HEADER_MEMBER, bomb, DEFLATED, 2**30, 0), good_tensors), "declares 1073741824 bytes"),
        "deflate bomb declaring little": (zip_of((HEADER_MEMBER, small_bomb, DEFLATED, 1000, 0), good_tensors), "CRC"),
        "1 GiB declared header": (zip_of(member(HEADER_MEMBER, content, declared=2**30), good_tensors), "declares 1073741824 bytes"),
        "tensors larger than the file": (zip_of(good_header, member(TENSORS_MEMBER, tensors, declared=2**31)), "declares 2147483648 bytes"),
        "two headers": (zip_of(good_header, good_header, good_tensors), "holds model.json twice"),
        "another member": (zip_of(good_header, good_tensors, member("run.py", b"")), "holds 'run.py'"),
        "no tensors": (zip_of(good_header), "has no tensors.safetensors"),
    }


HOSTILE_ARCHIVES = [
    "bzip2 bomb", "lzma header", "deflated tensors", "deflate bomb", "deflate bomb declaring little",
    "1 GiB declared header", "tensors larger than the file", "two headers", "another member", "no tensors",
]


@pytest.fixture(scope="module")
def hostile(members):
    return hostile_archives(*members)


@pytest.mark.parametrize("kind", HOSTILE_ARCHIVES)
def test_archives_save_never_writes_are_refused_before_they_are_read(hostile, tmp_path, kind):
    content, message = hostile[kind]
    assert len(content) < 2 * 2**20
    path = tmp_path / "model.ibdetect"
    path.write_bytes(content)
    for reader in (load, read_info):
        with pytest.raises(ValueError, match=f"model.ibdetect (is not an ibdetect model file|is damaged) .*{message}"):
            reader(path)


def test_a_stored_header_as_zipfile_writes_by_default_loads(members):
    header, tensors = members
    assert load(io.BytesIO(model_file(header, tensors, header_method=STORED))).n_features_in_ == 3


def edited(header, **fields):
    return {**header, **fields}


@pytest.mark.parametrize("edit, message", [
    (lambda h: edited(h, versions=["0.2.0"]), "versions must be an object of version strings"),
    (lambda h: edited(h, versions={"torch": 2}), "versions must be an object of version strings"),
    (lambda h: edited(h, metadata=["a"]), "metadata must be a JSON object"),
    (lambda h: edited(h, history={"epoch": 1}), "history must be a list of epochs"),
    (lambda h: edited(h, history=[[1, 2]]), "history must be a list of epochs"),
    (lambda h: edited(h, history=[{"epoch": 1, "batches": 3}]), "history must be a list of epochs"),
    (lambda h: edited(h, history=[{"epoch": 1, "dur": "slow"}]), "history must be a list of epochs"),
    (lambda h: edited(h, history=[{"epoch": 1, "train_loss": [1.0]}]), "history must be a list of epochs"),
    (lambda h: edited(h, history=[{"epoch": 1, "batches": [{"train_loss": {}}]}]), "history must be a list of epochs"),
    (lambda h: edited(h, pretrain_history=[{"epoch": 1, "batches": [{"batches": []}]}]), "pretrain_history must be null"),
    (lambda h: edited(h, pretrain_history=7), "pretrain_history must be null or a list of epochs"),
    (lambda h: edited(h, steps=["scaler"]), "steps must be null or a list of two or more step names"),
    (lambda h: edited(h, steps=["scaler", "detector"]), "steps names 2 steps, but it has no preparation.skops"),
    (lambda h: edited(h, scaler=header_of_scaler()), "steps must name the scaler's step and the detector's"),
    (lambda h: edited(h, scaler={"class": "StandardScaler"}), "scaler must be null or an object of class"),
    (lambda h: edited(h, params=[]), "params must be an object of parameters"),
    (lambda h: edited(h, attributes=None), "attributes must be an object of fitted attributes"),
    (lambda h: edited(h, format_version="2"), f"format_version must be an integer from 1 to {FORMAT_VERSION}"),
    (lambda h: {key: value for key, value in h.items() if key != "history"}, "history is missing"),
])
def test_a_malformed_header_field_is_named_by_load_and_read_info(members, edit, message):
    header, tensors = members
    content = model_file(edit(header), tensors)
    for reader in (load, read_info):
        with pytest.raises(ValueError, match=f"is not a valid ibdetect model file: {message}"):
            reader(io.BytesIO(content))


def header_of_scaler():
    return {"class": "StandardScaler", "params": {}, "attributes": {}}


def with_param(name, value):
    return lambda header: edited(header, params={**header["params"], name: value})


def with_attribute(name, value):
    return lambda header: edited(header, attributes={**header["attributes"], name: value})


@pytest.mark.parametrize("edit, message", [
    (with_param("hidden_layer_sizes", {"array": [1e400], "dtype": "<i8"}), "hidden_layer_sizes cannot be read"),
    (with_param("hidden_layer_sizes", {"array": [10**30], "dtype": "<i8"}), "hidden_layer_sizes cannot be read"),
    (with_param("priors", {"array": [1], "dtype": "not a dtype"}), "priors cannot be read"),
    (with_param("priors", {"tuple": 3}), "priors cannot be read"),
    (with_attribute("n_features_in_", 10**9), "tensor module.encoder.layers.0.weight is float32 of shape (32, 3), but "
                                              "the parameters build float32 of shape (32, 1000000000)"),
    (with_param("hidden_layer_sizes", {"tuple": [10**9]}), "tensor module.encoder.layers.0.weight is float32 of shape (32, 3)"),
    (with_param("embedding_dim", 10**9), "tensor module.centers is float32 of shape (2, 8), but the parameters build "
                                         "float32 of shape (2, 1000000000)"),
    (with_param("hidden_layer_sizes", {"tuple": [1] * 10**6}), "hidden_layer_sizes names 1000000 layers"),
    (with_param("n_jobs", 4.0), "The 'n_jobs' parameter of IBDeepDescription must be"),
    (with_param("n_jobs", 1e30), "The 'n_jobs' parameter of IBDeepDescription must be"),
    (with_param("hidden_layer_sizes", {"tuple": [32, 32]}), "hidden_layer_sizes names 2 layers, of 4 tensors each, more than"),
])
def test_sizes_and_numbers_a_header_declares_are_checked_before_anything_is_built(members, edit, message):
    header, tensors = members
    with pytest.raises(ValueError, match=f"not a valid ibdetect model file: .*{_escaped(message)}"):
        load(io.BytesIO(model_file(edit(header), tensors)))


def with_labels(classes, normal, dtype="<i8"):
    return with_attribute("classes_", {"values": classes, "dtype": dtype}), with_attribute("normal_labels_", normal)


@pytest.mark.parametrize("edits, message", [
    (with_labels([{"a": 1}, {"b": 2}], None, "|O"), "classes_ must hold strings only, as an array of objects"),
    (with_labels(["a", "a"], {"values": ["a", "a"], "dtype": "<U1"}, "<U1"), "classes_ must hold distinct labels, sorted"),
    (with_labels([1, 0], {"values": [1, 0], "dtype": "<i8"}), "classes_ must hold distinct labels, sorted"),
    (with_labels([float("nan"), 1.0], None, "<f8"), "classes_ must hold finite values"),
    (with_labels([-1, 2], {"values": [-1, 2], "dtype": "<i8"}), "classes_ must not hold the anomaly marker -1"),
    (with_labels([0, 1], {"values": ["zz"], "dtype": "<U2"}), "normal_labels_ must be classes_"),
    (with_labels([0, 1], {"values": [0, 1], "dtype": "<f8"}), "normal_labels_ must be classes_"),
    (with_labels([0, 1], None), "classes_ must be [1] for a detector fitted without labels"),
    ((with_param("loss", "svdd"),), "classes_ must be [1] for a detector fitted with loss=svdd"),
])
def test_labels_a_fit_would_not_find_are_refused(members, edits, message):
    header, tensors = members
    for edit in edits:
        header = edit(header)
    with pytest.raises(ValueError, match=f"not a valid ibdetect model file: {_escaped(message)}"):
        load(io.BytesIO(model_file(header, tensors)))


def test_svdd_keeps_the_normal_labels_of_its_one_class(make_blobs, fast):
    X, y = make_blobs(((-6, 0, 0), (6, 0, 0)), 20)
    detector = IBDeepDescription(**fast, loss="svdd", anomaly_score="knn").fit(X, np.array(["b", "a"])[y])
    file = io.BytesIO()
    save(detector, file)
    loaded = load(file)
    assert loaded.classes_.tolist() == [1] and loaded.normal_labels_.tolist() == ["a", "b"]


def _escaped(message):
    return message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.").replace("[", r"\[")


def safetensors_of(entries, data):
    header = json.dumps(entries).encode()
    return struct.pack("<Q", len(header)) + header + data


@pytest.mark.parametrize("entries, data", [
    ({"attributes.centers_": {"dtype": "F64", "shape": [10**11, 4], "data_offsets": [0, 16]}}, bytes(16)),
    ({"attributes.centers_": {"dtype": "F64", "shape": [2**62, 2**62], "data_offsets": [0, 16]}}, bytes(16)),
    ({"attributes.centers_": {"dtype": "F64", "shape": [4], "data_offsets": [0, 2**40]}}, bytes(32)),
    ({"attributes.centers_": {"dtype": "F64", "shape": [4], "data_offsets": [0.5, 32]}}, bytes(32)),
])
def test_tensors_whose_shapes_and_offsets_disagree_with_their_bytes_are_refused(members, entries, data):
    # The safetensors library checks these before it allocates.
    with pytest.raises(ValueError, match="is not an ibdetect model file"):
        load(io.BytesIO(model_file(members[0], safetensors_of(entries, data))))


def test_n_jobs_beyond_the_cpus_scores_on_as_many_threads_as_there_are(members):
    header, tensors = members
    loaded = load(io.BytesIO(model_file(with_param("n_jobs", 10**30)(header), tensors)))
    assert np.all(np.isfinite(loaded.decision_function(np.zeros((4, 3)))))


def test_a_file_of_too_many_tensors_is_refused_fast(members):
    header, tensors = members
    many = safetensors.torch.load(tensors) | {f"module.extra{i}": torch.zeros(1, dtype=torch.uint8) for i in range(20_000)}
    content = model_file(header, safetensors.torch.save(many))
    assert len(content) < 2 * 2**20
    start = time.process_time()
    with pytest.raises(ValueError, match=f"tensors.safetensors holds {len(many)} tensors, more than {MAX_TENSORS}"):
        load(io.BytesIO(content))
    assert time.process_time() - start < 2


def test_a_long_history_round_trips(members):
    # 500 epochs of ten batches, as a long fit of a tiny net has.
    header, tensors = members
    epoch = {**header["history"][-1], "batches": header["history"][-1]["batches"][:1] * 10}
    history = [{**epoch, "epoch": number} for number in range(1, 501)]
    content = model_file(edited(header, history=history), tensors)
    loaded = load(io.BytesIO(content))
    assert list(loaded.net_.history) == history
    assert len(json.dumps(history)) < MAX_HEADER_BYTES / 20
    file = io.BytesIO()
    save(loaded, file)
    assert list(load(file).net_.history) == history


def test_a_history_too_long_for_a_model_file_keeps_its_epochs(members, monkeypatch):
    header, tensors = members
    detector = load(io.BytesIO(model_file(header, tensors)))
    monkeypatch.setattr(_model_file, "MAX_HEADER_BYTES", len(json.dumps(header)) - 100)
    file = io.BytesIO()
    with pytest.warns(UserWarning, match="the loss of each batch is left out"):
        save(detector, file)
    history = load(file).net_.history
    assert [epoch["train_loss"] for epoch in history] == [epoch["train_loss"] for epoch in header["history"]]
    assert all("batches" not in epoch for epoch in history)
    monkeypatch.setattr(_model_file, "MAX_HEADER_BYTES", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="more than a model file holds"):
            save(detector, io.BytesIO())


def test_metadata_that_is_not_an_object_is_refused_on_save(members):
    detector = load(io.BytesIO(model_file(*members)))
    with pytest.raises(ValueError, match="metadata must be a dict"):
        save(detector, io.BytesIO(), metadata=["a"])


# -- preparation steps -----------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(fast):
    """The header (as a dict), the tensors and the preparation (as bytes) of a saved pipeline of a table's preparation."""
    pytest.importorskip("skops")
    rng = np.random.RandomState(0)
    X = np.array([[f"{value:.2f}", kind] for value, kind in zip(rng.normal(size=60), rng.choice(["a", "b"], 60))], dtype=object)
    file = io.BytesIO()
    save(make_pipeline(make_preprocessor(X), IBDeepDescription(**fast, anomaly_score="knn")).fit(X), file)
    with zipfile.ZipFile(file) as archive:
        return json.loads(archive.read(HEADER_MEMBER)), archive.read(TENSORS_MEMBER), archive.read(PREPARATION_MEMBER)


def prepared_file(header, tensors, preparation):
    return zip_of(
        member(HEADER_MEMBER, json.dumps(header).encode(), DEFLATED),
        member(TENSORS_MEMBER, tensors),
        member(PREPARATION_MEMBER, preparation),
    )


def skops_of(steps):
    import skops.io

    return skops.io.dumps(steps)


def npy_of(array):
    file = io.BytesIO()
    np.save(file, array, allow_pickle=True)
    return file.getvalue()


def loaded(preparation):
    import skops.io

    return skops.io.loads(preparation, trusted=TRUSTED_TYPES)


def test_the_prepared_members_load(prepared):
    assert load(io.BytesIO(prepared_file(*prepared))).named_steps["pipeline"].named_steps["cells"].numeric_columns == [0]


def hostile_preparations(preparation):
    """Preparation members that save never writes, each with the words of its refusal; ``preparation`` is a real one."""
    bomb = deflate_bomb(1024)
    return {
        "a function to run": (lambda: skops_of(Pipeline([("pipeline", FunctionTransformer(os.system))])), "do not load: .*system"),
        "not a pipeline": (lambda: skops_of(StandardScaler().fit(np.zeros((2, 3)))), "not a pipeline of transformers: StandardScaler"),
        "other step names": (lambda: skops_of(Pipeline([("other", loaded(preparation))])), "steps names"),
        "too few features": (lambda: skops_of(Pipeline([("pipeline", PCA(2).fit(np.eye(3)))])), "give 2 features, but the detector takes"),
        "not a zip": (lambda: b"not a zip archive", "not a zip file"),
        "bzip2 member": (lambda: zip_of(member("schema.json", b"{}", BZIP2)), "compressed by method 12"),
        "schema bomb": (lambda: zip_of(("schema.json", bomb, DEFLATED, 2**30, 0)), f"schema.json holds more than {MAX_HEADER_BYTES} bytes"),
        "bomb declaring little": (lambda: zip_of(("a.npy", deflate_bomb(64), DEFLATED, 1000, 0)), "CRC"),
        "too many members": (lambda: zip_of(*(member(f"{i}.npy", b"") for i in range(MAX_PREPARATION_MEMBERS + 1))), f"holds {MAX_PREPARATION_MEMBERS + 1} members"),
        # A few kilobytes that would make a name for each of two million categories.
        "too many numbers": (lambda: zip_of(member("0.npy", npy_of(np.zeros(2**22, np.int8)), DEFLATED)), "arrays hold more than 2097152 numbers"),
        "objects in an array": (lambda: zip_of(member("0.npy", npy_of(np.array([None], dtype=object)))), "an array of Python objects"),
    }


@pytest.mark.parametrize("kind", list(hostile_preparations(None)))
def test_preparations_save_never_writes_are_refused_before_anything_is_built(prepared, kind):
    header, tensors, preparation = prepared
    make, message = hostile_preparations(preparation)[kind]
    content = prepared_file(header, tensors, make())
    assert len(content) < 2 * 2**20
    with pytest.raises(ValueError, match=f"(is not a valid ibdetect model file|is not an ibdetect model file|is damaged).*{message}"):
        load(io.BytesIO(content))


def test_a_preparation_where_the_header_names_none_is_refused(prepared, members):
    header, tensors, preparation = prepared
    with pytest.raises(ValueError, match="holds preparation.skops, but its steps are none"):
        load(io.BytesIO(prepared_file(edited(header, steps=None), tensors, preparation)))


# -- data files ------------------------------------------------------------------------


def npy_declaring(shape, data=bytes(64)):
    file = io.BytesIO()
    np.lib.format.write_array_header_1_0(file, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return file.getvalue() + data


@pytest.mark.parametrize("name, content, message", [
    ("data.npy", npy_declaring((10**11, 4)), "(100000000000, 4) of float64 (3200000000000 bytes), but holds 64"),
    ("data.npy", npy_declaring((10, 4)), "(10, 4) of float64 (320 bytes), but holds 64"),
    ("data.npz", zip_of(member("X.npy", npy_declaring((10**11, 4)))), "(100000000000, 4) of float64"),
    ("data.npz", zip_of(member("X.npy", npy_declaring((10**3, 4)), DEFLATED, declared=10**8)), "holds only 64 bytes"),
    ("data.npz", zip_of(member("X.npy", npy_declaring((10**6, 4)), DEFLATED, declared=10**8)), "but can hold no more than"),
])
def test_arrays_declaring_more_than_their_file_holds_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as error:
        read_data(path)
    assert str(error.value).startswith("cannot read " + ("" if name.endswith(".npy") else "array 'X' of "))
    assert str(path) in str(error.value) and message in str(error.value)


def npz_bomb(shape):
    """An .npz file whose deflated X.npy declares ``shape`` of float64 and 2 GiB, and inflates to 1 GiB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = compressor.compress(npy_declaring(shape, data=b"")) + compressor.flush(zlib.Z_FULL_FLUSH)
    return zip_of(("X.npy", header + deflate_bomb(1024), DEFLATED, 2**31, 0))


@pytest.mark.parametrize("content, message", [
    (zip_of(member("X.npy", npy_declaring((2**16, 3), bytes(2**16 * 24)), BZIP2)), "compressed in a way numpy never writes (zip method 12)"),
    (zip_of(member("X.npy", npy_declaring((2, 3), bytes(48)), LZMA)), "compressed in a way numpy never writes (zip method 14)"),
    (npz_bomb((2**27, 3)), "(134217728, 3) of float64 (3221225472 bytes), but can hold no more than"),
    (npz_bomb((10, 3)), "holds more data than an array of shape (10, 3) of float64 (240 bytes)"),
])
def test_npz_members_numpy_never_writes_are_refused_unread(tmp_path, content, message):
    assert len(content) < 2 * 2**20
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as error:
        read_data(path)
    assert str(error.value).startswith(f"cannot read array 'X' of {path}: ") and message in str(error.value)


def test_arrays_read_back_as_saved(tmp_path):
    X = np.arange(24.0).reshape(6, 4)
    np.save(tmp_path / "c.npy", X)
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    np.savez_compressed(tmp_path / "data.npz", X=X.reshape(6, 2, 2), y=np.array(["7", "-1", "7", "8", "8", "7"]))
    for name in ("c.npy", "f.npy"):
        np.testing.assert_array_equal(read_data(tmp_path / name).X, X)
    data = read_data(tmp_path / "data.npz")
    np.testing.assert_array_equal(data.X, X)
    assert data.X.flags.writeable and data.y.tolist() == [7, -1, 7, 8, 8, 7]


def test_csv_labels_keep_their_text(tmp_path):
    labels = ["007", "7", "12345678901234567", "12345678901234568"]
    rows = [f"{label},{i % 4 * 5.0},{i // 4 * 0.1}" for i, label in enumerate(labels * 5)]
    path = tmp_path / "data.csv"
    path.write_text("label,a,b\n" + "\n".join(rows + ["-1,50,50"]) + "\n")
    data = read_data(path, label_column="label")
    detector = IBDeepDescription(max_epochs=1, random_state=0).fit(data.X, data.y)
    assert detector.classes_.tolist() == sorted(labels)


@pytest.mark.parametrize("labels, expected", [
    (["7", "8", "-1"], [7, 8, -1]),
    (["2.0", "-1.0", "3.0"], [2, -1, 3]),
    (["7", "7.0"], ["7", "7.0"]),
    (["+7", "8"], ["+7", "8"]),
    (["99999999999999999999", "1"], ["99999999999999999999", "1"]),
    (["12345678901234567", "12345678901234568"], [12345678901234567, 12345678901234568]),
])
def test_csv_labels_are_ints_only_when_each_keeps_its_number(tmp_path, labels, expected):
    path = tmp_path / "data.csv"
    path.write_text("label,a\n" + "".join(f"{label},1\n" for label in labels))
    assert read_data(path, label_column="label").y.tolist() == expected


# -- memory ----------------------------------------------------------------------------

# Run in a process of its own, its address space capped 1 GiB above what
# the imports take: load and read_data refuse each file with a ValueError;
# read_info, which reads no tensors, may return the versions of a model too
# wide for its tensors.
MEMORY_CHECK = textwrap.dedent("""
    import json, resource, sys
    from ibdetect.io import read_data
    from ibdetect.persistence import load, read_info
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (mapped + 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (OSError, ValueError):
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = []
    for path in sys.argv[1:]:
        for reader in ((read_data,) if path.endswith((".npy", ".npz")) else (load, read_info)):
            try:
                reader(path)
                outcomes.append([path, reader.__name__, "returned", ""])
            except BaseException as exc:
                outcomes.append([path, reader.__name__, type(exc).__name__, str(exc)])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcomes": outcomes, "grown": (after - before) * (1 if sys.platform == "darwin" else 1024)}))
""")


def test_crafted_files_cost_less_than_a_gigabyte(members, prepared, hostile, tmp_path, make_blobs, fast):
    pytest.importorskip("resource")
    header, tensors = members
    files = {f"{kind}.ibdetect": hostile[kind][0] for kind in ("bzip2 bomb", "deflate bomb", "1 GiB declared header")}
    files["preparation bomb.ibdetect"] = prepared_file(*prepared[:2], hostile_preparations(prepared[2])["schema bomb"][0]())
    files["wide.ibdetect"] = model_file(with_attribute("n_features_in_", 10**9)(header), tensors)
    # Random affine maps take 4 * 8 * n_features**2 bytes: 1.2 GB for 6,000 features.
    affine = io.BytesIO()
    detector = IBDeepDescription(**fast, transformations="affine", anomaly_score="knn")
    save(without_rows_kept(detector.fit(*make_blobs(((-6, 0, 0), (6, 0, 0)), 20))), affine)
    with zipfile.ZipFile(affine) as archive:
        affine_header, affine_tensors = json.loads(archive.read(HEADER_MEMBER)), archive.read(TENSORS_MEMBER)
    files["wide affine.ibdetect"] = model_file(with_attribute("n_features_in_", 6_000)(affine_header), affine_tensors)
    entries = {"attributes.centers_": {"dtype": "F64", "shape": [10**11, 4], "data_offsets": [0, 16]}}
    files["huge tensor.ibdetect"] = model_file(header, safetensors_of(entries, bytes(16)))
    files["data.npy"] = npy_declaring((10**11, 4))
    files["data.npz"] = zip_of(member("X.npy", npy_declaring((10**11, 4))))
    for name, content in files.items():
        assert len(content) < 2 * 2**20
        (tmp_path / name).write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHECK, *(str(tmp_path / name) for name in files)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    outcomes = {(reader, kind) for _, reader, kind, _ in report["outcomes"]}
    assert outcomes <= {("load", "ValueError"), ("read_data", "ValueError"), ("read_info", "ValueError"), ("read_info", "returned")}
    assert ("load", "ValueError") in outcomes and ("read_data", "ValueError") in outcomes
    assert report["grown"] < 2**30
    # Refused for its shapes, which cost nothing to compare, not for the
    # memory that building them would have taken beyond this process's limit.
    [affine_refusal] = [message for path, reader, _, message in report["outcomes"] if "affine" in path and reader == "load"]
    assert "but the parameters build" in affine_refusal
