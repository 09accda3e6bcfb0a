"""The ``ibdetect`` command line: fit a detector on a data file, score files with it.

``ibdetect fit DATA --output MODEL`` trains :class:`~ibdetect.IBDeepDescription`
on a CSV, ``.npy`` or ``.npz`` file and saves it with joblib. ``ibdetect score``
writes each row's decision function, -1/+1 prediction and nearest known class to
a CSV, ``ibdetect info`` describes a saved model and ``ibdetect demo`` runs the
digits demo. Every estimator parameter that a shell can express is an option of
``fit``, derived from the estimator's ``_parameter_constraints`` and documented
from its docstring, so a new parameter needs no change here.

Failures the user can fix (a missing or malformed file, a bad parameter value,
data the estimator rejects) end the command with one line on stderr and a
non-zero exit status; anything else is a bug and keeps its traceback.

Model files are pickles: loading one runs code stored in it. Only load model
files you trust.
"""

import argparse
import csv
import inspect
import sys
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Callable, NamedTuple

import joblib
import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import ProgressBar

from . import __version__, demo
from .estimator import IBDeepDescription

# The command line is the interface; these functions serve it and the tests.
__all__ = ["main"]

PROG = "ibdetect"
SECURITY_NOTE = (
    "Model files are pickles: loading one runs code stored in it. Only load model "
    "files you trust."
)
# Estimator parameters that fit sets from its own flags rather than as options.
SET_BY_FLAGS = frozenset({"verbose"})
SCORE_COLUMNS = ("decision_function", "prediction", "nearest_class")


class CommandError(Exception):
    """A failure the user can fix, reported as one line on stderr."""

    exit_status = 1


class UsageError(CommandError):
    """A command line that does not parse."""

    exit_status = 2


# -- estimator parameters as options -----------------------------------------


class _Kind(NamedTuple):
    """A kind of value an option takes: its name in the help and how to read it.

    ``parse`` raises ``ValueError`` when the text is not of this kind.
    """

    metavar: str
    parse: Callable[[str], object]


def _parse_none(text):
    if text.lower() != "none":
        raise ValueError(text)
    return None


def _parse_bool(text):
    try:
        return {"true": True, "false": False}[text.lower()]
    except KeyError:
        raise ValueError(text) from None


def _parse_number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_numbers(text):
    return tuple(_parse_number(item) for item in text.split(","))


def _choice(options):
    options = sorted(options)

    def parse(text):
        if text not in options:
            raise ValueError(text)
        return text

    return _Kind("|".join(options), parse)


NONE = _Kind("none", _parse_none)
INT = _Kind("INT", int)
FLOAT = _Kind("FLOAT", float)
BOOL = _Kind("true|false", _parse_bool)
NUMBERS = _Kind("N[,N...]", _parse_numbers)
TEXT = _Kind("TEXT", str)

# scikit-learn's named constraints, and the types used as constraints, that a
# shell can express. Any other constraint (callable, list, ...) stands for
# Python objects and gives no kind.
_NAMED_KINDS = {"array-like": [NUMBERS], "boolean": [BOOL], "random_state": [INT, NONE], "verbose": [INT]}
_TYPE_KINDS = {bool: BOOL, int: INT, Integral: INT, float: FLOAT, Real: FLOAT, str: TEXT}


def _constraint_kinds(constraint):
    if constraint is None:
        return [NONE]
    if isinstance(constraint, StrOptions):
        return [_choice(constraint.options)]
    if isinstance(constraint, Interval):
        return [INT if issubclass(constraint.type, Integral) else FLOAT]
    if isinstance(constraint, str):
        return _NAMED_KINDS.get(constraint, [])
    if isinstance(constraint, type) and constraint in _TYPE_KINDS:
        return [_TYPE_KINDS[constraint]]
    return []


def _option_kinds(constraints):
    """The kinds of text a parameter with these constraints takes, in their order."""
    kinds = []
    for constraint in constraints:
        kinds += [kind for kind in _constraint_kinds(constraint) if kind not in kinds]
    return kinds


def _option_type(kinds):
    """An argparse ``type`` that reads an option's text as the first kind it fits."""

    def parse(text):
        for kind in kinds:
            try:
                return kind.parse(text)
            except ValueError:
                continue
        raise argparse.ArgumentTypeError(f"expected {_metavar(kinds)}, got {text!r}")

    return parse


def _metavar(kinds):
    return "|".join(kind.metavar for kind in kinds)


class _StoreParam(argparse.Action):
    """Collect estimator options in ``namespace.params``, keyed by parameter name."""

    def __call__(self, parser, namespace, values, option_string=None):
        # A new dict each time: the default one is shared by every parse.
        namespace.params = {**namespace.params, self.dest: values}


def _add_estimator_options(parser, estimator_class):
    """Add an option for each parameter of ``estimator_class`` a shell can express.

    The value of ``--some-name`` goes to ``args.params["some_name"]``; parameters
    left unset keep the estimator's default. Parameters whose constraints only
    allow Python objects (or None) get no option.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    estimator_class : type
        A scikit-learn estimator with ``_parameter_constraints``.
    """
    parser.set_defaults(params={})
    group = parser.add_argument_group(
        "estimator options", f"Parameters of {estimator_class.__name__}; unset ones keep their default."
    )
    docs = _parameter_docs(estimator_class)
    for name, default in estimator_class().get_params(deep=False).items():
        kinds = _option_kinds(estimator_class._parameter_constraints.get(name, []))
        if name in SET_BY_FLAGS or kinds in ([], [NONE]):
            continue
        description = f"{docs.get(name, '')} (default: {_format_value(default)})".strip()
        group.add_argument(
            "--" + name.replace("_", "-"),
            action=_StoreParam,
            dest=name,
            type=_option_type(kinds),
            metavar=_metavar(kinds),
            default=argparse.SUPPRESS,
            # argparse expands % in help text.
            help=description.replace("%", "%%"),
        )


def _parameter_docs(estimator_class):
    """Each parameter's description in the numpydoc Parameters section of the class docstring.

    Only a description's first paragraph is kept: later ones are for Python
    users (e.g. passing objects), which an option cannot do.
    """
    lines = inspect.cleandoc(estimator_class.__doc__ or "").splitlines()
    docs, name, section = {}, None, None
    for line, next_line in zip(lines, lines[1:] + [""]):
        if next_line and set(next_line) == {"-"}:
            section = line.strip()
        elif section != "Parameters":
            continue
        elif not line.strip():
            name = None
        elif set(line) == {"-"}:
            continue
        elif not line.startswith(" "):
            name = line.split(" : ")[0].strip()
            docs[name] = ""
        elif name is not None:
            docs[name] += " " + line.strip()
    return {name: text.strip().replace("``", "") for name, text in docs.items()}


def _format_value(value):
    """A parameter value as the command line writes it; an object by its class name."""
    if value is None:
        return "none"
    if isinstance(value, (str, Real)):
        return str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_format_value(item) for item in value)
    return getattr(value, "__name__", type(value).__name__)


# -- data files -----------------------------------------------------------------


@dataclass
class Data:
    """Samples read from a data file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or None
        Labels as ``fit`` takes them, if the file has them and they were asked for.
    feature_names : list of str or None
        Column names, for a CSV file.
    input_shape : tuple of int or None
        Shape of one sample when the file holds images rather than rows.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    feature_names: list | None = None
    input_shape: tuple | None = None


def read_data(path, label_column=None, with_labels=True):
    """Read samples, and their labels, from a ``.csv``, ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
    label_column : str, default=None
        The CSV column or ``.npz`` array holding the labels. A ``.npz`` file's
        array ``y`` is used when it is None.
    with_labels : bool, default=True
        Whether to read labels. If False, a CSV's label column is dropped when
        present and ``Data.y`` is None.

    Returns
    -------
    data : Data

    Raises
    ------
    CommandError
        The file is not in a known format, is malformed or lacks what is asked for.
    """
    suffix = Path(path).suffix.lower()
    readers = {".csv": _read_csv, ".npy": _read_npy, ".npz": _read_npz}
    if suffix not in readers:
        raise CommandError(
            f"{path}: unknown data format {suffix or '(no extension)'!r}; use .csv, .npy or .npz"
        )
    return readers[suffix](path, label_column, with_labels)


def _read_csv(path, label_column, with_labels):
    rows = _csv_rows(path)
    _, header = next(rows, (None, None))
    if header is None:
        raise CommandError(f"{path} is empty; expected a header row of column names")
    header = [name.strip() for name in header]
    label_index = _label_index(header, label_column, with_labels, path)
    feature_names = [name for i, name in enumerate(header) if i != label_index]
    features, labels = [], []
    for line, row in rows:
        where = f"{path}, line {line}"
        if len(row) != len(header):
            # A quote left open swallows the lines after it into one field.
            hint = " (a quote left open?)" if any("\n" in field for field in row) else ""
            raise CommandError(f"{where}: {len(row)} field(s), but the header has {len(header)}{hint}")
        cells = [cell for i, cell in enumerate(row) if i != label_index]
        features.append(_floats(cells, feature_names, where))
        if label_index is not None:
            labels.append(_label_text(row[label_index], where))
    X = np.array(features, dtype=np.float64).reshape(len(features), len(feature_names))
    y = _as_labels(labels) if with_labels and label_index is not None else None
    return Data(X, y, feature_names)


def _csv_rows(path):
    """Line number (where it starts) and fields of each non-blank row of a CSV file."""
    # utf-8-sig drops the byte order mark that some spreadsheets write.
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        try:
            start = 1
            for row in reader:
                if row:
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise CommandError(f"{path}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not a UTF-8 text file") from None


def _label_index(header, label_column, with_labels, path):
    """Position of the label column in the header, or None when there is none to drop."""
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        names = ", ".join(map(repr, duplicates))
        raise CommandError(f"{path}: column name(s) {names} appear more than once in the header")
    if label_column is None or (label_column not in header and not with_labels):
        return None
    if label_column not in header:
        raise CommandError(f"{path} has no column {label_column!r} (columns: {', '.join(header)})")
    return header.index(label_column)


def _floats(cells, names, where):
    values = []
    for name, cell in zip(names, cells):
        try:
            values.append(float(cell))
        except ValueError:
            raise CommandError(
                f"{where}: column {name!r} holds {cell!r}, not a number (name a label column "
                "with --label-column)"
            ) from None
    return values


def _label_text(cell, where):
    label = cell.strip()
    if not label:
        raise CommandError(f"{where}: the label is empty")
    return label


def _as_labels(texts):
    """Labels as ``fit`` takes them: ints when all texts are whole numbers, else strings.

    Whole numbers written as floats (``"-1.0"``, as pandas writes an integer
    column that has a gap) are ints too, so that ``-1.0`` still marks a known
    anomaly. Among strings, ``fit`` reads ``"-1"`` as that marker.
    """
    try:
        numbers = np.array([float(text) for text in texts])
    except ValueError:
        return np.array(texts, dtype=object)
    if np.all(np.isfinite(numbers) & (numbers == np.round(numbers))):
        return numbers.astype(np.int64)
    return np.array(texts, dtype=object)


def _read_npy(path, label_column, with_labels):
    array = _load_numpy(path)
    if not isinstance(array, np.ndarray):
        array.close()
        raise CommandError(f"{path} is an .npz archive, not a single .npy array")
    if with_labels and label_column is not None:
        raise CommandError(
            f"{path}: an .npy file holds no labels; put features and labels in a .csv or .npz file"
        )
    return _samples(array, path)


def _read_npz(path, label_column, with_labels):
    archive = _load_numpy(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CommandError(f"{path} holds a single array, not an .npz archive")
    with archive, _numpy_errors(path):
        if "X" not in archive.files:
            raise CommandError(f"{path} has no array 'X' (arrays: {', '.join(archive.files)})")
        data = _samples(archive["X"], path)
        label_key = label_column or "y"
        if with_labels and label_key in archive.files:
            data.y = archive[label_key]
            if data.y.dtype.kind == "U":
                data.y = _as_labels(data.y.tolist())
        elif with_labels and label_column is not None:
            raise CommandError(f"{path} has no array {label_column!r} (arrays: {', '.join(archive.files)})")
    return data


def _load_numpy(path):
    # No pickles: an array of Python objects fails here instead of running code.
    with _numpy_errors(path):
        return np.load(path, allow_pickle=False)


@contextmanager
def _numpy_errors(path):
    """Report a file numpy cannot read (or an archive member it cannot inflate) as a CommandError."""
    try:
        yield
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CommandError(f"cannot read {path}: {_first_line(exc)}") from None


def _samples(X, path):
    """Data with one row per sample; an array of images is flattened to rows.

    A 2-D sample is a one-channel image, so its ``input_shape`` gets a channel
    axis: ``(1, height, width)`` is what the CNN encoder takes.
    """
    if X.ndim < 2:
        raise CommandError(f"{path}: expected one sample per row, got a {X.ndim}-D array")
    if X.ndim == 2:
        return Data(X)
    sample_shape = X.shape[1:]
    input_shape = (1, *sample_shape) if len(sample_shape) == 2 else sample_shape
    return Data(X.reshape(len(X), -1), input_shape=input_shape)


# -- models -------------------------------------------------------------------


def load_model(path):
    """Load a fitted :class:`~ibdetect.IBDeepDescription` saved with joblib.

    Loading runs code stored in the file: only load files you trust.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model : IBDeepDescription

    Raises
    ------
    CommandError
        The file does not unpickle, or holds something other than a fitted model.
    """
    try:
        model = joblib.load(path)
    except OSError:
        raise
    except (ImportError, AttributeError) as exc:
        # A pickle naming code that is not here: most often a model saved by
        # another version of ibdetect or of its dependencies.
        raise CommandError(
            f"{path} needs code this installation lacks ({_first_line(exc)}); "
            "was it saved with other versions of ibdetect or its dependencies?"
        ) from None
    except Exception:
        # Unpickling bytes that are not a pickle fails with about any exception
        # type (KeyError, struct.error, ...), whose message says nothing useful.
        raise CommandError(f"{path} is not a model file") from None
    if not isinstance(model, IBDeepDescription):
        raise CommandError(f"{path} holds a {type(model).__name__}, not an IBDeepDescription model")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise CommandError(f"{path} holds an IBDeepDescription that was never fitted") from None
    return model


@contextmanager
def _estimator_errors(context):
    """Report the estimator's rejection of parameters or data as a CommandError."""
    try:
        yield
    except (ValueError, FloatingPointError) as exc:
        raise CommandError(f"{context}: {_first_line(exc)}") from None


def _first_line(exc):
    # scikit-learn appends lines of advice (e.g. on imputing NaN) that do not
    # apply here; the first line says what is wrong.
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _model_columns(model, data, path):
    """The data's features in the model's column order, matched by name when both have names."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or data.feature_names is None:
        # Only the number of columns can be checked, which the estimator does.
        return data.X
    names = list(names)
    missing = [name for name in names if name not in data.feature_names]
    unexpected = [name for name in data.feature_names if name not in names]
    if missing or unexpected:
        problems = [
            f"{what} {', '.join(columns)}"
            for what, columns in [("missing", missing), ("unexpected", unexpected)]
            if columns
        ]
        hint = " (name a label column with --label-column)" if unexpected else ""
        raise CommandError(f"{path} does not have the model's feature columns: {'; '.join(problems)}{hint}")
    return data.X[:, [data.feature_names.index(name) for name in names]]


@contextmanager
def _columns_matched():
    # The columns were matched by name, or the data has no names: scikit-learn
    # would warn that the plain array passed on has no feature names.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        yield


# -- commands -----------------------------------------------------------------


def _fit(args):
    # Checked before training, so that a typo in the path costs no training time.
    folder = Path(args.output).parent
    if not folder.is_dir():
        raise CommandError(f"{args.output}: there is no folder {str(folder)!r}")
    data = read_data(args.data, args.label_column)
    params = dict(args.params)
    if data.input_shape is not None:
        params.setdefault("input_shape", data.input_shape)
    if args.verbose:
        params.update(verbose=1, callbacks=[ProgressBar(detect_notebook=False)])
    model = IBDeepDescription(**params)
    with _estimator_errors(f"cannot fit a model on {args.data}"):
        model.fit(data.X, data.y)
    if data.feature_names is not None:
        # What fit records from a DataFrame's columns: the model then checks
        # column names whether it is used here or from Python.
        model.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    joblib.dump(model, args.output)
    print(
        f"Saved the model to {args.output} (classes: {len(model.classes_)}, "
        f"features: {model.n_features_in_}, epochs: {len(model.net_.history)})."
    )


def _score(args):
    model = load_model(args.model)
    data = read_data(args.data, args.label_column, with_labels=False)
    X = _model_columns(model, data, args.data)
    with _estimator_errors(f"cannot score {args.data}"), _columns_matched():
        scores = model.decision_function(X)
        classes = model.predict_class(X)
    # predict's rule, applied to the scores at hand rather than by another pass
    # of the network: negative decision function means anomaly.
    predictions = np.where(scores < 0, -1, 1)
    with open(args.output, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(SCORE_COLUMNS)
        # Python floats are written with all the digits that tell them apart.
        writer.writerows(zip(scores.tolist(), predictions.tolist(), classes.tolist()))
    n_anomalies = (predictions == -1).sum()
    print(f"Wrote the scores of {len(scores)} rows to {args.output} (anomalies: {n_anomalies}).")


def _info(args):
    print(describe_model(load_model(args.model)))


def describe_model(model):
    """A text report on a fitted model: data, threshold, parameters, training.

    Parameters
    ----------
    model : IBDeepDescription
        A fitted model.

    Returns
    -------
    report : str
    """
    names = getattr(model, "feature_names_in_", None)
    lines = [
        f"estimator: {type(model).__name__}",
        f"classes: {', '.join(str(label) for label in model.classes_)}",
        f"features: {model.n_features_in_}" + ("" if names is None else f" ({', '.join(names)})"),
        f"device: {model.device_}",
        f"offset: {model.offset_:.6g}",
        "parameters:",
    ]
    lines += [f"  {name:<20} {_format_value(value)}" for name, value in model.get_params(deep=False).items()]
    return "\n".join(lines + _history_lines(model.net_.history))


def _history_lines(history):
    """Number of epochs and the first and last value of each loss in a skorch history."""
    lines = [f"epochs: {len(history)} ({sum(row['dur'] for row in history):.1f} s)"]
    first, last = history[0], history[-1]
    # Losses and their parts are the real-valued entries, except the duration.
    keys = [
        key for key, value in last.items()
        if key != "dur" and isinstance(value, Real) and not isinstance(value, Integral) and key in first
    ]
    # train_loss, then its parts, then the same for valid_.
    keys.sort(key=lambda key: (key.split("_")[0], not key.endswith("_loss"), key))
    lines += [f"  {key:<20} {first[key]:.6g} -> {last[key]:.6g}" for key in keys]
    return lines


# -- the parser -----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises a one-line UsageError instead of printing usage."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser():
    """The ``ibdetect`` argument parser with its ``fit``, ``score``, ``info`` and ``demo`` commands.

    Returns
    -------
    parser : argparse.ArgumentParser
        ``parse_args`` gives a namespace whose ``run`` runs the command with it.
    """
    parser = _Parser(
        prog=PROG,
        description="Anomaly detection with IBDeepDescription from the command line.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options. {SECURITY_NOTE}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    _add_fit(commands)
    _add_score(commands)
    _add_info(commands)
    demo_parser = _add_command(commands, _demo, "demo", "run the digits demo", demo.DESCRIPTION, epilog=None)
    demo.add_arguments(demo_parser)
    return parser


def _add_command(commands, run, name, summary, description, epilog=SECURITY_NOTE):
    """Add a command whose parsed arguments go to ``run``; its help ends with ``epilog``."""
    parser = commands.add_parser(name, help=summary, description=description, epilog=epilog)
    parser.set_defaults(run=run)
    return parser


def _demo(args):
    with _estimator_errors("demo"):
        demo.run_from_args(args)


def _add_fit(commands):
    parser = _add_command(
        commands,
        _fit,
        "fit",
        "train a model on a data file and save it",
        "Train an IBDeepDescription on DATA and save it to MODEL with joblib. DATA is a CSV "
        "file with a header row (every column but the label column is a numeric feature), "
        "an .npy array of features, or an .npz archive with features under X (images are "
        "flattened and set input_shape) and optional labels under y. Labels name the known "
        "normal classes; -1 marks a known anomaly. Without labels every row is normal data "
        "of one class.",
    )
    parser.add_argument("data", metavar="DATA", help="training data: .csv, .npy or .npz")
    _add_label_column(parser, "the CSV column or .npz array of labels (.npz default: y)")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL", help="where to save the model")
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="show a progress bar on stderr and a line per epoch with the loss and its parts",
    )
    _add_estimator_options(parser, IBDeepDescription)


def _add_score(commands):
    parser = _add_command(
        commands,
        _score,
        "score",
        "score the rows of a data file with a saved model",
        "Write a CSV with one row per row of DATA: the decision function (negative for "
        "anomalies), the prediction (-1 anomaly, +1 normal) and the nearest known class. "
        "CSV columns are matched to the model's by name.",
    )
    _add_model(parser)
    parser.add_argument("data", metavar="DATA", help="data to score: .csv, .npy or .npz")
    _add_label_column(parser, "a CSV column to leave out when present, e.g. the labels of the training file")
    parser.add_argument("-o", "--output", required=True, metavar="SCORES", help="the CSV file to write")


def _add_info(commands):
    parser = _add_command(
        commands,
        _info,
        "info",
        "describe a saved model",
        "Print a model's parameters, classes, features, threshold and training history.",
    )
    _add_model(parser)


def _add_model(parser):
    parser.add_argument(
        "model", metavar="MODEL", help="a model saved by 'ibdetect fit' (a pickle: trusted files only)"
    )


def _add_label_column(parser, help_text):
    parser.add_argument("--label-column", metavar="NAME", help=help_text)


# -- entry point ------------------------------------------------------------------


def main(argv=None):
    """Run the ``ibdetect`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the command failed, 2 when the arguments do not parse.
        ``--help`` and ``--version`` exit through ``SystemExit``.
    """
    try:
        args = build_parser().parse_args(argv)
        args.run(args)
    except CommandError as exc:
        return _report(str(exc), exc.exit_status)
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        return _report(message, 1)
    return 0


def _report(message, status):
    print(f"{PROG}: error: {' '.join(message.splitlines())}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
