"""A detector's fitted state in a model file: plain values in the header, arrays as tensors.

What ``fit`` leaves on a detector, as its ``FITTED_STATE`` declares it, goes
to two places: numbers, labels and names to the header's ``attributes`` as
JSON values, arrays to tensors named ``attributes.<name>``. An array that
holds the very rows of another is written once: by default the replay
sample that ``partial_fit`` trains on is the k-NN reference's rows, which
for images are tens of megabytes. The header's ``shared_arrays`` then maps
the name left out to the one written, and loading gives both names one
array, as ``fit`` had; absent (as in files of formats 1 to 4), the field
maps nothing. This module turns the state into those values and back, and
refuses a ``shared_arrays`` that maps anything else; checking the values
that come back is ``check_state``'s concern.
"""

from numbers import Integral, Real

import numpy as np
import torch

from ._compatibility import EARLIER_FITTED, with_unscaled_rank
from ._estimator import FITTED_STATE

__all__ = ["ARRAY_ATTRIBUTES", "HEADER_ATTRIBUTES", "decode_state", "encode_labels", "encode_state"]

# Arrays are kept as tensors, plain values in the JSON header; the net and
# the pretraining history are written their own way.
ARRAY_ATTRIBUTES = tuple(attribute for attribute in FITTED_STATE if attribute.kind == "array")
HEADER_ATTRIBUTES = tuple(attribute for attribute in FITTED_STATE if attribute.kind not in ("array", "net", "history"))
# The arrays that may repeat another one's rows, and that other one. The
# reference is the one written: scoring reads it, and a file saved without
# training rows keeps it alone.
SHAREABLE = {"replay_inputs_": "reference_inputs_"}


# -- writing ------------------------------------------------------------------


def encode_state(model):
    """The header's ``attributes`` and ``shared_arrays``, and the tensors, of a fitted detector.

    The tensors are CPU copies that share no memory (as safetensors needs):
    the network's and criterion's weights, and every fitted array that
    repeats no other.
    """
    shared = {name: source for name, source in SHAREABLE.items() if _same_rows(model, name, source)}
    net = model.net_
    tensors = {f"module.{key}": value for key, value in net.module_.state_dict().items()}
    tensors |= {f"criterion.{key}": value for key, value in net.criterion_.state_dict().items()}
    for attribute in ARRAY_ATTRIBUTES:
        if hasattr(model, attribute.name) and attribute.name not in shared:
            tensors[f"attributes.{attribute.name}"] = torch.from_numpy(getattr(model, attribute.name))
    tensors = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in tensors.items()}
    return _encode_attributes(model), shared, tensors


def _same_rows(model, name, source):
    first, second = getattr(model, name, None), getattr(model, source, None)
    if first is None or second is None or first.shape != second.shape or first.dtype != second.dtype:
        return False
    if first is second:
        return True
    # Byte for byte, so that the loaded array is the saved one, signed zeros
    # included; arrays laid out otherwise are written apart.
    contiguous = first.flags.c_contiguous and second.flags.c_contiguous
    return contiguous and np.array_equal(first.view(np.uint8), second.view(np.uint8))


def _encode_attributes(model):
    """The detector's declared plain fitted values, as JSON values."""
    attributes = {}
    for attribute in HEADER_ATTRIBUTES:
        if hasattr(model, attribute.name):
            value = getattr(model, attribute.name)
            attributes[attribute.name] = None if value is None else _ENCODERS[attribute.kind](value, attribute.name)
    return attributes


def encode_labels(labels, name):
    """``labels`` as a JSON object of their values and dtype; a ValueError unless they are numbers or strings."""
    if not all(isinstance(label, (bool, Integral, Real, str)) for label in labels.tolist()):
        raise ValueError(f"{name} must hold numbers or strings to be saved in a model file.")
    return {"values": labels.tolist(), "dtype": labels.dtype.str}


_ENCODERS = {
    "labels": encode_labels,
    "names": lambda names, name: [str(item) for item in names],
    "int": lambda value, name: int(value),
    "count": lambda value, name: int(value),
    "float": lambda value, name: float(value),
    "text": lambda value, name: str(value),
}


# -- reading ------------------------------------------------------------------


def decode_state(header, tensors, n_neighbors):
    """The fitted state a model file holds, by name, decoded but not yet checked."""
    attributes = header["attributes"]
    known = {attribute.name: attribute for attribute in HEADER_ATTRIBUTES}
    state = {}
    for name, value in attributes.items():
        if name not in known:
            raise ValueError(f"unknown fitted attribute {name!r}")
        state[name] = None if value is None else _DECODERS[known[name].kind](value, name)
    for key, tensor in tensors.items():
        if key.startswith("attributes."):
            try:
                state[key[len("attributes."):]] = tensor.numpy()
            except TypeError:
                raise ValueError(f"tensor {key} is of {tensor.dtype}, which no fitted array is") from None
    state |= _shared(header.get("shared_arrays", {}), state)
    if header["format_version"] == 1:
        state = with_unscaled_rank(state, n_neighbors)
    if header["format_version"] < 3:
        # Whatever such a file holds, its network saw each sample as it is.
        state = {**state, **EARLIER_FITTED}
    return state


def _shared(shared, state):
    """The arrays that ``shared`` (the header's ``shared_arrays``) names, each the very array it repeats."""
    arrays = {}
    for name, source in shared.items():
        if SHAREABLE.get(name) != source:
            pairs = ", ".join(f"{key} to {value}" for key, value in SHAREABLE.items())
            raise ValueError(f"shared_arrays maps {name} to {source}; it may map only {pairs}")
        if name in state:
            raise ValueError(f"{name} is both stored and shared with {source}")
        if source not in state:
            raise ValueError(f"{name} is shared with {source}, which the file does not hold")
        arrays[name] = state[source]
    return arrays


def _decode_labels(labels, name):
    if not isinstance(labels, dict) or labels.keys() != {"values", "dtype"} or not isinstance(labels["values"], list):
        raise ValueError(f"{name} must be an object of values and their dtype")
    dtype = np.dtype(labels["dtype"])
    if dtype.kind not in "biufUO":
        raise ValueError(f"{name} of dtype {dtype} cannot come from a model file")
    if dtype.kind == "U":
        # The strings' own length, not the one the file declares: a declared
        # width of millions of characters would allocate that much per label.
        return np.asarray([str(value) for value in labels["values"]])
    return np.asarray(labels["values"], dtype=dtype)


def _decode_names(names, name):
    if not isinstance(names, list):
        raise ValueError(f"{name} must be a list of strings")
    return np.asarray([str(item) for item in names], dtype=object)


def _as_float(value, name):
    # JSON writes a float with no fraction as one, but a hand-written 0 is as good.
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


# Ints and texts come as JSON gives them; check_state says what is wrong with them.
_DECODERS = {
    "labels": _decode_labels,
    "names": _decode_names,
    "int": lambda value, name: value,
    "count": lambda value, name: value,
    "float": _as_float,
    "text": lambda value, name: value,
}
