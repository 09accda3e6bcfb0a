"""Run every method on the same splits and write the tables as Markdown and JSON.

    python -m benchmarks.run
    python -m benchmarks.run --suite tables --mlbench PATH/TO/mlbench/data

The first (the image suite) writes ``docs/benchmarks.md`` and
``docs/benchmarks.json``, the second (the table suite) ``docs/benchmarks_tabular.md``
and ``.json``; both print the tables. ``--help`` lists the options to run a part.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from joblib import Parallel, delayed
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ibdetect
from ibdetect.preprocessing import make_preprocessor

from . import data, ood, protocols
from .anchors import CrossEntropyAnchor
from .methods import METHODS
from .report import render_markdown

FEWSHOT_SIZES = (5, 10, 20, 50)

# What each suite runs by default. On tables the MLP is what the default
# encoder="auto" builds, so the "flat rows" row would repeat "ibdetect ib".
# The rows with views (transformations) are asked for by name: on MNIST
# they take most of an hour more.
SUITES = {
    "images": {
        "datasets": ("digits", "mnist"),
        "protocols": ("multiclass", "oneclass", "fewshot"),
        "methods": ("IsolationForest", "OneClassSVM", "LOF", "kNN (k=5)", "MSP (MLPClassifier)",
                    "PyOD DeepSVDD", "ibdetect svdd", "ibdetect mcdd", "ibdetect ib",
                    "ibdetect ib (flat rows, mlp)"),
        "output": "benchmarks",
    },
    "tables": {
        "datasets": ("satellite", "vehicle", "vowel", "letter", "soybean", "housevotes84",
                     "wine", "iris", "breast_cancer"),
        "protocols": ("multiclass", "oneclass", "contaminated"),
        "methods": ("IsolationForest", "OneClassSVM", "LOF", "kNN (k=5)", "MSP (MLPClassifier)",
                    "PyOD DeepSVDD", "ibdetect ib"),
        "output": "benchmarks_tabular",
    },
}
MLBENCH_DATASETS = tuple(data.MLBENCH_TABLES)


def protocol_dataset(protocol, dataset, seed):
    """The rows a protocol's splits index: for ``ood``, the data set's own
    followed by images of other sources (see ``ood.with_ood_rows``)."""
    return ood.with_ood_rows(dataset, seed=seed) if protocol == "ood" else dataset


def build_splits(protocol, dataset, seed):
    """The splits of a protocol as ``(setting, split)`` pairs.

    For ``ood``, ``dataset`` is the one ``protocol_dataset`` returns, and each
    split (an ``ood.OODSplit``) holds every source as a setting of its own, so
    its pair's setting is ``""``.
    """
    y = dataset.y
    if dataset.is_table:
        return [("", split) for split in protocols.table_splits(protocol, y, dataset.normal_classes, seed=seed)]
    if protocol == "multiclass":
        return [("", split) for split in protocols.multiclass_splits(y, seed=seed)]
    if protocol == "oneclass":
        return [("", split) for split in protocols.oneclass_splits(y, seed=seed)]
    if protocol == "fewshot":
        return [
            (f"n={n}", split)
            for n in FEWSHOT_SIZES
            for split in protocols.fewshot_splits(y, n, seed=seed)
        ]
    if protocol == "ood":
        return [("", split) for split in ood.ood_splits(dataset, seed=seed)]
    raise ValueError(f"unknown protocol {protocol!r}")


def preparation(dataset, X_train):
    """The unfitted first step of every method's pipeline on a table.

    Table features come in unrelated units, so a table of numbers is
    standardised. A table with categories and gaps gets ibdetect's own
    preparation instead, built from the training rows' columns: one-hot
    categories with an unseen-category indicator, imputed gaps with their
    indicators, standardised numbers.
    """
    return make_preprocessor(X_train) if dataset.has_categories else StandardScaler()


def evaluate(method, dataset, split, seed, max_epochs=None, threads=None, memory=None):
    """Fit one method on one split; return its scores and times.

    ``memory`` (a folder, or None) caches the classifier of the supervised
    anchors, which their four scores share: an anchor that fits on a split
    after another has trained its classifier, in whichever process, loads
    it. Their fit times then count the training once, in whichever anchor
    trained it (twice where two processes trained the same one at once).

    Returns
    -------
    results : list of dict
        One result for the split; for an ``ood.OODSplit``, one per source,
        named by its ``"setting"``: one fit scores the test rows of every
        source at once, and each source's metrics count its rows alone.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    X_train, y = dataset.rows(split.train), dataset.y
    estimator = method.build(dataset, seed)
    if max_epochs is not None:
        _shorten_training(estimator, max_epochs)
    if isinstance(estimator, CrossEntropyAnchor):
        estimator.set_params(memory=memory)
    if dataset.is_table:
        # Fitted with the method, on its own training rows only.
        estimator = make_pipeline(preparation(dataset, X_train), estimator)
    start = time.perf_counter()
    if method.uses_labels and split.labelled:
        estimator.fit(X_train, y[split.train])
    else:
        estimator.fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    normality = np.asarray(estimator.score_samples(dataset.rows(split.test)))
    score_seconds = time.perf_counter() - start
    anomaly_score = -normality
    # The sources of an ood split share its fit and its scoring, so each
    # source's result carries the whole of both times: they are not to be
    # summed over the sources.
    times = {"fit_seconds": fit_seconds, "score_seconds": score_seconds}
    if not isinstance(split, ood.OODSplit):
        return [{**_metrics(split.test_is_anomaly, anomaly_score), **times}]
    return [
        {"setting": setting, **_metrics(split.test_is_anomaly[rows], anomaly_score[rows]), **times}
        for setting, rows in split.settings.items()
    ]


def _shorten_training(estimator, max_epochs):
    """Set ``max_epochs`` of a trained network, or of one a wrapper holds as its ``detector``."""
    if isinstance(estimator, (ibdetect.IBDeepDescription, CrossEntropyAnchor)):
        estimator.set_params(max_epochs=max_epochs)
    elif isinstance(getattr(estimator, "detector", None), ibdetect.IBDeepDescription):
        estimator.set_params(detector__max_epochs=max_epochs)


def _metrics(is_anomaly, anomaly_score):
    return {
        "roc_auc": roc_auc_score(is_anomaly, anomaly_score),
        "average_precision": average_precision_score(is_anomaly, anomaly_score),
    }


def run(datasets, protocol_names, methods, seed=0, max_splits=None, max_epochs=None, jobs=1, log=print):
    """Evaluate ``methods`` on every split; return one record per (method, split, setting).

    With ``jobs > 1`` the fits run in that many processes with one torch
    thread each, which uses the cores better than threads for small networks.
    The anchors' classifiers are cached in a temporary folder for the run
    (see :func:`evaluate`).
    """
    # A worker that fails may leave others writing into the folder: its
    # removal must not hide the failure.
    with tempfile.TemporaryDirectory(prefix="ibdetect-benchmark-", ignore_cleanup_errors=True) as memory:
        return _run(datasets, protocol_names, methods, seed, max_splits, max_epochs, jobs, log, memory)


def _run(datasets, protocol_names, methods, seed, max_splits, max_epochs, jobs, log, memory):
    tasks = []
    for dataset in datasets:
        for protocol in protocol_names:
            rows = protocol_dataset(protocol, dataset, seed)
            splits = build_splits(protocol, rows, seed)
            if max_splits is not None:
                splits = _first_per_setting(splits, max_splits)
            for method in methods:
                for setting, split in splits:
                    if _n_classes_given(rows.y, split) >= method.needs_classes:
                        tasks.append((rows, protocol, setting, split, method))
    threads = 1 if jobs > 1 else None
    # In order, as each finishes, so that a long run shows its progress.
    results = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(evaluate)(method, dataset, split, seed, max_epochs, threads, memory)
        for dataset, _, _, split, method in tasks
    )
    records = []
    for (dataset, protocol, setting, split, method), split_results in zip(tasks, results):
        for result in split_results:
            # An ood split's results name their own setting, its source.
            record = {"dataset": dataset.name, "protocol": protocol, "setting": setting,
                      "split": split.name, "method": method.name, **result}
            records.append(record)
            log(f"{dataset.name:7} {protocol:12} {record['setting']:5} {split.name:24} "
                f"{method.name:28} ROC AUC {result['roc_auc']:.3f}  fit {result['fit_seconds']:6.1f} s")
    return records


def _n_classes_given(y, split):
    """How many classes a method is told of: one when the labels are withheld."""
    return len(np.unique(y[split.train])) if split.labelled else 1


def _first_per_setting(splits, max_splits):
    kept, counts = [], {}
    for setting, split in splits:
        counts[setting] = counts.get(setting, 0) + 1
        if counts[setting] <= max_splits:
            kept.append((setting, split))
    return kept


def environment(jobs):
    """What the numbers were measured with."""
    threads = f"{jobs} processes with 1 torch thread each" if jobs > 1 else f"{torch.get_num_threads()} torch threads"
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {_cpu_name()}, {os.cpu_count()} cores, {threads}, "
                   f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
        "python": platform.python_version(),
        "versions": {"ibdetect": ibdetect.__version__, "torch": torch.__version__,
                     "scikit-learn": sklearn.__version__, "numpy": np.__version__},
    }


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="images",
                        help="images (digits, MNIST) or tables (UCI and scikit-learn tables)")
    parser.add_argument("--mnist", metavar="PATH",
                        help="your own MNIST files, anything ibdetect.datasets.load_mnist reads; "
                             "default: the 10,000 digits shipped with ibdetect")
    parser.add_argument("--mlbench", metavar="PATH",
                        help="mlbench's data folder of .rda files; without it only scikit-learn's tables run")
    parser.add_argument("--datasets", nargs="+", choices=[name for suite in SUITES.values() for name in suite["datasets"]],
                        default=None, help="default: every data set of the suite whose files are given")
    parser.add_argument("--protocols", nargs="+", choices=["multiclass", "oneclass", "fewshot", "contaminated", "ood"],
                        default=None, help="default: multiclass oneclass fewshot (images), "
                                           "multiclass oneclass contaminated (tables); "
                                           "ood (images of other sources) only when asked for")
    parser.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                        help="subset of: " + "; ".join(m.name for m in METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-splits", type=int, default=None, help="first N splits of each setting (smoke runs)")
    parser.add_argument("--max-epochs", type=int, default=None, help="override ibdetect's epochs (smoke runs)")
    parser.add_argument("--jobs", type=int, default=1, help="processes running fits side by side")
    parser.add_argument("--output-dir", default="docs", help="where the .md and .json files go")
    return parser.parse_args(argv)


def _dataset_names(args, suite):
    """The suite's data sets whose files were given, or the ones asked for."""
    if args.datasets:
        return args.datasets
    # MNIST needs no file: the sample that ships with ibdetect stands in.
    given = {name: args.mlbench for name in MLBENCH_DATASETS}
    return [name for name in suite["datasets"] if name not in given or given[name]]


def load_dataset(name, args):
    """The data set ``name``, from the file or folder given on the command line if it needs one."""
    try:
        return data.load(name, args.mlbench, args.mnist)
    except ValueError as exc:
        sys.exit(f"benchmarks: error: {exc}")


def _placeholder_paths(arguments):
    """The arguments with the data folders given replaced by placeholders: the
    published command must not carry one machine's paths."""
    arguments, placeholders = list(arguments), {"--mnist": "PATH/TO/mnist", "--mlbench": "PATH/TO/mlbench/data"}
    for index, argument in enumerate(arguments):
        option = argument.split("=", 1)[0]
        if option not in placeholders:
            continue
        if "=" in argument:
            arguments[index] = f"{option}={placeholders[option]}"
        elif index + 1 < len(arguments):
            arguments[index + 1] = placeholders[option]
    return arguments


def main(argv=None):
    args = parse_args(argv)
    suite = SUITES[args.suite]
    datasets = [load_dataset(name, args) for name in _dataset_names(args, suite)]
    unknown = set(args.methods or []) - {m.name for m in METHODS}
    if unknown:
        sys.exit(f"benchmarks: error: unknown methods {sorted(unknown)}")
    chosen = args.methods or suite["methods"]
    methods = [m for m in METHODS if m.available() and (chosen is None or m.name in chosen)]
    protocol_names = args.protocols or list(suite["protocols"])
    records = run(datasets, protocol_names, methods, args.seed, args.max_splits, args.max_epochs, args.jobs)
    command = "python -m benchmarks.run " + shlex.join(_placeholder_paths(sys.argv[1:] if argv is None else argv))
    report = {"command": command.strip(), "suite": args.suite, **environment(args.jobs), "records": records}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{suite['output']}.json").write_text(json.dumps(report, indent=1) + "\n")
    markdown = render_markdown(report)
    (output / f"{suite['output']}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
