"""The commands of ``ibdetect``: what each one does once its arguments are parsed.

Importing this module imports torch (through the estimator), which takes
seconds; the entry point imports it only to run a command or to describe
``fit``'s options.
"""

import argparse
import csv
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline

from .. import IBDeepDescription, demo, persistence
from .._calibration import conformal_pvalues
from .._labels import ANOMALY, INLIER, outlier_labels
from .._pipelines import final_step, first_step
from .._preparation import require_skops
from .._progress import progress_bar
from .._training import looks_like_flags, times_as_much
from ..drift import drift_test
from ..exceptions import (
    ContaminationShareWarning,
    EmbeddingCollapseWarning,
    FeatureScaleWarning,
    FlagLabelsWarning,
    TrainingInterruptedWarning,
)
from ..io import read_chunks, read_data
from ..preprocessing import TableCells, make_preprocessor
from ..selection import benjamini_hochberg_cut, normal_share, pvalues_too_coarse
from ._columns import (
    check_column_options,
    check_no_rows,
    columns_matched,
    columns_to_read,
    is_csv,
    model_columns,
    not_a_csv,
    reads_cells,
)
from ._errors import CommandError, Interrupted, first_line
from ._models import add_model_argument, load_model
from ._options import add_estimator_options
from ._output import check_output, is_standard_output, output_name, write_output
from ._text import counted, echo

SCORE_COLUMNS = ("decision_function", "prediction", "nearest_class")
# The columns score and explain write beside a row's id.
OUTPUT_COLUMNS = (*SCORE_COLUMNS, "distance", "pvalue")
# What --scale names: each scaler a model file can hold, by its class name
# without "Scaler" in lower case ("standard", "minmax", "robust"), no scaler,
# and "auto", which picks one of those from the data.
SCALERS = {
    "auto": None,
    **{scaler.__name__.removesuffix("Scaler").lower(): scaler for scaler in persistence.SCALERS.values()},
    "none": None,
}
# Where --check-drift flags a window: a false alarm on one of a hundred
# windows of normal rows, at most, for 19 fits in 20 (ibdetect.drift).
DRIFT_ALPHA = 0.01
# Column names that say "labels": fit warns when one is read as a feature
# because no --label-column was given.
LABEL_LIKE_NAMES = {"label", "labels", "class", "target", "y", "outlier", "anomaly", "is_outlier", "is_anomaly"}
# Of those, the names of outlier flags: a label column so named, of 0 and 1
# or true and false, is warned of as flags.
FLAG_NAMES = {"outlier", "outliers", "anomaly", "anomalies", "is_outlier", "is_anomaly"}
# Rows per window of --check-drift, unless --drift-window says otherwise.
DRIFT_WINDOW = 500
# Cells scored at a time (100,000 rows of 10 features): memory holds one
# chunk, whatever the file's size; a wide table's chunks have fewer rows.
CHUNK_CELLS = 1_000_000
# The largest magnitude the network computes with (float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)


# -- fit ------------------------------------------------------------------------


def add_fit_arguments(parser):
    parser.add_argument("data", metavar="DATA", help="training data: .csv, .csv.gz, .npy or .npz")
    _add_label_column(parser, "the CSV column or .npz array of labels (.npz default: y)")
    _add_column_options(parser, "score and explain then write it first, and need not be told again")
    parser.add_argument(
        "-o", "--output", required=True, metavar="MODEL",
        help="where to save the model (a file that loads without running code; e.g. model.ibdetect)",
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALERS), default="auto",
        help="scale each feature before the detector, and save the scaler with it: 'standard' (zero mean, "
        "unit variance), 'minmax' (to [0, 1]), 'robust' (median and inter-quartile range), 'none'; "
        "'auto' (the default) is 'standard' for rows of numbers, 'none' for images, and for a CSV with "
        "text or empty cells ibdetect.preprocessing's preparation: gaps filled and flagged, numbers "
        "standardised, categories one-hot encoded (needs skops: pip install \"ibdetect[tables]\")",
    )
    parser.add_argument(
        "--no-training-rows", dest="training_rows", action="store_false",
        help="leave out of the model file the training rows kept to train on later (partial_fit): "
        "the model scores the same; those of the reference of the 'knn+input' and 'knn+density' scores stay, "
        "as their scores read them",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="show training progress on stderr: a bar over epochs on a terminal, a line per epoch elsewhere",
    )
    add_estimator_options(parser, IBDeepDescription)


def fit(args):
    # Everything that does not need the trained model is checked before
    # training, so that a typo costs no training time.
    check_output(args.output, inputs=[args.data], allow_stdout=False)
    left_out = [name for name in [args.id_column, *args.ignore_column] if name is not None]
    if left_out and not is_csv(args.data):
        raise not_a_csv(args.data)
    if args.id_column in OUTPUT_COLUMNS:
        # score and explain write the ids first, beside their own columns.
        raise CommandError(f"--id-column {args.id_column} bears the name of a column that score or explain writes")
    # Text and empty cells are read only for the preparation that "auto" builds.
    try:
        data = _read(args.data, label_column=args.label_column, mixed=args.scale == "auto", ignore_columns=left_out)
    except CommandError as exc:
        if args.scale != "auto" and "not a number" in str(exc):
            raise CommandError(f"{exc}; --scale auto reads text and empty cells as categories and gaps") from None
        raise
    if data.y is not None and not persistence.labels_storable(data.y):
        raise CommandError(
            f"{args.data}: labels of type {data.y.dtype.name} cannot be saved in a model file; "
            "labels must be numbers or strings"
        )
    _warn_of_label_like_columns(data, args.label_column)
    params = dict(args.params)
    if data.input_shape is not None:
        params.setdefault("input_shape", data.input_shape)
    if args.verbose:
        params["verbose"] = 1
    model = _prepared(IBDeepDescription(**params), args.scale, data, args.data)
    with _estimator_errors(f"cannot fit a model on {args.data}"), warnings.catch_warnings(record=True) as caught:
        # A collapsed model scores every row alike, and an interrupted one is
        # not what was asked for: saving either would hide the failure.
        warnings.simplefilter("error", EmbeddingCollapseWarning)
        warnings.simplefilter("error", TrainingInterruptedWarning)
        try:
            model.fit(data.X, data.y)
        finally:
            # Before the error of a fit that fails, which they may explain.
            for warning in caught:
                line = _fit_warning(warning.message, model, data, args.label_column)
                if line is not None:
                    echo(f"ibdetect: warning: {line}", file=sys.stderr)
    if data.feature_names is not None:
        # What fitting on a DataFrame records, in its first step as a pipeline
        # does: the model then checks column names, here or from Python.
        first_step(model).feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    detector = final_step(model)
    # The columns that are no features travel with the model, so that score
    # and explain leave them out (and write the ids first) untold.
    metadata = {
        key: value for key, value in [
            ("label_column", args.label_column), ("id_column", args.id_column), ("ignore_columns", args.ignore_column)
        ] if value
    }
    def save(file):
        with warnings.catch_warnings():
            # What the reference keeps is said in --help; the file is what was asked for.
            warnings.filterwarnings("ignore", message="The k-NN reference", category=UserWarning)
            persistence.save(model, file, metadata=metadata, training_rows=args.training_rows)

    write_output(args.output, save, binary=True)
    echo(
        f"Saved the model to {args.output} (classes: {len(detector.classes_)}, "
        f"features: {detector.n_features_in_}, epochs: {len(detector.net_.history)}).",
        file=_report_stream(args.output),
    )


def _warn_of_label_like_columns(data, label_column):
    """Warn of a feature column named as labels are, when no --label-column was given: it would train as a feature.

    A label column named as outlier flags are, that holds two values as
    flags do (0 and 1, true and false), is warned of however few are 1.
    """
    if label_column is not None and _named_as_flags(label_column) and looks_like_flags(np.unique(data.y)):
        echo(
            f"ibdetect: warning: column {label_column!r} holds flags ({', '.join(map(str, np.unique(data.y)))}): "
            "they train as two known normal classes. If they flag anomalies, write -1 for the anomalies in it, "
            f"or leave it out with --ignore-column {label_column} in place of --label-column",
            file=sys.stderr,
        )
    if label_column is not None or data.feature_names is None:
        return
    named = [name for name in data.feature_names if name.strip().lower() in LABEL_LIKE_NAMES]
    if named:
        echo(
            f"ibdetect: warning: column {named[0]!r} is read as a feature; if it holds labels, pass "
            f"--label-column {named[0]} (or --ignore-column {named[0]} to leave it out)",
            file=sys.stderr,
        )


def _named_as_flags(column):
    return column is not None and column.strip().lower() in FLAG_NAMES


def _prepared(detector, scale, data, path):
    """The detector, behind the scaler that ``--scale`` names or the preparation of a table's cells."""
    gaps = data.X.dtype.kind == "f" and data.input_shape is None and np.isnan(data.X).any()
    if data.X.dtype == object or (scale == "auto" and gaps):
        try:
            require_skops()
        except ImportError as exc:
            raise CommandError(f"{path} has text or empty cells: {exc}") from None
        return make_pipeline(make_preprocessor(data.X, feature_names=data.feature_names), detector)
    if scale == "auto":
        # Pixels share one scale already, and standardising each one apart
        # cost the CNN on digits (ROC AUC 0.996 to 0.976).
        scale = "none" if data.input_shape is not None else "standard"
    scaler = SCALERS[scale]
    return detector if scaler is None else make_pipeline(scaler(), detector)


# -- score ----------------------------------------------------------------------


def add_score_arguments(parser):
    add_model_and_rows(parser, "data to score: .csv, .csv.gz, .npy or .npz")
    parser.add_argument(
        "-o", "--output", required=True, metavar="SCORES", help="the CSV file to write; '-' for standard output"
    )
    flags = parser.add_mutually_exclusive_group()
    flags.add_argument(
        "--alpha", type=_probability, metavar="ALPHA",
        help="flag the rows whose p-value is at most ALPHA (at most that share of new normal rows is "
        "flagged) instead of by the model's threshold, and write each row's p-value",
    )
    flags.add_argument(
        "--fdr", type=_probability, metavar="ALPHA",
        help="flag rows by the Benjamini-Hochberg procedure over the whole file, so that the expected share "
        "of normal rows among the flagged ones is at most ALPHA, and write each row's p-value",
    )
    parser.add_argument(
        "--adaptive", action="store_true",
        help="with --fdr: first estimate the share of normal rows in the file (Storey's estimator) and run the "
        "procedure at ALPHA divided by it, so that the expected share of normal rows among the flagged ones is "
        "at most ALPHA itself, where the plain procedure keeps it at ALPHA times the share of normal rows: "
        "where many rows are anomalies, more of them are flagged, and more normal rows too",
    )
    parser.add_argument(
        "--check-drift", action="store_true",
        help="test whether the rows, which should be normal, still look like the model's calibration samples, "
        f"in windows of --drift-window rows (ibdetect.drift.check_drift; p <= {DRIFT_ALPHA} flags a window)",
    )
    parser.add_argument(
        "--drift-window", type=_positive_int, default=None, metavar="ROWS",
        help=f"rows per window of --check-drift (default: {DRIFT_WINDOW})",
    )


def score(args):
    if args.adaptive and args.fdr is None:
        raise CommandError("--adaptive needs --fdr ALPHA")
    if args.drift_window is not None and not args.check_drift:
        raise CommandError("--drift-window needs --check-drift")
    check_output(args.output, inputs=[args.model, args.data], allow_stdout=True)
    model, info = load_model(args.model, trust_pickle=args.trust_pickle)
    detector = final_step(model)
    check_column_options(args, model, OUTPUT_COLUMNS)
    for option, asked in (("--check-drift", args.check_drift), ("--alpha", args.alpha), ("--fdr", args.fdr)):
        if asked and not hasattr(detector, "calibration_scores_"):
            raise CommandError(f"{args.model} held out no normal samples when fitted: {option} has nothing to compare with")
    id_column, skipped = columns_to_read(args, info)
    chunks = _read_chunks(
        args.data,
        model,
        ignore_columns=skipped,
        id_column=id_column,
        mixed=reads_cells(model),
        # What a row becomes in memory: its encoded features, if more than its columns.
        row_width=detector.n_features_in_,
    )
    calibration = np.sort(getattr(detector, "calibration_scores_", np.zeros(0)))
    # Filled as the chunks are written: the rows, and what the checks over
    # the whole file need (the anomaly scores for the drift check; the rows
    # of each p-value, of which there are n_calibration + 1, for --fdr).
    tally = {"rows": 0, "anomalies": 0, "anomaly_scores": [], "per_pvalue": np.zeros(len(calibration) + 1, np.int64)}

    def scored_chunks():
        """The header and the columns of each chunk's rows."""
        for data in chunks:
            normality, classes = _scores(model, data, args.data)
            decision = normality - detector.offset_  # as decision_function computes it
            tally["rows"] += len(decision)
            if args.check_drift:
                tally["anomaly_scores"].append(-normality)
            # predict's rule, applied to the scores at hand, unless --alpha asks for another.
            predictions = outlier_labels(decision)
            header, columns = list(SCORE_COLUMNS), [decision.tolist(), predictions.tolist(), classes.tolist()]
            if args.alpha is not None or args.fdr is not None:
                pvalues = conformal_pvalues(calibration, -normality)
                tally["per_pvalue"] += np.bincount(_pvalue_rank(pvalues, calibration), minlength=len(calibration) + 1)
                if args.alpha is not None:
                    columns[1] = np.where(pvalues <= args.alpha, ANOMALY, INLIER).tolist()
                header, columns = [*header, "pvalue"], [*columns, pvalues.tolist()]
            if data.ids is not None:
                header, columns = [data.id_name, *header], [data.ids.tolist(), *columns]
            yield header, columns

    def write(file):
        if args.fdr is None:
            tally["anomalies"] = _write_chunks(csv.writer(file), scored_chunks())
            return
        # The procedure needs every row's p-value: the rows wait in a file
        # beside the output, then are copied with the flags it sets.
        with _scratch_file(args.output) as waiting:
            _write_chunks(csv.writer(waiting), scored_chunks())
            cut = benjamini_hochberg_cut(
                _pvalue_values(calibration), tally["per_pvalue"], alpha=args.fdr, adaptive=args.adaptive
            )
            waiting.seek(0)
            tally["anomalies"] = _copy_with_flags(csv.reader(waiting), csv.writer(file), cut)

    write_output(args.output, write, binary=False)
    report = _report_stream(args.output)
    echo(
        f"Wrote the scores of {counted(tally['rows'], 'row')} to {output_name(args.output)} "
        f"(anomalies: {tally['anomalies']}).",
        file=report,
    )
    level = args.fdr
    if args.adaptive and tally["rows"]:
        share = normal_share(_pvalue_values(calibration), tally["per_pvalue"])
        level = args.fdr / share
        echo(
            f"--adaptive estimated the share of normal rows at {share:.3g} (an estimate that errs high) and ran "
            f"the procedure at {args.fdr:g} / {share:.3g} = {level:.3g}"
            + (", which flags every row." if level >= 1 else "."),
            file=report,
        )
    if args.fdr is not None and tally["rows"] and not tally["anomalies"]:
        # Nothing flagged is what a batch of normal rows gives; p-values too
        # coarse to reach the procedure's cut are worth a word.
        values = _pvalue_values(calibration)
        # At the level the procedure ran at (--adaptive's, above 1 only when it flags every row).
        coarse = values[0] > level or pvalues_too_coarse(values, tally["per_pvalue"], min(level, 1.0))
        hint = f" {_coarse_pvalues(len(calibration))}" if coarse else ""
        beyond, rows = int(tally["per_pvalue"][0]), tally["rows"]
        if not coarse and beyond and values[0] > level / rows:
            # A few far rows are what normal rows give too; the procedure
            # cannot tell them apart, and a user may wonder why they stay.
            hint = (
                f" {counted(beyond, 'row')} beyond every held-out sample (p = 1/{len(calibration) + 1}); among "
                f"{rows} rows, a lone one is flagged only with p <= {level / rows:.2g}: --alpha judges rows one by one."
            )
        echo(f"--fdr {args.fdr:g} flagged no row.{hint}", file=report)
    if args.alpha is not None and args.alpha < 1 / (len(calibration) + 1):
        echo(f"--alpha {args.alpha:g} can flag no row. {_coarse_pvalues(len(calibration))}", file=report)
    if args.check_drift:
        window = DRIFT_WINDOW if args.drift_window is None else args.drift_window
        echo(_drift_line(detector, np.concatenate(tally["anomaly_scores"]), window), file=report)


def _coarse_pvalues(n_calibration):
    """Why p-values may not reach a level: how fine the model's ``n_calibration`` held-out samples make them."""
    return (
        f"The model's {counted(n_calibration, 'held-out sample')} give p-values no smaller than 1/{n_calibration + 1} = "
        f"{1 / (n_calibration + 1):.3g}; a model fitted with a larger --validation-fraction gives finer ones."
    )


def _pvalue_values(calibration):
    """The ``n_calibration + 1`` values a plain p-value can take, from the smallest up."""
    return (np.arange(len(calibration) + 1) + 1.0) / (len(calibration) + 1.0)


def _pvalue_rank(pvalues, calibration):
    """Which of the ``n_calibration + 1`` values each p-value is, from the smallest (0) up."""
    return np.rint(pvalues * (len(calibration) + 1)).astype(np.int64) - 1


@contextmanager
def _scratch_file(output):
    """A temporary text file in the output's folder (the system's, for standard output or a device), gone when closed.

    A failure to create or fill it is worded as its own; one of the output
    (a full disk, a reader of standard output that stopped) passes on.
    """
    # Beside a regular file; a device or a pipe has no folder to write in.
    regular = not is_standard_output(output) and (os.path.isfile(output) or not os.path.exists(output))
    folder = os.path.dirname(os.path.abspath(output)) if regular else None
    where = folder or tempfile.gettempdir()
    try:
        file = tempfile.TemporaryFile("w+", newline="", encoding="utf-8", dir=folder)
    except OSError as exc:
        raise _scratch_error(where, exc) from None
    with file:
        yield _ScratchWriter(file, where)


def _scratch_error(where, exc):
    return CommandError(f"--fdr keeps the scored rows in a temporary file in {where} until the last is scored: {exc}")


class _ScratchWriter:
    """The scratch file of --fdr, whose failures to write name it rather than the output."""

    def __init__(self, file, where):
        self.file, self.where = file, where

    def write(self, text):
        try:
            return self.file.write(text)
        except OSError as exc:
            raise _scratch_error(self.where, exc) from None

    def seek(self, offset):
        return self.file.seek(offset)

    def __iter__(self):
        return iter(self.file)


def _write_chunks(writer, chunks):
    """Write the header once and every chunk's rows; return the rows predicted anomalous."""
    n_anomalies = 0
    for index, (header, columns) in enumerate(chunks):
        if index == 0:
            writer.writerow(header)
        # Python floats are written with all the digits that tell them apart.
        writer.writerows(zip(*columns))
        n_anomalies += columns[header.index("prediction")].count(ANOMALY)
    return n_anomalies


def _copy_with_flags(reader, writer, cut):
    """Copy the rows, a row flagged where its p-value is at most ``cut``; return how many are."""
    header = next(reader)
    writer.writerow(header)
    prediction, pvalue = header.index("prediction"), header.index("pvalue")
    n_anomalies = 0
    for row in reader:
        flagged = float(row[pvalue]) <= cut
        row[prediction] = str(ANOMALY if flagged else INLIER)
        n_anomalies += flagged
        writer.writerow(row)
    return n_anomalies


def _scores(model, data, path):
    """The normality (``score_samples``) and nearest class of each row of a chunk."""
    X = model_columns(model, data, path)
    if not len(X):
        # A header without rows, as a day without data gives: nothing to
        # score, where scikit-learn's checks refuse an empty array.
        check_no_rows(model, X, path)
        return np.zeros(0), np.zeros(0, dtype=object)
    with _estimator_errors(f"cannot score {path}"), columns_matched():
        if isinstance(model, Pipeline):
            # A pipeline knows no predict_class: its steps before the detector
            # transform X once, then the detector scores and names the class.
            X = model[:-1].transform(X)
        detector = final_step(model)
        return detector.score_samples(X), detector.predict_class(X)


def _drift_line(detector, anomaly_scores, window):
    """What --check-drift found, in a line."""
    if not len(anomaly_scores):
        return "Drift: no rows to test."
    with warnings.catch_warnings():
        # The line below says it, in the command's terms.
        warnings.filterwarnings("ignore", message="No window can be flagged", category=UserWarning)
        result = drift_test(detector.calibration_scores_, anomaly_scores, window, alpha=DRIFT_ALPHA)
    sizes = result.windows[:, 1] - result.windows[:, 0]
    # A window too small to reach DRIFT_ALPHA can never be flagged, and
    # "none found" there would reassure for nothing.
    needed = result.min_window_size
    untestable = ~result.testable
    # One window is the whole file, whatever --drift-window asked.
    windows = (
        f"1 window of {counted(sizes[0], 'row')}" if len(sizes) == 1
        else f"{len(sizes)} windows of about {counted(window, 'row')}"
    )
    if untestable.all():
        remedy = f"use --drift-window {needed} or more" if len(anomaly_scores) >= needed else (
            f"the file has {len(anomaly_scores)}"
        )
        return (
            f"Drift: not testable: a window needs {needed} rows or more to be flagged at p <= {DRIFT_ALPHA} "
            f"with the model's held-out samples; {remedy}."
        )
    too_few = ""
    if untestable.any():
        too_few = f"; too few rows to test: {', '.join(_row_ranges(result.windows[untestable]))}"
    n_flagged = int(result.drifted.sum())
    if not n_flagged:
        return f"Drift: none found in {windows} (no p-value <= {DRIFT_ALPHA}{too_few})."
    return (
        f"Drift: {n_flagged} of {windows} {'holds' if n_flagged == 1 else 'hold'} more far-out rows than "
        f"the calibration samples allow (p <= {DRIFT_ALPHA}): {', '.join(_row_ranges(result.windows[result.drifted]))}"
        f"{too_few}."
    )


def _row_ranges(windows):
    """``rows a-b`` for each run of adjacent windows (start, stop), so that a long drift reads as one range."""
    runs = []
    for start, stop in windows:
        if runs and runs[-1][1] == start:
            runs[-1][1] = stop
        else:
            runs.append([start, stop])
    return [f"rows {start + 1}-{stop}" for start, stop in runs]


def _report_stream(output):
    """Where the summary line goes: stderr when the output takes stdout (``-``, ``/dev/stdout``)."""
    return sys.stderr if is_standard_output(output) else sys.stdout


# -- demo ---------------------------------------------------------------------------


def add_demo_arguments(parser):
    demo.add_arguments(parser)


def run_demo(args):
    with _estimator_errors("demo"):
        demo.run_from_args(args)


# -- models and files -----------------------------------------------------------------


def _read(path, **kwargs):
    try:
        data = read_data(path, **kwargs)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    _check_features(data, path)
    return data


def _read_chunks(path, model, doing="scoring", **kwargs):
    """The data of ``path`` a chunk of rows at a time, checked as :func:`_read` checks them, for ``model``.

    On a terminal, a bar on stderr shows how much of the file has been read,
    labelled with what is ``doing`` to it. When ``model`` knows no column
    names, a warning says once that a CSV's columns are taken in their order.
    """
    chunks = read_chunks(path, chunk_cells=CHUNK_CELLS, **kwargs)
    first = True
    with progress_bar(os.path.getsize(path), f"{doing} {os.path.basename(path)}") as bar:
        while True:
            try:
                data, bytes_read = next(chunks)
            except StopIteration:
                return
            except ValueError as exc:
                # Read as numbers: the model was fitted on no gaps or text (else it reads cells).
                fix = "; the model was fitted on rows without gaps and reads none: fill them" if "is empty (a gap)" in str(exc) else ""
                raise CommandError(f"{exc}{fix}") from None
            _check_features(data, path)
            if first:
                _warn_if_matched_by_position(model, data, path)
                first = False
            bar.update(bytes_read - bar.n)
            yield data


def _warn_if_matched_by_position(model, data, path):
    # A model fitted on an array knows no column names: a file's columns in
    # another order would score without a word. With a wrong number of
    # columns the estimator's error follows instead, which says enough.
    if (
        data.feature_names is not None
        and getattr(model, "feature_names_in_", None) is None
        and data.X.shape[1] == first_step(model).n_features_in_
    ):
        echo(
            f"ibdetect: warning: the model was fitted without column names, so the columns of {path} are "
            "taken in their order, not matched by name; check that they are the model's, in its order",
            file=sys.stderr,
        )


def _probability(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _check_features(data, path):
    """Refuse features the estimator cannot take as numbers, with a message that says why."""
    X = data.X
    if X.dtype.names is not None:
        raise CommandError(
            f"{path}: the features are a structured array (fields {', '.join(X.dtype.names)}); "
            "save a plain array of numbers"
        )
    if X.dtype.kind in "mM":
        # NumPy would turn them into integers of their unit without a word.
        raise CommandError(
            f"{path}: the features are dates or durations ({X.dtype}); save them as numbers in the unit you mean"
        )
    if X.dtype.kind != "f":
        return
    # The network computes in float32, where larger values become infinite
    # (scikit-learn then reports them as NaN or infinity).
    too_large = np.isfinite(X) & (np.abs(X) > FLOAT32_MAX)
    if too_large.any():
        row, column = np.argwhere(too_large)[0]
        name = f"column {data.feature_names[column]!r}" if data.feature_names is not None else f"column {column + 1}"
        raise CommandError(
            f"{path}: row {row + 1}, {name} holds {X[row, column]:g}, too large for float32 "
            f"(at most {FLOAT32_MAX:.7g} in magnitude); scale the data down"
        )


@contextmanager
def _estimator_errors(context):
    """Report the estimator's rejection of parameters or data, or a failed training, as a CommandError."""
    try:
        yield
    except TrainingInterruptedWarning:
        raise Interrupted("training was interrupted; nothing was written") from None
    except (ValueError, TypeError, FloatingPointError, EmbeddingCollapseWarning) as exc:
        if str(exc).startswith("X holds NaN"):
            # The Python fix (make_preprocessor) is --scale auto when fitting;
            # a model fitted on numbers alone reads no gaps.
            fix = (
                "fill them, or fit with --scale auto (the default), which fills and flags them"
                if context.startswith("cannot fit") else
                "fill them: the model was fitted on rows without gaps and reads none"
            )
            raise CommandError(f"{context}: it holds gaps (NaN); {fix}") from None
        raise CommandError(f"{context}: {first_line(exc)}") from None


def _fit_warning(warning, model, data, label_column):
    """A warning of fitting ``model`` on ``data`` as one line of the command line, in its terms (columns, options)."""
    if isinstance(warning, FlagLabelsWarning):
        if _named_as_flags(label_column):
            # _warn_of_label_like_columns said it already.
            return None
        # The fix is in the file or the options, not in Python.
        return (
            f"column {label_column!r} holds only {warning.labels}: they train as two known normal classes. If they "
            f"flag anomalies, write -1 for the anomalies in it, or leave it out with --ignore-column {label_column} "
            "in place of --label-column"
        )
    if isinstance(warning, ContaminationShareWarning):
        level, flagged, n = warning.contamination, warning.flagged, warning.n_held_out
        return (
            f"--contamination {level:g} flags that share of the training rows, but {flagged} of the {n} rows "
            f"held out of training ({flagged / n:.0%}): new rows score farther out than the rows training saw. "
            f"To flag a share of new normal rows, score with --alpha {level:g}, or fit with --contamination auto."
        )
    if not isinstance(warning, FeatureScaleWarning):
        return first_line(warning)
    # The detector's features are the file's columns, scaled one by one or
    # not at all; a table's preparation makes features of its own.
    prepared = isinstance(first_step(model), TableCells)
    names = model[:-1].get_feature_names_out() if prepared else data.feature_names
    feature = f"column {warning.feature}" if names is None else f"column {names[warning.feature]!r}"
    return (
        f"{feature} varies {times_as_much(warning.ratio)} as the median column, so it makes most of the "
        "distances; --scale standard (the default for rows) puts the columns in one unit"
    )


def add_model_and_rows(parser, data_help):
    """The arguments of a command that reads a model and rows to apply it to: MODEL, DATA and the columns to skip."""
    add_model_argument(parser)
    parser.add_argument("data", metavar="DATA", help=data_help)
    _add_label_column(
        parser, "a CSV column to leave out when present (the model's own label column is left out anyway)"
    )
    _add_column_options(
        parser, "written first in the output under its name (default: the model's, or an unnamed first column, "
        "under the name 'id')"
    )


def _add_column_options(parser, id_help):
    parser.add_argument(
        "--id-column", metavar="NAME", help=f"a CSV column of row ids, left out of the features; {id_help}"
    )
    parser.add_argument(
        "--ignore-column", metavar="NAME", action="append", default=[],
        help="a CSV column to leave out, such as a note or a date; give it once per column",
    )


def _add_label_column(parser, help_text):
    parser.add_argument("--label-column", metavar="NAME", help=help_text)
