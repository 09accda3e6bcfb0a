"""Which columns of a data file a model reads, and in what form.

``score`` and ``explain`` match a file's columns to the model's by name,
leave out the id, label and ignored columns (the user's, and those the
model file names), and hand the rows over as the model's first step takes
them: an array of numbers, of cells as written for a table's preparation
(:class:`ibdetect.preprocessing.TableCells`), or a pandas DataFrame for a
``ColumnTransformer`` fitted on one.
"""

import math
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.compose import ColumnTransformer

from .._pipelines import first_step, fitted_parts
from ..io import column_names, data_format
from ..preprocessing import TableCells
from ._errors import CommandError


def check_no_rows(model, X, path):
    """Raise a CommandError unless ``X``, a file's rows (none of them), has the model's columns.

    The steps before the detector check the columns of rows; of none, they
    check nothing, and a wrong file would pass on an empty day.
    """
    expected = first_step(model).n_features_in_
    if X.shape[1] != expected:
        raise CommandError(f"{path} has {X.shape[1]} feature columns, but the model takes {expected}")


def model_columns(model, data, path):
    """The data's features in the model's column order, matched by name when both have names.

    A DataFrame for a model whose first step picks columns by name.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None or data.feature_names is None:
        # Only the number of columns can be checked, which the estimator does.
        return _as_frame(data.X, names, _column_kinds(model)) if needs_frame(model) else data.X
    names = list(names)
    missing = [name for name in names if name not in data.feature_names]
    unexpected = [name for name in data.feature_names if name not in names]
    if missing or unexpected:
        problems = [
            f"{what} {', '.join(columns)}"
            for what, columns in [("missing", missing), ("unexpected", unexpected)]
            if columns
        ]
        hint = ""
        if unexpected:
            hint = (
                " (the model takes its own columns: name a column of row ids with --id-column, a label column "
                "with --label-column, and leave others out with --ignore-column)"
            )
        raise CommandError(f"{path} does not have the model's feature columns: {'; '.join(problems)}{hint}")
    X = data.X[:, [data.feature_names.index(name) for name in names]]
    return _as_frame(X, names, _column_kinds(model)) if needs_frame(model) else X


def needs_frame(model):
    """Whether the model's first step is a ColumnTransformer fitted on a DataFrame (built in Python).

    Such a step may pick its columns by name or type, and reads each as the
    frame held it: it is given a frame too.
    """
    first = first_step(model)
    return isinstance(first, ColumnTransformer) and hasattr(first, "feature_names_in_")


def _column_kinds(model):
    """What each column of a frame the model's encoders were fitted on held: "text", "bool" or numbers (absent).

    An encoder (one-hot, ordinal) keeps its categories, of the column's type.
    """
    kinds = {}
    for part in fitted_parts(first_step(model)):
        for name, categories in zip(getattr(part, "feature_names_in_", ()), getattr(part, "categories_", ())):
            kind = np.asarray(categories).dtype.kind
            if kind in "OUS":
                kinds[str(name)] = "text"
            elif kind == "b":
                kinds[str(name)] = "bool"
    return kinds


def reads_cells(model):
    """Whether the model reads a CSV file's cells as written (text and gaps), not as numbers only."""
    return isinstance(first_step(model), TableCells) or needs_frame(model)


def _as_frame(X, names, kinds):
    """The rows as the DataFrame the model's first step was fitted on: each column of the type its encoder knows.

    ``kinds`` (:func:`_column_kinds`) names the columns of text and of
    booleans; the others are numbers where every cell reads as one, else
    text, with NaN for gaps.
    """
    try:
        import pandas as pd
    except ImportError:
        raise CommandError("the model's first step was fitted on a pandas DataFrame: install pandas") from None
    columns = {}
    for position, name in enumerate(names):
        column = X[:, position]
        kind = kinds.get(str(name))
        if kind == "text":
            # Codes written as numbers ("1") stay the text they were fitted as.
            columns[name] = np.array([cell if _is_nan(cell) else _as_text(cell) for cell in column], dtype=object)
        elif kind == "bool":
            columns[name] = np.array([_as_bool(cell) for cell in column], dtype=object)
        else:
            try:
                columns[name] = column.astype(np.float64)
            except (TypeError, ValueError):
                columns[name] = column
    return pd.DataFrame(columns)


def _is_nan(cell):
    return isinstance(cell, float) and math.isnan(cell)


def _as_text(cell):
    """A cell read as a number back as the text a CSV file held (whole numbers without ".0")."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _as_bool(cell):
    text = str(cell).strip().lower()
    return {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}.get(text, cell)


@contextmanager
def columns_matched():
    # The columns were matched by name, or the data has no names: scikit-learn
    # would warn that the plain array passed on has no feature names.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        yield


def columns_to_read(args, info):
    """The id column and the columns to leave out of a file of rows for the model: ``(id_column, skipped)``.

    The user's options first; then what the model file names (its label
    column, and the id column and columns left out when it was fitted),
    each where the file has it, as a file to score need not hold them.
    """
    metadata = info.metadata if info else {}
    id_column = args.id_column
    if id_column is None and metadata.get("id_column") in _csv_header(args.data):
        id_column = metadata["id_column"]
    skipped = [args.label_column, metadata.get("label_column"), *args.ignore_column]
    skipped += metadata.get("ignore_columns", [])
    return id_column, [name for name in skipped if name is not None]


def _csv_header(path):
    """The column names of a CSV file, stripped as its reader strips them; none for another file."""
    if not is_csv(path):
        return []
    try:
        return column_names(path)
    except (OSError, ValueError):
        # The reader of the rows says what is wrong with the file.
        return []


def is_csv(path):
    # The file's name says which reader reads it, as in ibdetect.io.
    return data_format(path) == "csv"


def not_a_csv(path):
    return CommandError(f"--id-column and --ignore-column name columns of a CSV file, and {path} is none")


def check_column_options(args, model, output_columns):
    """Raise a CommandError where --id-column or --ignore-column cannot mean what they say, before any row is read."""
    named = [name for name in [args.id_column, *args.ignore_column] if name is not None]
    if not named:
        return
    if not is_csv(args.data):
        raise not_a_csv(args.data)
    if args.id_column in args.ignore_column:
        raise CommandError(f"--id-column {args.id_column} is also given to --ignore-column")
    if args.id_column in output_columns:
        # It would come first in the output, beside the output's own column of that name.
        raise CommandError(
            f"--id-column {args.id_column} bears the name of a column of the output; rename it in {args.data}"
        )
    features = getattr(first_step(model), "feature_names_in_", None)
    taken = [name for name in named if features is not None and name in set(features)]
    if taken:
        raise CommandError(
            f"the model takes {', '.join(taken)} as a feature: --id-column and --ignore-column name other columns"
        )
