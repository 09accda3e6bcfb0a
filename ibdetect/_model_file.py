"""The archive of a model file: its two members, the limits they are read within, and the header's fields.

A model file is a zip archive of ``model.json`` (the header: parameters,
fitted values, history, versions, metadata), ``tensors.safetensors`` and,
for a pipeline whose steps before the detector are not a lone scaler,
``preparation.skops`` (those steps, as skops.io writes them).
This module writes and reads that archive, never more than its limits, and
checks that every field of the header has the type ``save`` writes; what
the fields mean is the concern of ``ibdetect.persistence`` and, for the
fitted state, of ``ibdetect._model_state``. It also tells a model
file from a pickle by its first bytes.
"""

import io
import json
import os
import struct
import warnings
import zipfile

import numpy as np
import safetensors.torch

__all__ = ["FORMAT", "FORMAT_VERSION", "bounded_preparation", "file_kind", "file_name", "read_archive", "write_archive"]

FORMAT = "ibdetect-model"
# Raised when the layout changes in a way older readers cannot follow.
# Format 2 added n_neighbors_, which a reader of format 1 would ignore and
# then score with another neighbour rank. Format 3 added transformations_,
# without which a reader of format 2 would build a network that embeds
# only the sample itself, not its views. Format 4 added the preparation
# member, which a reader of format 3 would refuse as a member it does not know.
# Format 5 writes the replay sample once when it is the reference's rows
# (shared_arrays), which a reader of format 4 would find missing.
# Format 6 narrows the built-in CNN with views when hidden_layer_sizes is
# unset, which a reader of format 5 would build with the wider blocks.
# Format 7 adds embedding_whitening_, the units of the k-NN scores with
# views, which a reader of format 6 would refuse as an unknown attribute,
# and builds the CNN with views with other blocks when hidden_layer_sizes is
# unset.
FORMAT_VERSION = 7
HEADER_MEMBER = "model.json"
# The containers set_output can choose for a step's output (scikit-learn's).
OUTPUT_CONTAINERS = ("pandas", "polars")
TENSORS_MEMBER = "tensors.safetensors"
PREPARATION_MEMBER = "preparation.skops"
# The most bytes the JSON header may hold once inflated. A header is mostly
# the training history, about 65 bytes per batch: 500 epochs of one batch
# take 0.1 MB, 50 epochs of 100,000 rows in batches of 128 about 2.6 MB.
# Parsing JSON costs up to 25 times its size ("[{},{},...]"): a hostile
# header of "{}" within the limit adds about 250 MB to what the command
# line's score or info take, as it is read once; save leaves out the
# per-batch records of a history that would not fit.
MAX_HEADER_BYTES = 10 * 2**20
# The most tensors a file may hold: real nets hold far fewer (ResNet-152
# holds about 930, counting its batch norms' statistics), and a file of
# tens of thousands of tiny ones would cost seconds and memory per tensor.
MAX_TENSORS = 10_000
# The most bytes the preparation's own archive may inflate to, and the most
# members it may hold. Its largest parts are the categories of one-hot
# encoders: a million categories of 20 characters take about 25 MB. Its
# JSON schema is parsed, and held to the header's limit for that reason.
MAX_PREPARATION_BYTES = 64 * 2**20
MAX_PREPARATION_MEMBERS = 10_000
# The most numbers the preparation's arrays may hold together. Loading
# makes a name for each output feature, a Python string of about 160 bytes:
# a few bytes of array could otherwise ask for gigabytes (at this cap, about
# 340 MB). Two million numbers hold a scaler of 700,000 features, a one-hot
# encoder of as many categories, or a PCA of 1,300 components of 1,600.
MAX_PREPARATION_ELEMENTS = 2**21
PREPARATION_SCHEMA = "schema.json"
# The compression of each member: save deflates the header and stores the
# tensors, whose size is then bounded by the file's own; stored headers, as
# zipfile writes by default, are read too. Anything else (bzip2, lzma, ...)
# is refused.
MEMBER_COMPRESSIONS = {
    HEADER_MEMBER: (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED),
    TENSORS_MEMBER: (zipfile.ZIP_STORED,),
    PREPARATION_MEMBER: (zipfile.ZIP_STORED,),
}
# Members that a model file holds only when it has something to put there.
OPTIONAL_MEMBERS = (PREPARATION_MEMBER,)
# How the members of the preparation's own archive may be compressed.
PREPARATION_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def write_archive(file, header, tensors, preparation=None):
    """Write ``header`` (a dict), ``tensors`` (a dict of CPU tensors) and ``preparation`` (bytes or None) as a model file."""
    content = _header_bytes(header)
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr(HEADER_MEMBER, content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(TENSORS_MEMBER, safetensors.torch.save(tensors))
        if preparation is not None:
            archive.writestr(PREPARATION_MEMBER, preparation)


def _header_bytes(header):
    """The header as JSON, as load reads it: within MAX_HEADER_BYTES, every field as load checks it.

    A history too long for the limit loses its per-batch records, with a
    warning; the per-epoch ones are kept.
    """
    try:
        content = json.dumps(header, allow_nan=True).encode("utf-8")
    except TypeError as exc:
        raise ValueError(f"metadata must be JSON-serialisable: {exc}") from None
    if len(content) > MAX_HEADER_BYTES:
        header = dict(header)
        for field in ("history", "pretrain_history"):
            if header[field]:
                header[field] = [{key: value for key, value in epoch.items() if key != "batches"} for epoch in header[field]]
        content = json.dumps(header, allow_nan=True).encode("utf-8")
        if len(content) > MAX_HEADER_BYTES:
            raise ValueError(
                f"the model's parameters, fitted values and metadata take {len(content)} bytes of JSON, "
                f"more than a model file holds ({MAX_HEADER_BYTES}); save it with joblib (a pickle)."
            )
        warnings.warn(
            "The training history is too long for a model file: the loss of each batch is left out, "
            "the values of each epoch are kept.",
            UserWarning,
            stacklevel=3,
        )
    problem = header_problem(json.loads(content))
    if problem:
        raise ValueError(f"the model cannot be saved: {problem}")
    return content


def file_name(file):
    name = getattr(file, "name", file)
    return str(name) if isinstance(name, (str, os.PathLike)) else "the model file"


def read_archive(file, with_tensors=True):
    """The header of a model file, its tensors and its preparation.

    The tensors are None without ``with_tensors``; the preparation is the
    bytes of its archive, rewritten within its limits (see
    :func:`bounded_preparation`), or None when the file has none. Anything
    but a model file of a format this version reads is a ValueError.
    """
    name = file_name(file)
    try:
        header_bytes, tensor_bytes, preparation = _read_members(file, with_tensors)
        header = json.loads(header_bytes.decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("it is not marked as one")
        # The safetensors library checks every tensor's dtype, shape and
        # offsets against the bytes there before it allocates any.
        tensors = safetensors.torch.load(_within_tensor_count(tensor_bytes)) if with_tensors else None
    except OSError:
        raise
    except Exception as exc:
        # Bytes that are not a whole model file fail in zipfile, json or
        # safetensors with many exception types; all mean the same here.
        raise ValueError(_not_a_model_file(file, name, exc)) from None
    version = header.get("format_version")
    if _is_json_int(version) and version > FORMAT_VERSION:
        raise ValueError(
            f"{name} was written in model file format {version!r}, newer than this ibdetect "
            f"reads ({FORMAT_VERSION}); upgrade ibdetect to load it."
        )
    problem = header_problem(header) or _preparation_problem(header, preparation)
    if problem:
        raise ValueError(f"{name} is not a valid ibdetect model file: {problem}")
    return header, tensors, preparation


def _preparation_problem(header, preparation):
    """What is wrong with the preparation member given the header's steps, or None."""
    expected = header["steps"] is not None and header["scaler"] is None
    if expected and preparation is None:
        return f"steps names {len(header['steps'])} steps, but it has no {PREPARATION_MEMBER}"
    if preparation is not None and not expected:
        return f"it holds {PREPARATION_MEMBER}, but its steps are {'a scaler' if header['scaler'] else 'none'}"
    return None


def _read_members(file, with_tensors):
    """The bytes of the header, the tensors (None without ``with_tensors``) and the preparation (or None).

    The archive must hold each member once and nothing else, compressed as
    ``MEMBER_COMPRESSIONS`` allows; the sizes the archive declares are
    checked first, and each member is read no further than its limit.
    """
    limits = {HEADER_MEMBER: MAX_HEADER_BYTES, TENSORS_MEMBER: _size_of(file), PREPARATION_MEMBER: _size_of(file)}
    with zipfile.ZipFile(file) as archive:
        members = {}
        for info in archive.infolist():
            if info.filename not in MEMBER_COMPRESSIONS:
                raise ValueError(f"it holds {info.filename!r}, which a model file does not")
            if info.filename in members:
                raise ValueError(f"it holds {info.filename} twice")
            if info.compress_type not in MEMBER_COMPRESSIONS[info.filename]:
                raise ValueError(f"{info.filename} is compressed in a way save never writes (method {info.compress_type})")
            if info.file_size > limits[info.filename]:
                raise ValueError(f"{info.filename} declares {info.file_size} bytes, more than {limits[info.filename]}")
            members[info.filename] = info
        missing = [member for member in MEMBER_COMPRESSIONS if member not in members and member not in OPTIONAL_MEMBERS]
        if missing:
            raise ValueError(f"it has no {missing[0]}")
        header = _read_member(archive, members[HEADER_MEMBER], limits[HEADER_MEMBER])
        tensors = _read_member(archive, members[TENSORS_MEMBER], limits[TENSORS_MEMBER]) if with_tensors else None
        preparation = members.get(PREPARATION_MEMBER)
        if preparation is not None:
            preparation = bounded_preparation(_read_member(archive, preparation, limits[PREPARATION_MEMBER]))
    return header, tensors, preparation


def _read_member(archive, info, limit):
    # Streamed: what the member inflates to counts, whatever it declares.
    with archive.open(info) as member:
        content = member.read(limit + 1)
    if len(content) > limit:
        raise ValueError(f"{info.filename} holds more than {limit} bytes")
    return content


def bounded_preparation(content):
    """The preparation's archive, rewritten from what its members inflate to within the limits.

    skops.io reads the archive it is given whole; rewritten, its members
    hold no more than was read here, whatever the original declared.
    """
    copy = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as archive, zipfile.ZipFile(copy, "w") as rewritten:
        infos = archive.infolist()
        if len(infos) > MAX_PREPARATION_MEMBERS:
            raise ValueError(f"{PREPARATION_MEMBER} holds {len(infos)} members, more than {MAX_PREPARATION_MEMBERS}")
        left, elements = MAX_PREPARATION_BYTES, MAX_PREPARATION_ELEMENTS
        for info in infos:
            if info.compress_type not in PREPARATION_COMPRESSIONS:
                raise ValueError(f"{PREPARATION_MEMBER} holds {info.filename!r} compressed by method {info.compress_type}")
            limit = min(left, MAX_HEADER_BYTES) if info.filename == PREPARATION_SCHEMA else left
            member = _read_member(archive, info, limit)
            left -= len(member)
            if info.filename.endswith(".npy"):
                elements -= _array_elements(member, info.filename)
                if elements < 0:
                    raise ValueError(f"{PREPARATION_MEMBER}'s arrays hold more than {MAX_PREPARATION_ELEMENTS} numbers")
            rewritten.writestr(info.filename, member)
    return copy.getvalue()


def _array_elements(content, name):
    """How many numbers an .npy file declares, read from its header alone."""
    file = io.BytesIO(content)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    reader = readers.get(np.lib.format.read_magic(file))
    if reader is None:
        raise ValueError(f"{PREPARATION_MEMBER} holds {name!r} in an .npy format save never writes")
    shape, _, dtype = reader(file)
    if dtype.hasobject:
        raise ValueError(f"{PREPARATION_MEMBER} holds {name!r}, an array of Python objects")
    return int(np.prod(shape, dtype=object))


def _within_tensor_count(tensor_bytes):
    """``tensor_bytes``, once its header is seen to name at most ``MAX_TENSORS`` tensors."""
    (length,) = struct.unpack("<Q", tensor_bytes[:8])
    entries = json.loads(tensor_bytes[8:8 + length].decode("utf-8"))
    count = len(entries) - ("__metadata__" in entries) if isinstance(entries, dict) else 0
    if count > MAX_TENSORS:
        raise ValueError(f"{TENSORS_MEMBER} holds {count} tensors, more than {MAX_TENSORS}")
    return tensor_bytes


def _size_of(file):
    """The size in bytes of a file, given by its path or as a seekable file object."""
    if not hasattr(file, "seek"):
        return os.path.getsize(file)
    position = file.tell()
    size = file.seek(0, os.SEEK_END)
    file.seek(position)
    return size


def _is_json_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_object_of(check):
    return lambda value: isinstance(value, dict) and all(isinstance(key, str) and check(item) for key, item in value.items())


def _is_json_object(value):
    return _is_object_of(lambda item: True)(value)


def _is_list_of(check):
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _is_record(value):
    """An entry of a skorch history: JSON scalars by name (the epoch and its duration numbers).

    Callbacks record numbers (scores, learning rates) and booleans
    (``valid_loss_best``, ``event_cp``); nothing else is read.
    """
    return _is_object_of(_is_scalar)(value) and all(_is_number(value[key]) for key in ("epoch", "dur") if key in value)


def _is_epoch(value):
    """An epoch of a skorch history: a record, with the records of its batches."""
    if not isinstance(value, dict):
        return False
    batches = value.get("batches", [])
    return _is_record({key: item for key, item in value.items() if key != "batches"}) and _is_list_of(_is_record)(batches)


def _is_scaler(value):
    return (
        isinstance(value, dict)
        and value.keys() == {"class", "params", "attributes"}
        and isinstance(value["class"], str)
        and _is_json_object(value["params"])
        and _is_json_object(value["attributes"])
    )


# What each field of the header must be, and how to say it. Values within
# params and attributes are checked as they are decoded.
_HEADER_FIELDS = {
    "format_version": (lambda value: _is_json_int(value) and 1 <= value <= FORMAT_VERSION, f"an integer from 1 to {FORMAT_VERSION}"),
    "versions": (_is_object_of(lambda item: isinstance(item, str)), "an object of version strings"),
    "metadata": (_is_json_object, "a JSON object"),
    "steps": (lambda value: value is None or (_is_list_of(lambda item: isinstance(item, str))(value) and len(value) >= 2), "null or a list of two or more step names"),
    "scaler": (lambda value: value is None or _is_scaler(value), "null or an object of class, params and attributes"),
    "params": (lambda value: _is_json_object(value) and isinstance(value.get("encoder", "auto"), (str, dict)), "an object of parameters"),
    "attributes": (_is_json_object, "an object of fitted attributes"),
    "history": (_is_list_of(_is_epoch), "a list of epochs, each an object of numbers, texts, booleans or nulls"),
    "pretrain_history": (lambda value: value is None or _is_list_of(_is_epoch)(value), "null or a list of epochs"),
}


# Fields that files of earlier formats lack: absent, they hold nothing.
_OPTIONAL_HEADER_FIELDS = {
    "shared_arrays": (_is_object_of(lambda item: isinstance(item, str)), "an object of array names"),
    # What set_output chose for the scaler's and the detector's transform;
    # earlier versions ignore it and load arrays as the steps' output.
    "set_output": (
        lambda value: _is_object_of(lambda item: item in OUTPUT_CONTAINERS)(value)
        and set(value) <= {"scaler", "detector"},
        f"an object of 'scaler' and 'detector', each one of {', '.join(OUTPUT_CONTAINERS)}",
    ),
}


def header_problem(header):
    """What is wrong with the first field of ``header`` that is not what save writes, or None."""
    for field, (check, expected) in _HEADER_FIELDS.items():
        if field not in header:
            return f"{field} is missing"
        if not check(header[field]):
            return f"{field} must be {expected}"
    for field, (check, expected) in _OPTIONAL_HEADER_FIELDS.items():
        if field in header and not check(header[field]):
            return f"{field} must be {expected}"
    if header["steps"] is None and header["scaler"] is not None:
        return "steps must name the scaler's step and the detector's"
    if header["scaler"] is not None and len(header["steps"]) != 2:
        return "steps must name two steps when a scaler is saved"
    return None


# -- recognising files ----------------------------------------------------------

# How a model file begins: the first member's header of a zip archive.
MODEL_FILE_MAGIC = b"PK\x03\x04"
# How a pickle begins: protocol 2 and later, and the compressed pickles of
# joblib: zlib (its default, "x" and the flags byte of one of zlib's
# compression levels; "ZF" before joblib 0.9.3), gzip, bz2, xz, lzma, lz4.
ZLIB_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
PICKLE_MAGICS = (
    b"\x80", *ZLIB_MAGICS, b"ZF", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00", b"\x04\x22\x4d\x18"
)


def _not_a_model_file(file, name, exc):
    """Why ``file`` does not load, named as what its first bytes say it is."""
    kind = file_kind(file)
    if kind == "pickle":
        return (
            f"{name} is a pickle (joblib) file, not an ibdetect model file; joblib.load reads it by "
            "running code stored in it, so load it that way only if you trust where it comes from."
        )
    if kind == "model" and (not zipfile.is_zipfile(file) or str(exc).startswith("Bad CRC-32")):
        # It begins as a model file does, but holds no whole archive, or
        # bytes that changed since it was written: most often a copy or
        # download cut short or corrupted.
        return (
            f"{name} is damaged or incomplete: it begins as a model file does, but its archive cannot be read "
            f"({exc}); save or copy it again."
        )
    return f"{name} is not an ibdetect model file ({exc})."


def file_kind(file):
    """Whether a file is a model file or a pickle, told by its first bytes; nothing is loaded.

    The name of the file plays no part: a model file renamed ``model.pkl``
    is still one. Use it to choose between :func:`load`, which runs nothing
    from the file, and ``joblib.load``, which runs code the pickle holds and
    is for files you trust only.

    Parameters
    ----------
    file : str, path-like or binary file object
        A file object is read from its start and left where it was.

    Returns
    -------
    kind : {"model", "pickle"} or None
        ``"model"`` for a zip archive, as :func:`save` writes (whether it is
        a whole model file, :func:`load` tells); ``"pickle"`` for a pickle,
        as ``joblib.dump`` writes, compressed or not; None for anything else.

    Examples
    --------
    >>> import io, pickle
    >>> import numpy as np
    >>> from ibdetect import IBDeepDescription
    >>> from ibdetect.persistence import file_kind, save
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> detector = IBDeepDescription(max_epochs=2, random_state=0).fit(X)
    >>> model_file = io.BytesIO()
    >>> save(detector, model_file)
    >>> file_kind(model_file)
    'model'
    >>> file_kind(io.BytesIO(pickle.dumps(detector)))
    'pickle'
    >>> print(file_kind(io.BytesIO(b"f0,f1,f2\\n0.5,1.2,3.0\\n")))
    None
    """
    size = max(len(magic) for magic in (MODEL_FILE_MAGIC, *PICKLE_MAGICS))
    if hasattr(file, "read"):
        position = file.tell()
        file.seek(0)
        head = file.read(size)
        file.seek(position)
    else:
        with open(file, "rb") as opened:
            head = opened.read(size)
    if head.startswith(MODEL_FILE_MAGIC):
        return "model"
    if head.startswith(PICKLE_MAGICS):
        return "pickle"
    return None
