"""Model files mutated at random: load and read_info refuse them with a ValueError or give a working model."""

import functools
import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect._model_file import HEADER_MEMBER, PREPARATION_MEMBER, TENSORS_MEMBER
from ibdetect.persistence import load, read_info, save
from ibdetect.preprocessing import make_preprocessor

# Few examples, always the same ones: the run takes seconds and fails alike everywhere.
MUTATIONS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def saved(kind):
    """The members of a model file (header as a dict, tensors by name) of a small detector, or of a pipeline."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(-4, 1, (20, 3)), rng.normal(4, 1, (20, 3))])
    detector = IBDeepDescription(max_epochs=2, hidden_layer_sizes=(8,), embedding_dim=4, random_state=0)
    model = detector if kind == "detector" else make_pipeline(StandardScaler(), detector)
    file = io.BytesIO()
    save(model.fit(X, np.repeat([0, 1], 20)), file)
    with zipfile.ZipFile(file) as archive:
        return json.loads(archive.read(HEADER_MEMBER)), safetensors.torch.load(archive.read(TENSORS_MEMBER)), X


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=4)
    | st.integers(-3, 3) | st.sampled_from([2**31, 2**63, 10**9, 10**30, -(10**400), 10**400]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


@st.composite
def header_edits(draw, header):
    """``header`` with one value, anywhere in it, replaced, removed, or given a sibling."""
    header = json.loads(json.dumps(header))
    parent, key = None, None
    value = header
    while isinstance(value, (dict, list)) and value and draw(st.booleans()):
        parent = value
        key = draw(st.sampled_from(sorted(value) if isinstance(value, dict) else range(len(value))))
        value = value[key]
    if parent is None:
        parent, key = header, draw(st.sampled_from(sorted(header)))
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        parent[key] = draw(json_values)
    elif action == "remove":
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = draw(json_values)
    else:
        parent.append(draw(json_values))
    return header


@st.composite
def tensor_edits(draw, tensors):
    """``tensors`` with one of them of another dtype or shape, cut short, removed, or a new one."""
    tensors = dict(tensors)
    key = draw(st.sampled_from(sorted(tensors)))
    tensor = tensors[key]
    action = draw(st.sampled_from(["dtype", "shorter", "longer", "flat", "remove", "add", "non-finite"]))
    if action == "dtype":
        tensors[key] = tensor.to(draw(st.sampled_from([torch.float16, torch.float32, torch.float64, torch.int64, torch.bool])))
    elif action == "shorter":
        tensors[key] = tensor[..., :-1] if tensor.ndim else tensor.reshape(-1)[:0]
    elif action == "longer":
        tensor = tensor if tensor.ndim else tensor.reshape(-1)
        tensors[key] = torch.cat([tensor, tensor[:1]])
    elif action == "flat":
        tensors[key] = tensor.reshape(-1)[None]
    elif action == "remove":
        del tensors[key]
    elif action == "add":
        tensors[f"{key}_"] = tensor.clone()
    elif tensor.is_floating_point():
        tensors[key] = torch.full_like(tensor, draw(st.sampled_from([float("nan"), float("inf"), -3e38])))
    return {name: value.contiguous() for name, value in tensors.items()}


@st.composite
def archives(draw, header_bytes, tensor_bytes):
    """A model file whose zip structure differs from what save writes: members, their methods, its bytes."""
    members = [(HEADER_MEMBER, header_bytes, zipfile.ZIP_DEFLATED), (TENSORS_MEMBER, tensor_bytes, zipfile.ZIP_STORED)]
    action = draw(st.sampled_from(["duplicate", "remove", "extra", "method", "truncate", "flip"]))
    if action == "duplicate":
        members.append(draw(st.sampled_from(members)))
    elif action == "remove":
        members.pop(draw(st.integers(0, 1)))
    elif action == "extra":
        members.append((draw(st.text(min_size=1, max_size=8)), b"{}", zipfile.ZIP_STORED))
    elif action == "method":
        index = draw(st.integers(0, 1))
        methods = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
        members[index] = (*members[index][:2], draw(st.sampled_from(methods)))
    file = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name
        with zipfile.ZipFile(file, "w") as archive:
            for name, content, method in members:
                archive.writestr(name, content, compress_type=method)
    content = file.getvalue()
    if action == "truncate":
        content = content[: draw(st.integers(0, len(content) - 1))]
    elif action == "flip":
        position = draw(st.integers(0, len(content) - 1))
        content = content[:position] + bytes([content[position] ^ 0xFF]) + content[position + 1:]
    return content


def model_file(header, tensors):
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr(HEADER_MEMBER, json.dumps(header).encode(), compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(TENSORS_MEMBER, safetensors.torch.save(tensors))
    return file.getvalue()


def assert_refused_or_working(content, X):
    """load and read_info raise a ValueError, or return what they promise; load's model scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = load(io.BytesIO(content))
        except ValueError:
            pass
        else:
            # What the model takes: a pipeline's first step's columns.
            rows = X if X.shape[1] == model.n_features_in_ else np.zeros((2, model.n_features_in_))
            assert np.isfinite(model.decision_function(rows)).all()
        try:
            info = read_info(io.BytesIO(content))
        except ValueError:
            pass
        else:
            assert isinstance(info.versions, dict) and isinstance(info.metadata, dict)


@pytest.mark.parametrize("kind", ["detector", "pipeline"])
@MUTATIONS
@given(data=st.data())
def test_an_edited_header_is_refused_or_loads_a_working_model(kind, data):
    header, tensors, X = saved(kind)
    assert_refused_or_working(model_file(data.draw(header_edits(header)), tensors), X)


@MUTATIONS
@given(data=st.data())
def test_edited_tensors_are_refused_or_load_a_working_model(data):
    header, tensors, X = saved("detector")
    assert_refused_or_working(model_file(header, data.draw(tensor_edits(tensors))), X)


@MUTATIONS
@given(data=st.data())
def test_another_zip_structure_is_refused_or_loads_a_working_model(data):
    header, tensors, X = saved("detector")
    content = data.draw(archives(json.dumps(header).encode(), safetensors.torch.save(tensors)))
    assert_refused_or_working(content, X)


@functools.cache
def saved_table():
    """The members of a model file of a table's preparation and a detector: header, tensors, the
    preparation's schema (as a dict) and its other members; and the table."""
    pytest.importorskip("skops")
    rng = np.random.RandomState(0)
    X = np.array([[f"{value:.2f}", kind] for value, kind in zip(rng.normal(size=40), rng.choice(["a", "b", ""], 40))], dtype=object)
    X[X == ""] = np.nan
    detector = IBDeepDescription(max_epochs=2, hidden_layer_sizes=(8,), embedding_dim=4, random_state=0)
    file = io.BytesIO()
    save(make_pipeline(make_preprocessor(X), detector).fit(X), file)
    with zipfile.ZipFile(file) as archive, zipfile.ZipFile(io.BytesIO(archive.read(PREPARATION_MEMBER))) as steps:
        schema = json.loads(steps.read("schema.json"))
        others = {name: steps.read(name) for name in steps.namelist() if name != "schema.json"}
        return archive.read(HEADER_MEMBER), archive.read(TENSORS_MEMBER), schema, others, X


@MUTATIONS
@given(data=st.data())
def test_an_edited_preparation_is_refused_or_loads_a_working_model(data):
    header, tensors, schema, others, X = saved_table()
    steps = io.BytesIO()
    with zipfile.ZipFile(steps, "w") as archive:
        archive.writestr("schema.json", json.dumps(data.draw(header_edits(schema))))
        for name, content in others.items():
            archive.writestr(name, content)
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr(HEADER_MEMBER, header, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(TENSORS_MEMBER, tensors)
        archive.writestr(PREPARATION_MEMBER, steps.getvalue())
    assert_refused_or_working(file.getvalue(), X)
