"""``ibdetect explain``: the columns that weigh most in each row's anomaly score.

:func:`ibdetect.inspection.explain_columns` splits a row's distance to the
normal data between the columns of the data, adding up the features a
column becomes in the steps before the detector, so that the output names
the CSV columns a user knows.

Everything is read and written as ``ibdetect score`` does: chunks of a
CSV file with the model's columns, the model's label column left out, an
id column written back, and an output that is whole or untouched.
"""

import csv

import numpy as np
from sklearn.utils import Bunch

from .._explanation import check_explainable, on_images, require_captum
from .._labels import outlier_labels
from .._pipelines import final_step, first_step
from ..inspection import column_owners, explain_columns
from ._columns import check_column_options, check_no_rows, columns_matched, columns_to_read, model_columns, reads_cells
from ._commands import (
    OUTPUT_COLUMNS,
    _estimator_errors,
    _positive_int,
    _read_chunks,
    _report_stream,
    _write_chunks,
    add_model_and_rows,
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
    id_column, skipped = columns_to_read(args, info)
    chunks = _read_chunks(
        args.data,
        model,
        doing="explaining",
        ignore_columns=skipped,
        id_column=id_column,
        mixed=reads_cells(model),
        row_width=detector.n_features_in_,
    )
    # Filled as the chunks are written, for the summary line.
    tally = {"rows": 0, "anomalies": 0}

    def explained_chunks():
        """The header and the columns of each chunk's rows."""
        for data in chunks:
            explanation = _explanation(model, data, args.data)
            header, columns = _explained_columns(
                detector, explanation, explanation.column_names, explanation.column_contributions, args.top
            )
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
        # The estimator's parameter as the command line's option.
        reason = first_line(exc).replace("anomaly_score='distance'", "--anomaly-score distance").replace(
            "refit with anomaly_score='knn', 'knn+input' or 'knn+density'", "fit again with --anomaly-score knn+input"
        )
        raise CommandError(f"cannot explain the scores of {path}: {reason}") from None


def _explanation(model, data, path):
    """The explanation of a chunk's rows, each column's share added up from its features' (ibdetect.inspection)."""
    X = model_columns(model, data, path)
    if not len(X):
        # A header without rows: an explanation of none, as score writes.
        check_no_rows(model, X, path)
        detector = final_step(model)
        _, names = column_owners(model, data.feature_names)
        return Bunch(
            column_contributions=np.zeros((0, len(names))), column_names=names, distances=np.zeros(0),
            nearest_class=np.zeros(0, dtype=object),
            pvalues=np.zeros(0) if hasattr(detector, "calibration_scores_") else None,
            row_from_elsewhere=None if on_images(detector) else np.zeros(0, dtype=bool),
        )
    with _estimator_errors(f"cannot explain {path}"), columns_matched():
        # A DataFrame (for a model fitted on one) has its own names; names
        # of another number of columns leave the estimator to say so.
        names = data.feature_names
        if hasattr(X, "columns") or names is None or len(names) != first_step(model).n_features_in_:
            names = None
        return explain_columns(model, X, feature_names=names)


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
