"""Model files that are safe to load: no pickle, no code run from the file.

:func:`save` writes a fitted :class:`~ibdetect.IBDeepDescription` as a zip
archive of two members: ``model.json``, with the parameters, the fitted
attributes, the training history and the versions of the libraries that
saved it, and ``tensors.safetensors``, with the network's weights and centres
and the fitted arrays in the safetensors format, which holds numbers only.
:func:`load` rebuilds the network from the parameters, with the builder
``fit`` uses, and loads the weights into it. Nothing in the file is imported
or executed: an encoder given as a class of your own is saved by its name
and loads only when the caller passes that class in ``trusted_encoders``.

A file is checked before it costs memory: the archive must hold these two
members once each, the header deflated or stored and the tensors stored, the
header within a limit far above what a real training history takes and the
tensors at most the file's size, both as declared and as inflated; every field of the header must have the
type save writes; and the network that the parameters describe is built on
torch's "meta" device, which allocates nothing, and compared tensor by
tensor with the file's before it is built for real. Anything else is a
ValueError naming what is wrong.

A pipeline of a scikit-learn scaler (``StandardScaler``, ``MinMaxScaler``
or ``RobustScaler``) and the detector is saved and loaded whole, the scaler's
fitted statistics as numbers. Other steps before the detector, such as
:func:`ibdetect.preprocessing.make_preprocessor`'s, are written with
skops.io (``pip install "ibdetect[tables]"``) in a third member,
``preparation.skops``, and loaded trusting only scikit-learn's estimators,
numpy's arrays and dtypes, Python's containers and
:class:`~ibdetect.preprocessing.TableCells`: a file that holds any other
type is refused before anything is built. Its archive is read within its
own limits (64 MiB inflated, 10,000 members, 2,097,152 numbers).

Pickles (``joblib.dump``) still work and keep everything, callbacks included,
but loading one runs code that the file chooses.
"""

import copy
import json
import re
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import sklearn
import skorch
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch.history import History
from torch import nn

from . import __version__, _streaming
from ._compatibility import EARLIER_PARAMS, earlier_cnn_channels, earlier_hidden_layer_sizes
from ._estimator import FITTED_STATE, IBDeepDescription
from ._fitted import check_state
from ._labels import INLIER
from ._model_file import FORMAT, FORMAT_VERSION, bounded_preparation, file_kind, file_name, read_archive, write_archive
from ._model_state import ARRAY_ATTRIBUTES, HEADER_ATTRIBUTES, decode_state, encode_labels, encode_state
from ._preparation import decode_preparation, encode_preparation
from ._runtime import resolve_device
from ._training import builds_cnn, initialized_net
from .encoders import CNNEncoder, MLPEncoder
from .exceptions import ModelVersionWarning

__all__ = ["ModelFileInfo", "ModelVersionWarning", "file_kind", "labels_storable", "load", "read_info", "save"]

# Encoder classes that load without being named in trusted_encoders.
BUILT_IN_ENCODERS = (MLPEncoder, CNNEncoder)
# The tensors of each hidden layer of a built-in encoder: the weights of
# its linear map or convolution, and its batch norm's running mean, variance
# and count.
TENSORS_PER_LAYER = 4
# The scalers that may stand before the detector in a saved pipeline, by name.
SCALERS = {scaler.__name__: scaler for scaler in (StandardScaler, MinMaxScaler, RobustScaler)}
# The statistics of the scalers that transform reads; the detector takes
# what they make as float32, so they must be within its range.
SCALING_STATISTICS = ("mean_", "center_", "min_", "scale_")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Parameters that only steer training and that no JSON can hold: saved as None.
TRAINING_ONLY = {
    "callbacks": "callbacks",
    "random_state": "a RandomState instance as random_state",
    "accelerator": "an accelerator",
}


class ModelFileInfo(NamedTuple):
    """What a model file says about itself, read without loading the model.

    Attributes
    ----------
    versions : dict
        The version of ibdetect, numpy, scikit-learn, skorch and torch that
        saved the model, by package name.
    metadata : dict
        The ``metadata`` given to :func:`save`.
    """

    versions: dict
    metadata: dict


def save(model, file, *, metadata=None, training_rows=True):
    """Write a fitted detector to a model file that loads without running code.

    Parameters
    ----------
    model : IBDeepDescription or Pipeline
        A fitted detector, or a fitted pipeline that ends in one. A lone
        scaler before it (``StandardScaler``, ``MinMaxScaler`` or
        ``RobustScaler``) is saved as numbers; other steps, such as
        :func:`~ibdetect.preprocessing.make_preprocessor`'s, need skops
        and may hold only the types a model file loads without running
        code (not a ``FunctionTransformer``'s function, for example). The detector's ``encoder`` must be a name (``"auto"``,
        ``"mlp"``, ``"cnn"``) or a class or function defined at module
        level; a module instance cannot be rebuilt and is refused.
        ``callbacks`` and a ``RandomState`` instance as ``random_state``,
        which only steer training, are saved as None with a warning.
    file : str, path-like or binary file object
        Where to write. The name may have any extension; ``.ibdetect`` is
        the convention.
    metadata : dict, default=None
        Information to store with the model, e.g. where its data came from;
        it must be JSON-serialisable, with string keys. :func:`read_info`
        returns it.
    training_rows : bool, default=True
        Whether to keep the rows that ``partial_fit`` trains on from: as
        many training rows as the k-NN reference holds (by default 1,000; images 4,000)
        and up to 5,000 held-out rows, as they were given.
        Without them the loaded model scores the same but cannot train on,
        and with ``anomaly_score="knn"`` cannot :meth:`~ibdetect.IBDeepDescription.explain`
        (the reference's rows go too). The reference rows of
        ``"knn+input"`` and ``"knn+density"`` stay either way: their scores read them.

    Raises
    ------
    ValueError
        A parameter cannot be saved safely, or a fitted attribute is not
        what a model file can hold (it would not load).

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from ibdetect import IBDeepDescription
    >>> from ibdetect.persistence import load, save
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> detector = IBDeepDescription(max_epochs=2, random_state=0).fit(X)
    >>> file = io.BytesIO()
    >>> save(detector, file)
    >>> loaded = load(file)
    >>> bool((loaded.decision_function(X) == detector.decision_function(X)).all())
    True
    """
    scaler, preparation, model, steps = _split_pipeline(model)
    check_is_fitted(model)
    if not training_rows:
        model = _without_training_rows(model)
        if hasattr(model, "reference_inputs_"):
            warnings.warn(
                f"The k-NN reference of anomaly_score={model.anomaly_score_!r} keeps {len(model.reference_inputs_)} "
                "training rows in the file, which its scores read; anomaly_score='knn' keeps none.",
                UserWarning,
                stacklevel=2,
            )
    # What load will check, checked before anything is written: a detector
    # that no file could hold (an older object, or one edited by hand) is
    # refused now rather than written to a file that will not load.
    stored = {attribute.name for attribute in ARRAY_ATTRIBUTES + HEADER_ATTRIBUTES}
    try:
        _check_fitted(model.loss, {name: value for name, value in vars(model).items() if name in stored})
    except ValueError as exc:
        raise ValueError(f"The detector cannot be saved: {exc}; refit it with this version of ibdetect.") from None
    if preparation is not None:
        try:
            preparation = encode_preparation(preparation)
            # What load checks, checked now: no file is written that load refuses.
            decode_preparation(bounded_preparation(preparation), model.n_features_in_)
        except ValueError as exc:
            raise ValueError(f"The pipeline cannot be saved: {exc}") from None
    attributes, shared, tensors = encode_state(model)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "steps": steps,
        "scaler": None if scaler is None else _encode_scaler(scaler),
        "params": _encode_params(model.get_params(deep=False)),
        "attributes": attributes,
        "shared_arrays": shared,
        "history": _plain(model.net_.history),
        "pretrain_history": _plain(getattr(model, "pretrain_history_", None)),
        "metadata": metadata or {},
        "set_output": _output_containers(scaler, model),
    }
    if not isinstance(header["metadata"], dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    other_keys = [key for key in header["metadata"] if not isinstance(key, str)]
    if other_keys:
        # JSON would turn them into text: read_info would give back other keys.
        raise ValueError(f"metadata keys must be strings, as JSON keeps them; got {other_keys[0]!r}")
    write_archive(file, header, tensors, preparation)


def load(file, *, trusted_encoders=(), device="cpu", with_info=False):
    """Read a detector written by :func:`save`; nothing in the file is run.

    The network is rebuilt from the saved parameters and given the saved
    weights; a detector loaded this way scores exactly as the one saved.

    Parameters
    ----------
    file : str, path-like or binary file object
    trusted_encoders : sequence of callables, default=()
        The encoder classes (or functions) of your own that the file may
        name. An encoder the file names by its import path loads only when
        the same class is passed here; nothing is imported from the file.
        The encoders of :mod:`ibdetect.encoders` are always trusted.
    device : str, default="cpu"
        Where the network goes: ``"cpu"``, ``"cuda"``, ``"auto"`` (CUDA when
        available), ... The model's own ``device`` parameter is kept for
        refitting.
    with_info : bool, default=False
        Whether to return the file's :class:`ModelFileInfo` too, as
        :func:`read_info` would, from the one reading of the file.

    Returns
    -------
    model : IBDeepDescription or Pipeline
        The fitted detector, with the training history in ``net_.history``;
        or the pipeline of scaler and detector, when a pipeline was saved.
    info : ModelFileInfo
        Only with ``with_info``: the versions that saved the file and its
        metadata; ``(model, info)`` is returned then.

    Raises
    ------
    ValueError
        The file is not a model file or is damaged, it names an encoder that
        is not in ``trusted_encoders``, or it comes from a newer format.

    Warns
    -----
    ~ibdetect.exceptions.ModelVersionWarning
        The file was saved with other versions of ibdetect, numpy,
        scikit-learn, skorch or torch.

    See Also
    --------
    save : Write a model file.
    read_info : The versions and metadata of a model file.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from ibdetect import IBDeepDescription
    >>> from ibdetect.persistence import load, save
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> file = io.BytesIO()
    >>> save(IBDeepDescription(max_epochs=2, random_state=0).fit(X), file)
    >>> load(file).device_
    'cpu'
    >>> model, info = load(file, with_info=True)
    >>> info.metadata
    {}
    """
    name = file_name(file)
    device = resolve_device(device)
    header, tensors, preparation = read_archive(file)
    _warn_on_other_versions(header, name)
    encoder = _trusted_encoder(header, _trusted_by_path(trusted_encoders), name)
    try:
        model = _with_steps(header, preparation, _rebuild(header, encoder, tensors, device))
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, OverflowError) as exc:
        # A header or tensors edited by hand, or damaged: every value passes
        # the estimator's own validation and the network's shapes, or fails
        # here.
        raise ValueError(f"{name} is not a valid ibdetect model file: {exc}") from None
    return (model, _file_info(header)) if with_info else model


def read_info(file):
    """The versions that saved a model file and the metadata stored with it.

    Parameters
    ----------
    file : str, path-like or binary file object

    Returns
    -------
    info : ModelFileInfo

    Raises
    ------
    ValueError
        The file is not a model file.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from ibdetect import IBDeepDescription, __version__
    >>> from ibdetect.persistence import read_info, save
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> file = io.BytesIO()
    >>> save(IBDeepDescription(max_epochs=2).fit(X), file, metadata={"source": "sensors.csv"})
    >>> info = read_info(file)
    >>> info.metadata
    {'source': 'sensors.csv'}
    >>> info.versions["ibdetect"] == __version__
    True
    """
    header, _, _ = read_archive(file, with_tensors=False)
    return _file_info(header)


def _file_info(header):
    return ModelFileInfo(versions=dict(header["versions"]), metadata=dict(header["metadata"]))


# -- writing ------------------------------------------------------------------


def _versions():
    return {
        "ibdetect": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "torch": torch.__version__,
    }


def _without_training_rows(detector):
    """A shallow copy of ``detector`` without the rows of ``partial_fit``, nor of ``explain`` unless its scores read them."""
    detector = copy.copy(detector)
    for attribute in _streaming.FITTED_STATE:
        if hasattr(detector, attribute.name):
            delattr(detector, attribute.name)
    if getattr(detector, "anomaly_score_", None) == "knn":
        del detector.reference_inputs_
    return detector


def _split_pipeline(model):
    """The lone scaler or the other steps before the detector (each or both None), the detector, and the step names."""
    if isinstance(model, IBDeepDescription):
        return None, None, model, None
    if isinstance(model, Pipeline) and len(model.steps) >= 2 and isinstance(model.steps[-1][1], IBDeepDescription):
        names = [name for name, _ in model.steps]
        before = model[:-1]
        for _, step in before.steps:
            check_is_fitted(step)
        first = before.steps[0][1]
        if len(before.steps) == 1 and type(first) is SCALERS.get(type(first).__name__):
            return first, None, model.steps[-1][1], names
        return None, before, model.steps[-1][1], names
    raise TypeError(
        f"save writes an IBDeepDescription, or a Pipeline that ends in one; got {model!r}. Save other "
        "models with joblib (a pickle)."
    )


def _encode_scaler(scaler):
    # The fitted statistics are a few numbers per feature: JSON holds them.
    attributes = {}
    for name, value in vars(scaler).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if name == "feature_names_in_":
            attributes[name] = {"names": [str(item) for item in value]}
        else:
            attributes[name] = _encode_value(name, value)
    params = {name: _encode_value(name, value) for name, value in scaler.get_params().items()}
    return {"class": type(scaler).__name__, "params": params, "attributes": attributes}


def _encode_params(params):
    encoded = {"encoder": _encode_encoder(params.pop("encoder"))}
    for name, value in params.items():
        try:
            encoded[name] = _encode_value(name, value)
        except ValueError:
            if name not in TRAINING_ONLY:
                raise
            warnings.warn(
                f"{TRAINING_ONLY[name]} cannot be saved in a model file and is saved as None; "
                f"the loaded model scores the same, but set {name} again before refitting it.",
                UserWarning,
                stacklevel=3,
            )
            encoded[name] = None
    return encoded


def _encode_encoder(encoder):
    if isinstance(encoder, str):
        return encoder
    if isinstance(encoder, nn.Module):
        raise ValueError(
            "encoder is a module instance, which a model file cannot rebuild; pass its class "
            "(encoder=MyEncoder) to fit, or save with joblib (a pickle) instead."
        )
    path = _import_path(encoder)
    if "<locals>" in path:
        raise ValueError(
            f"encoder {path} is defined inside a function; define it at module level so that "
            "a model file can name it."
        )
    return {"callable": path}


def _import_path(obj):
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _encode_value(name, value):
    """``value`` in JSON, with tuples and arrays marked so that they come back as such."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (tuple, list)):
        items = [_encode_value(name, item) for item in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"array": value.tolist(), "dtype": value.dtype.str}
    raise ValueError(f"{name}={value!r} cannot be saved in a model file; use joblib (a pickle) for it.")


def _plain(history):
    """A skorch history as plain JSON values (numpy and torch scalars become numbers), or None."""
    if history is None:
        return None
    return json.loads(json.dumps(list(history), default=_plain_scalar))


def _plain_scalar(value):
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        return value.item()
    raise TypeError(f"the training history holds a {type(value).__name__}, which a model file cannot hold")


# -- reading ------------------------------------------------------------------


def _warn_on_other_versions(header, name):
    saved = header["versions"]
    differ = [
        f"{package} {saved.get(package, 'unknown')} (here {version})"
        for package, version in _versions().items()
        if _release(package, saved.get(package)) != _release(package, version)
    ]
    if differ:
        warnings.warn(
            f"{name} was saved with other versions: {', '.join(differ)}. It loads, but may "
            "score differently; refit it to be sure.",
            ModelVersionWarning,
            stacklevel=3,
        )


def _release(package, version):
    """What of ``package``'s ``version`` a model file's scores may depend on.

    A CPU and a CUDA build of one torch release differ only after "+", and
    the dependencies' patch releases are meant to fix bugs, not change
    results: counting them, every routine upgrade would warn. ibdetect's own
    version counts whole.
    """
    release = str(version).split("+")[0]
    # A pre-release or a nightly build ("2.4.0rc1", "2.13.0.dev20250101")
    # counts whole: it may change results as no release does.
    if package == "ibdetect" or not re.fullmatch(r"\d+\.\d+(\.\d+)?", release):
        return release
    return ".".join(release.split(".")[:2])


def _trusted_by_path(trusted_encoders):
    encoders = {}
    for encoder in (*BUILT_IN_ENCODERS, *trusted_encoders):
        if not callable(encoder):
            raise TypeError(f"trusted_encoders must hold classes or functions, got {encoder!r}.")
        encoders[_import_path(encoder)] = encoder
    return encoders


def _trusted_encoder(header, encoders, name):
    """The encoder parameter of the file: a name, or the trusted callable it names."""
    encoder = header["params"].get("encoder", "auto")
    if not isinstance(encoder, dict):
        return encoder
    path = str(encoder.get("callable"))
    if path not in encoders:
        raise ValueError(
            f"{name} was fitted with the encoder {path}, which loads only when you trust it: "
            f"pass that class in trusted_encoders, e.g. load(..., trusted_encoders=[{path.split(':')[-1]}])."
        )
    return encoders[path]


def _decode_value(value):
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.keys() == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_decode_value(item) for item in value["tuple"])
    if value.keys() == {"array", "dtype"} and isinstance(value["dtype"], str) and np.dtype(value["dtype"]).kind in "biuf":
        return np.asarray(value["array"], dtype=value["dtype"])
    raise ValueError("it is not a value save writes")


def _decode_values(values, where):
    """The values of a JSON object as save wrote them; a ValueError names the first that is not one."""
    decoded = {}
    for name, value in values.items():
        try:
            decoded[name] = _decode_value(value)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            # numpy's words for an unknown dtype, a number out of its range
            # or a ragged array.
            raise ValueError(f"{where}{name} cannot be read: {exc}") from None
    return decoded


def _rebuild(header, encoder, tensors, device):
    params = _decode_values({name: value for name, value in header["params"].items() if name != "encoder"}, "")
    if params.get("callbacks"):
        raise ValueError("a model file holds no callbacks")
    if header["format_version"] < 3:
        # Refitted, an older model trains as it did.
        params = {**EARLIER_PARAMS, **params}
    model = IBDeepDescription(**{**params, "encoder": encoder})
    state = decode_state(header, tensors, model.n_neighbors)
    _check_fitted(model.loss, state)
    vars(model).update(state)
    channels = earlier_cnn_channels(header["format_version"]) if builds_cnn(model) else None
    hidden = earlier_hidden_layer_sizes(model.hidden_layer_sizes, state["transformations_"], channels)
    model.set_params(hidden_layer_sizes=hidden)
    _check_network_tensors(model, tensors)
    net = initialized_net(model, device)
    net.module_.load_state_dict(_with_prefix(tensors, "module."))
    net.criterion_.load_state_dict(_with_prefix(tensors, "criterion."))
    net.history = History(header["history"])
    model.net_ = net
    if header["pretrain_history"]:
        model.pretrain_history_ = History(header["pretrain_history"])
    return model


def _check_fitted(loss, state):
    """Raise a ValueError naming the first fitted value of ``state`` that ``fit`` would not have set.

    The one check of what a file holds, made by ``save`` before it writes
    and by ``load`` before it builds anything: every attribute as
    ``FITTED_STATE`` declares it, and the labels as ``loss`` makes them.
    """
    check_state(FITTED_STATE, state)
    _check_labels(loss, state)


def _check_labels(loss, state):
    """Raise a ValueError unless ``classes_`` and ``normal_labels_`` agree as ``fit`` sets them.

    Without labels, or with ``loss="svdd"``, the one class is scikit-learn's
    inlier label, and ``normal_labels_`` holds the labels of the normal
    samples (None without labels); otherwise the two are the same.
    """
    classes, normal = state["classes_"], state["normal_labels_"]
    if loss == "svdd" or normal is None:
        if classes.tolist() != [INLIER]:
            raise ValueError(f"classes_ must be [{INLIER}] for a detector fitted {'without labels' if normal is None else 'with loss=svdd'}")
    elif normal.dtype != classes.dtype or not np.array_equal(normal, classes):
        raise ValueError("normal_labels_ must be classes_ for a detector fitted with labels and a loss other than svdd")


def _check_network_tensors(model, tensors):
    """Raise a ValueError naming the first tensor of the file that the parameters would not build.

    The net is built on torch's "meta" device, which allocates nothing, so
    that sizes the header declares (``n_features_in_``, the layers' widths)
    are checked against the file's own tensors before any memory is spent
    on them. An encoder of the caller's own that cannot be built there
    is built for real.
    """
    hidden = model.hidden_layer_sizes
    # Only the encoders named by a string read it: a callable is called
    # without it, and may have a layer of any number of tensors.
    if isinstance(model.encoder, str) and hidden is not None and np.ndim(hidden) == 1 and TENSORS_PER_LAYER * len(hidden) > len(_with_prefix(tensors, "module.")):
        # A million layers would cost gigabytes to build, even on "meta".
        raise ValueError(
            f"hidden_layer_sizes names {len(hidden)} layers, of {TENSORS_PER_LAYER} tensors each, more than the file has"
        )
    try:
        net = initialized_net(model, "meta")
    except (RuntimeError, NotImplementedError):
        if not callable(model.encoder):
            raise
        # An encoder of the caller's own that cannot be built on "meta" (it
        # reads a value of its weights, say) is trusted: its weights are
        # checked as they load. It is built for real, on rows of
        # n_features_in_ values, so that size must be one the file bears out.
        _check_feature_count(model, tensors)
        return
    built = {f"module.{key}": value for key, value in net.module_.state_dict().items()}
    built |= {f"criterion.{key}": value for key, value in net.criterion_.state_dict().items()}
    saved = {key: value for key, value in tensors.items() if not key.startswith("attributes.")}
    for key in sorted(built.keys() | saved.keys()):
        if key not in saved:
            raise ValueError(f"tensor {key} is missing")
        if key not in built:
            raise ValueError(f"tensor {key} is not one the parameters build")
        if saved[key].shape != built[key].shape or saved[key].dtype != built[key].dtype:
            raise ValueError(
                f"tensor {key} is {_tensor_text(saved[key])}, but the parameters build {_tensor_text(built[key])}"
            )


def _check_feature_count(model, tensors):
    """Raise a ValueError unless the file bears out ``n_features_in_``, for a net built without checks.

    Feature names and the reference inputs have one entry per feature, and
    check_state has matched them with it; without them, the encoder's weights
    must be at least as many as the features, as those of a first layer
    reading every feature are.
    """
    if getattr(model, "feature_names_in_", None) is not None or getattr(model, "reference_inputs_", None) is not None:
        return
    weights = sum(tensor.numel() for tensor in _with_prefix(tensors, "module.encoder.").values())
    if model.n_features_in_ > weights:
        raise ValueError(
            f"n_features_in_ is {model.n_features_in_}, more than the {weights} weights of the encoder, which "
            "cannot be built on torch's meta device to check it"
        )


def _tensor_text(tensor):
    return f"{str(tensor.dtype).removeprefix('torch.')} of shape {tuple(tensor.shape)}"


def _with_steps(header, preparation, model):
    """``model``, or the pipeline of the saved steps and ``model`` when steps were saved."""
    containers = header.get("set_output", {})
    _set_output(model, containers.get("detector"))
    if preparation is not None:
        steps = decode_preparation(preparation, model.n_features_in_)
        if [name for name, _ in steps.steps] != header["steps"][:-1]:
            raise ValueError(f"steps names {header['steps']}, but the preparation holds {[name for name, _ in steps.steps]}")
        return Pipeline([*steps.steps, (header["steps"][-1], model)])
    if header["scaler"] is None:
        return model
    pipeline = _with_scaler(header, model)
    _set_output(pipeline[0], containers.get("scaler"))
    return pipeline


def _output_containers(scaler, model):
    """What ``set_output`` chose for the scaler's and the detector's ``transform``, where it chose.

    A preparation written by skops keeps its steps' choices itself. Without
    the scaler's, a pipeline set to give pandas frames would hand its
    detector, fitted on named columns, plain arrays once loaded, and
    scikit-learn would warn on every call.
    """
    chosen = {}
    for step, estimator in (("scaler", scaler), ("detector", model)):
        container = getattr(estimator, "_sklearn_output_config", {}).get("transform")
        if container is not None and container != "default":
            chosen[step] = container
    return chosen


def _set_output(estimator, container):
    if container is not None:
        estimator.set_output(transform=container)


def _with_scaler(header, model):
    """The pipeline of the saved scaler and ``model``."""
    saved = header["scaler"]
    if saved["class"] not in SCALERS:
        raise ValueError(f"unknown scaler {saved['class']!r}")
    scaler = SCALERS[saved["class"]](**_decode_values(saved["params"], "scaler parameter "))
    scaler._validate_params()
    for name, value in saved["attributes"].items():
        if not name.endswith("_") or name.startswith("_"):
            raise ValueError(f"{name!r} is not a fitted attribute")
        if isinstance(value, dict) and value.keys() == {"names"} and isinstance(value["names"], list):
            value = np.asarray([str(item) for item in value["names"]], dtype=object)
        else:
            value = _decode_values({name: value}, "scaler attribute ")[name]
        setattr(scaler, name, value)
    _check_scaler(scaler, model.n_features_in_)
    scaler_name, detector_name = header["steps"]
    return Pipeline([(scaler_name, scaler), (detector_name, model)])


def _check_scaler(scaler, n_features):
    """Raise a ValueError unless ``scaler`` turns rows of ``n_features`` into as many finite values."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = scaler.transform(np.zeros((1, n_features)))
    except Exception as exc:
        # Statistics of the wrong shape or type fail deep in scikit-learn, each its own way.
        raise ValueError(f"the scaler's statistics do not scale {n_features} features: {exc}") from None
    if getattr(scaler, "n_features_in_", None) != n_features or np.shape(rows) != (1, n_features):
        raise ValueError(f"the scaler was fitted on other than the detector's {n_features} features")
    if not np.all(np.isfinite(rows)):
        raise ValueError("the scaler's statistics are not finite")
    for name, value in vars(scaler).items():
        if not name.endswith("_") or name.startswith("_") or name == "feature_names_in_":
            continue
        values = np.asarray(value)
        if values.dtype.kind not in "biuf" or not np.all(np.isfinite(values)):
            raise ValueError(f"the scaler's {name} must hold finite numbers")
        if name in SCALING_STATISTICS and np.any(np.abs(values) > FLOAT32_MAX):
            # The scaled rows go to the detector as float32.
            raise ValueError(f"the scaler's {name} must hold numbers within float32's range")


def _with_prefix(tensors, prefix):
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def labels_storable(labels):
    """Whether a model file can hold ``labels`` as a detector's classes: numbers or strings.

    A check to make before fitting, since :func:`save` refuses other labels
    (bytes, dates) only once the detector is fitted.

    Parameters
    ----------
    labels : array-like

    Returns
    -------
    storable : bool
    """
    labels = np.asarray(labels)
    try:
        encode_labels(labels.ravel(), "labels")
    except ValueError:
        return False
    return labels.dtype.kind in "biufUO"
