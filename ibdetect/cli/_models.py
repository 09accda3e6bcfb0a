"""The models the commands read: a model file or a trusted pickle, loaded and described (``ibdetect info``)."""

import json
import sys
import warnings
from numbers import Integral, Real

import joblib
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .. import IBDeepDescription, persistence
from ..io import data_format
from .._pipelines import final_step, first_step, leaf_steps
from ._errors import CommandError, first_line
from ._options import format_value
from ._text import counted, echo

# What ibdetect fit saves in a model file's metadata, each shown on a line of its own.
OWN_METADATA = ("label_column", "id_column", "ignore_columns")


def add_model_argument(parser):
    """MODEL and --trust-pickle, for every command that reads a model."""
    parser.add_argument("model", metavar="MODEL", help="a model file written by 'ibdetect fit'")
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="also load a pickle (joblib) file, which runs code stored in it: only for files you trust",
    )


def load_model(path, trust_pickle=False):
    """Load a fitted :class:`~ibdetect.IBDeepDescription` from a model file, or a trusted pickle.

    What the file holds is told by its first bytes, whatever its name
    (:func:`ibdetect.persistence.file_kind`): a model file of
    :mod:`ibdetect.persistence` loads without running code; a pickle (a
    joblib file) runs code stored in it, so it loads only with
    ``trust_pickle``.

    Parameters
    ----------
    path : str or path-like
    trust_pickle : bool, default=False

    Returns
    -------
    model : IBDeepDescription
    file_info : ibdetect.persistence.ModelFileInfo or None
        None for a pickle.

    Raises
    ------
    CommandError
        The file is not a model file, or a pickle without ``trust_pickle``,
        or does not hold a fitted model.
    """
    kind = persistence.file_kind(path)
    # Arguments given the wrong way round (an .npz is a zip archive too, as a
    # model file is): --trust-pickle is no answer.
    swapped = CommandError(f"{path} is a data file, not a model: the model comes first (MODEL DATA)")
    # A data file (ibdetect.io.read_data reads it) given as a model: arguments swapped.
    is_data = data_format(path) is not None
    if kind == "model":
        try:
            return _load_model_file(path)
        except CommandError:
            if is_data:
                raise swapped from None
            raise
    if is_data:
        # kind None or "pickle": a .csv.gz file begins as joblib's compressed pickles do.
        raise swapped
    if trust_pickle:
        return _load_pickle(path), None
    if kind == "pickle":
        raise CommandError(
            f"{path} is a pickle (joblib) file; loading a pickle runs code stored in it, so it loads only with "
            "--trust-pickle: pass it if you trust where the file comes from"
        )
    # Pickles of protocols 0 and 1 have no mark to tell them by.
    raise CommandError(
        f"{path} is not a model file written by 'ibdetect fit'. If it is a pickle (joblib), loading it runs "
        "code stored in it: pass --trust-pickle only if you trust where the file comes from"
    )


def _load_model_file(path):
    # Warnings (such as other versions having saved the file) are one line
    # each on stderr, like errors, rather than Python's two with a source line.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model, file_info = persistence.load(path, with_info=True)
        except ValueError as exc:
            raise CommandError(first_line(exc)) from None
    for warning in caught:
        echo(f"ibdetect: warning: {warning.message}", file=sys.stderr)
    return model, file_info


def _load_pickle(path):
    try:
        model = joblib.load(path)
    except OSError:
        raise
    except (ImportError, AttributeError) as exc:
        # A pickle naming code that is not here: most often a model saved by
        # another version of ibdetect or of its dependencies.
        raise CommandError(
            f"{path} needs code this installation lacks ({first_line(exc)}); "
            "was it saved with other versions of ibdetect or its dependencies?"
        ) from None
    except Exception:
        # Unpickling bytes that are not a pickle fails with about any exception
        # type (KeyError, struct.error, ...), whose message says nothing useful.
        raise CommandError(f"{path} is not a model file") from None
    if not isinstance(final_step(model), IBDeepDescription):
        raise CommandError(f"{path} holds a {type(model).__name__}, not an IBDeepDescription model")
    try:
        check_is_fitted(final_step(model))
    except NotFittedError:
        raise CommandError(f"{path} holds an IBDeepDescription that was never fitted") from None
    return model


def add_info_arguments(parser):
    add_model_argument(parser)


def info(args):
    echo(*describe_model(*load_model(args.model, trust_pickle=args.trust_pickle)))


def describe_model(model, file_info=None):
    """A text report on a fitted model: data, score, threshold, parameters, training.

    Parameters
    ----------
    model : IBDeepDescription or Pipeline
        A fitted model, alone or behind a scaler.
    file_info : ibdetect.persistence.ModelFileInfo, default=None
        What its model file says: the versions that saved it and its label
        column. None for a pickle.

    Returns
    -------
    report : list of str
        Its lines, as read from the model: :func:`~ibdetect.cli._text.echo`
        escapes the control characters that strings from a file may hold.
    """
    detector = final_step(model)
    names = getattr(first_step(model), "feature_names_in_", None)
    before = leaf_steps(model)[:-1]
    if before and not (len(before) == 1 and type(before[0]) in persistence.SCALERS.values()):
        # Columns are prepared: the file's columns may not be the detector's.
        preparation = f"preparation: {', '.join(type(step).__name__ for step in before)}"
        n_columns = first_step(model).n_features_in_
        features = f"{n_columns} columns" + (
            f", encoded as {detector.n_features_in_} features" if n_columns != detector.n_features_in_ else ""
        )
    else:
        preparation = f"scaler: {type(before[0]).__name__ if before else 'none'}"
        features = f"{detector.n_features_in_}"
    lines = [f"estimator: {type(detector).__name__}", preparation]
    if file_info is not None:
        versions = ", ".join(f"{package} {version}" for package, version in file_info.versions.items())
        lines.append(f"saved with: {versions}")
        metadata = file_info.metadata
        if "label_column" in metadata:
            lines.append(f"label column: {metadata['label_column']}")
        if "id_column" in metadata:
            lines.append(f"id column: {metadata['id_column']}")
        if metadata.get("ignore_columns"):
            lines.append(f"columns left out: {', '.join(map(str, metadata['ignore_columns']))}")
        others = {key: value for key, value in metadata.items() if key not in OWN_METADATA}
        if others:
            lines.append(f"metadata: {json.dumps(others, ensure_ascii=False)}")
    lines += [
        f"classes: {', '.join(str(label) for label in detector.classes_)}",
        f"features: {features}" + ("" if names is None else f" ({', '.join(names)})"),
        f"anomaly score: {_score_description(detector)}",
        f"device: {detector.device_}",
        *([f"trained in: {detector.precision_}"] if hasattr(detector, "precision_") else []),
        f"offset: {detector.offset_:.6g}",
        _held_out_line(detector),
        "parameters:",
    ]
    lines += [f"  {name:<20} {format_value(value)}" for name, value in detector.get_params(deep=False).items()]
    return lines + _history_lines(detector.net_.history)


def _held_out_line(detector):
    """How many normal samples the fit held out, which sets how small a p-value can be."""
    if not hasattr(detector, "calibration_scores_"):
        return "held out: none (no p-values, --alpha, --fdr or --check-drift)"
    n = len(detector.calibration_scores_)
    return f"held out: {counted(n, 'normal sample')} (the smallest p-value 1/{n + 1} = {1 / (n + 1):.3g})"


def _score_description(detector):
    """The anomaly score, with the neighbour rank and reference size of a k-NN score."""
    if not hasattr(detector, "n_neighbors_"):
        return detector.anomaly_score_
    return (
        f"{detector.anomaly_score_} (neighbour {detector.n_neighbors_} of "
        f"{len(detector.reference_embeddings_):,} training samples kept as references)"
    )


def _history_lines(history):
    """Number of epochs and the first and last value of each loss in a skorch history.

    A value that is not a real number (an edited file can hold text, null,
    a list or an object anywhere) is left out rather than shown.
    """
    if not len(history):
        return ["epochs: 0"]
    lines = [f"epochs: {len(history)} ({_seconds(history):.1f} s)"]
    first, last = history[0], history[-1]
    # Losses and their parts are the real-valued entries, except the duration.
    keys = [
        key for key, value in last.items()
        if isinstance(key, str) and key != "dur" and _is_real(value) and _is_real(first.get(key))
    ]
    # train_loss, then its parts, then the same for valid_.
    keys.sort(key=lambda key: (key.split("_")[0], not key.endswith("_loss"), key))
    lines += [f"  {key:<20} {first[key]:.6g} -> {last[key]:.6g}" for key in keys]
    return lines


def _seconds(history):
    """The epochs' durations added up, where they are numbers."""
    # An epoch cut short (an interrupted fit) has no duration.
    durations = [row.get("dur") for row in history]
    try:
        return sum(float(dur) for dur in durations if isinstance(dur, Real) and not isinstance(dur, bool))
    except OverflowError:
        # An integer beyond float's range.
        return float("inf")


def _is_real(value):
    """Whether ``value`` is a real number that is no integer (nor a bool), as a loss is."""
    return isinstance(value, Real) and not isinstance(value, Integral)
