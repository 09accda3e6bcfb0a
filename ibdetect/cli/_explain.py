"""``ibdetect explain``: the features that weigh most in each row's anomaly score.

:meth:`~ibdetect.IBDeepDescription.explain` splits a row's distance to the
normal data between the features the detector reads. Those are the data's
columns for a detector alone or behind a scaler. Behind the preparation of a
table with text or empty cells (:func:`ibdetect.preprocessing.make_preprocessor`)
a column becomes several features (its one-hot categories, its gap and
unseen-category flags): their contributions are added up into the column's,
so that the output names the CSV columns a user knows, and a row's columns
still add up to its distance. Steps whose features cannot be traced back to
one column each (a PCA, say) leave the features as the detector reads them,
under the names the steps give them.

Everything is read and written as ``ibdetect score`` does: chunks of a
CSV file with the model's columns, the model's label column left out, an
id column written back, and an output that is whole or untouched.
"""

import csv
import re

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

from .._explanation import check_explainable, on_images, require_captum
from .._labels import outlier_labels
from .._pipelines import final_step, first_step
from ..preprocessing import TableCells
from ._commands import (
    OUTPUT_COLUMNS,
    _columns_matched,
    _estimator_errors,
    _model_columns,
    _positive_int,
    _read_chunks,
    _report_stream,
    _write_chunks,
    add_model_and_rows,
    check_column_options,
    check_no_rows,
    columns_to_read,
)
from ._errors import CommandError, first_line
from ._models import load_model
from ._output import check_output, output_name, write_output
from ._text import counted, echo

# The columns that come before the ranked features; "pvalue" follows
# nearest_class for a model that held out normal samples, as in score's output,
# then "row_from_elsewhere" for rows (not images).
EXPLAIN_COLUMNS = ("distance", "prediction", "nearest_class")
DEFAULT_TOP = 3
# A stand-in for a column's name when asking the steps before the detector
# what each feature is made of: CSV headers and categories hold no NUL
# character in practice, so a marker found in a feature's name is the
# column's; a name with more than one (a category holding a marker) leaves
# the features unmapped rather than guessed.
_MARKER = "\0{}\0"
_MARKER_PATTERN = re.compile("\0([0-9]+)\0")


def add_explain_arguments(parser):
    """Add the arguments of ``ibdetect explain`` to ``parser``."""
    add_model_and_rows(parser, "data whose rows to explain: .csv, .csv.gz, .npy or .npz")
    parser.add_argument(
        "-o", "--output", required=True, metavar="EXPLANATIONS", help="the CSV file to write; '-' for standard output"
    )
    parser.add_argument(
        "--top", type=_positive_int, default=DEFAULT_TOP, metavar="K",
        help=f"features to name per row, largest contribution first (default: {DEFAULT_TOP}); "
        "a K beyond the model's features names them all",
    )


def explain(args):
    """Write the explanation of each row of ``args.data`` by the model ``args.model``."""
    check_output(args.output, inputs=[args.model, args.data], allow_stdout=True)
    model, info = load_model(args.model, trust_pickle=args.trust_pickle)
    _check_explainable(model, args.model)
    check_column_options(args, model, OUTPUT_COLUMNS)
    detector = final_step(model)
    owners, encoded_names = _feature_owners(model)
    id_column, skipped = columns_to_read(args, info)
    chunks = _read_chunks(
        args.data,
        model,
        doing="explaining",
        ignore_columns=skipped,
        id_column=id_column,
        mixed=isinstance(first_step(model), TableCells),
        row_width=detector.n_features_in_,
    )
    # Filled as the chunks are written, for the summary line.
    tally = {"rows": 0, "anomalies": 0}

    def explained_chunks():
        """The header and the columns of each chunk's rows."""
        for data in chunks:
            explanation = _explanation(model, data, args.data)
            names = _column_names(model, data) if encoded_names is None else encoded_names
            contributions = _summed_by_owner(explanation.contributions, owners, len(names))
            header, columns = _explained_columns(detector, explanation, names, contributions, args.top)
            if data.ids is not None:
                header, columns = [data.id_name, *header], [data.ids.tolist(), *columns]
            tally["rows"] += len(explanation.distances)
            yield header, columns

    def write(file):
        tally["anomalies"] = _write_chunks(csv.writer(file), explained_chunks())

    write_output(args.output, write, binary=False)
    echo(
        f"Wrote the explanations of {counted(tally['rows'], 'row')} to {output_name(args.output)} "
        f"(anomalies: {tally['anomalies']}).",
        file=_report_stream(args.output),
    )


def _check_explainable(model, path):
    """Refuse, before any row is read, a model whose scores cannot be explained here, saying how to fix it."""
    try:
        check_explainable(final_step(model))
        require_captum()
    except (ValueError, ImportError) as exc:
        raise CommandError(f"cannot explain the scores of {path}: {first_line(exc)}") from None


def _feature_owners(model):
    """Which data column each feature the detector reads encodes, and the features' names if not the columns.

    Returns
    -------
    owners : ndarray of int of shape (n_features,)
        The position, among what the output ranks, of what each feature
        counts towards.
    encoded_names : ndarray of str or None
        None when ``owners`` points at the data's columns; else the names of
        the detector's features, which the output then ranks as they are.
    """
    if not isinstance(model, Pipeline):
        return np.arange(model.n_features_in_), None
    owners = _traced_columns(model[:-1], first_step(model).n_features_in_)
    if owners is not None:
        return owners, None
    n_features = final_step(model).n_features_in_
    return np.arange(n_features), _encoded_names(model[:-1], n_features)


def _traced_columns(preparation, n_columns):
    """The column that each feature out of ``preparation`` comes from, or None where that cannot be told."""
    preparation = _after_table_cells(preparation)
    if preparation is None:
        return np.arange(n_columns)
    try:
        # scikit-learn's steps name each feature after the column it comes
        # from (amount, country_FR, missingindicator_country): markers too.
        names = preparation.get_feature_names_out([_MARKER.format(column) for column in range(n_columns)])
    except (AttributeError, ValueError):
        # A step that gives no names, or one that checks its input's names
        # (a scaler fitted on a CSV file, whose features are its columns).
        return None
    found = [_MARKER_PATTERN.findall(name) for name in names]
    if any(len(columns) != 1 for columns in found):
        return None
    return np.array([int(columns[0]) for columns in found])


def _after_table_cells(preparation):
    """``preparation`` without a first step of TableCells (in nested pipelines too); None if nothing is left.

    TableCells keeps each column as it is, and checks the names it is asked
    about against the table's own: the steps after it take the markers.
    """
    (name, first), rest = preparation.steps[0], preparation.steps[1:]
    if isinstance(first, Pipeline):
        inner = _after_table_cells(first)
        if inner is first:
            return preparation
        rest = ([(name, inner)] if inner is not None else []) + rest
    elif not isinstance(first, TableCells):
        return preparation
    return Pipeline(rest) if rest else None


def _encoded_names(preparation, n_features):
    """The names the steps before the detector give its features, or x0, x1, ... where a step gives none."""
    try:
        return np.asarray(preparation.get_feature_names_out(), dtype=object)
    except AttributeError:
        return np.array([f"x{feature}" for feature in range(n_features)], dtype=object)


def _column_names(model, data):
    """The data's column names in the model's order: the model's own, the data's, or x0, x1, ..."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = data.feature_names
    if names is None:
        names = [f"x{column}" for column in range(first_step(model).n_features_in_)]
    return np.asarray(names, dtype=object)


def _explanation(model, data, path):
    """The detector's explanation of a chunk's rows, once the steps before it have prepared them."""
    X = _model_columns(model, data, path)
    if not len(X):
        # A header without rows: an explanation of none, as score writes.
        check_no_rows(model, X, path)
        detector = final_step(model)
        return Bunch(
            contributions=np.zeros((0, detector.n_features_in_)), distances=np.zeros(0),
            nearest_class=np.zeros(0, dtype=object),
            pvalues=np.zeros(0) if hasattr(detector, "calibration_scores_") else None,
            row_from_elsewhere=None if on_images(detector) else np.zeros(0, dtype=bool),
        )
    with _estimator_errors(f"cannot explain {path}"), _columns_matched():
        if isinstance(model, Pipeline):
            X = model[:-1].transform(X)
        return final_step(model).explain(X)


def _summed_by_owner(contributions, owners, n_owners):
    """Each row's contributions added up per owner: the features of one column become the column's."""
    membership = owners[:, None] == np.arange(n_owners)
    return contributions @ membership


def _explained_columns(detector, explanation, names, contributions, top):
    """The header and columns of the output for one chunk: scores, then the ``top`` largest contributions."""
    distances = explanation.distances
    # decision_function's values, to which predict's rule applies.
    predictions = outlier_labels(-distances - detector.offset_)
    header = list(EXPLAIN_COLUMNS)
    columns = [distances.tolist(), predictions.tolist(), explanation.nearest_class.tolist()]
    if explanation.pvalues is not None:
        header, columns = [*header, "pvalue"], [*columns, explanation.pvalues.tolist()]
    if explanation.row_from_elsewhere is not None:
        # Whether the contributions compare the row with the mean normal row
        # rather than with its own neighbourhood.
        header, columns = [*header, "row_from_elsewhere"], [*columns, explanation.row_from_elsewhere.tolist()]
    # The largest first; ties keep the model's feature order.
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    ranked = np.take_along_axis(contributions, order, axis=1)
    for rank in range(order.shape[1]):
        header += [f"feature_{rank + 1}", f"contribution_{rank + 1}"]
        columns += [names[order[:, rank]].tolist(), ranked[:, rank].tolist()]
    return header, columns
