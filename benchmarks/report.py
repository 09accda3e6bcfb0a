"""Tables of benchmark records: mean and spread over splits, as Markdown."""

from collections import defaultdict

import numpy as np

from .ood import MAX_PER_SOURCE
from .protocols import MIN_NORMAL_ROWS

PROTOCOL_TITLES = {
    "multiclass": "Multi-class: 6 known classes, 4 unseen (5 random class splits)",
    "oneclass": "One-class: each class in turn is normal (10 splits)",
    "fewshot": "Few-shot: multi-class with n labelled samples per known class (ROC AUC)",
    "ood": "Out-of-distribution: every class known, images of another source unseen (ROC AUC)",
}

PROTOCOL_NOTES = {
    "ood": (
        "60% of every class trains, with labels; the other 40% test beside as many images (at most "
        f"{MAX_PER_SOURCE:,}) of each source, on the data set's pixel range and mean intensity: patches of "
        "scikit-learn's sample photographs, Gaussian noise, uniform noise and thresholded smooth "
        "noise (blobs). The mean weighs the four sources alike; its spread is over the splits."
    ),
}

TABLE_PROTOCOL_TITLES = {
    "multiclass": "Several known classes, with labels",
    "oneclass": "One normal class, no labels",
    "contaminated": "Contaminated training: 5% anomalies, no labels",
}

TABLE_PROTOCOL_NOTES = {
    "multiclass": (
        "round(0.6 x the number of classes) known classes, drawn at random 5 times, or "
        "satellite's three soil classes (ODDS's normal classes) over 5 row draws; 60% of "
        "the known classes' rows train with their labels, the other 40% and every row of "
        "the unseen classes test. Breast cancer (a single normal class) and housevotes84 "
        "(two classes, so one known) sit this out. Classes of fewer than "
        f"{MIN_NORMAL_ROWS} rows (soybean's four smallest) are never known or normal, in "
        "any protocol, and not counted here; they are anomalies only."
    ),
    "oneclass": (
        "Each class in turn is normal (60% of it trains, without labels), or, for breast "
        "cancer, the benign class over 5 row draws; the rest and every other class test."
    ),
    "contaminated": (
        "The known classes of the multi-class protocol (benign tumours for breast cancer) "
        "are normal; rows of the other classes are drawn so that anomalies make up 5% of "
        "the data. A random 60% of those rows, anomalies included, train without labels "
        "(stratified, so training is 5% anomalies too); the rest test. 5 splits."
    ),
}


def summarise(records, key):
    """Mean and standard deviation of ``key`` per (dataset, protocol, setting, method)."""
    groups = defaultdict(list)
    for record in records:
        groups[record["dataset"], record["protocol"], record["setting"], record["method"]].append(record[key])
    return {group: (float(np.mean(v)), float(np.std(v)), len(v)) for group, v in groups.items()}


def _cell(stats):
    mean, std, _ = stats
    return f"{mean:.3f} ± {std:.3f}"


def _ordered(items):
    return list(dict.fromkeys(items))


def _main_table(records, dataset, protocol):
    auc, ap = summarise(records, "roc_auc"), summarise(records, "average_precision")
    fit, score = summarise(records, "fit_seconds"), summarise(records, "score_seconds")
    methods = _ordered(r["method"] for r in records if r["dataset"] == dataset and r["protocol"] == protocol)
    best = max(auc[dataset, protocol, "", m][0] for m in methods)
    lines = ["| method | ROC AUC | average precision | fit (s) | score (s) | splits |",
             "| --- | --- | --- | --- | --- | --- |"]
    for m in methods:
        key = (dataset, protocol, "", m)
        roc = _cell(auc[key])
        if auc[key][0] == best:
            roc = f"**{roc}**"
        lines.append(f"| {m} | {roc} | {_cell(ap[key])} | {fit[key][0]:.2f} | {score[key][0]:.2f} | {auc[key][2]} |")
    return lines


def _settings_table(records, dataset, protocol, with_mean=False):
    """ROC AUC with the protocol's settings as columns, and optionally their mean."""
    auc = summarise(records, "roc_auc")
    chosen = [r for r in records if r["dataset"] == dataset and r["protocol"] == protocol]
    settings, methods = _ordered(r["setting"] for r in chosen), _ordered(r["method"] for r in chosen)
    columns = settings + ["mean"] if with_mean else settings
    lines = ["| method | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for m in methods:
        cells = [_cell(auc[dataset, protocol, s, m]) if (dataset, protocol, s, m) in auc else "n/a"
                 for s in settings]
        if with_mean:
            cells.append(_cell(_mean_over_settings([r for r in chosen if r["method"] == m])))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def _mean_over_settings(records):
    """Mean and spread over splits of each split's ROC AUC averaged over the settings.

    The settings of a split share its name (the ``ood`` protocol's sources
    share their training rows and their fit), so the mean is taken per split
    name first.
    """
    by_split = defaultdict(list)
    for record in records:
        by_split[record["split"]].append(record["roc_auc"])
    means = [np.mean(values) for values in by_split.values()]
    return float(np.mean(means)), float(np.std(means)), len(means)


def _by_dataset_table(stats, records, protocol, fmt, bold_best):
    """Methods as rows, data sets as columns, one statistic per cell."""
    chosen = [r for r in records if r["protocol"] == protocol]
    datasets, methods = _ordered(r["dataset"] for r in chosen), _ordered(r["method"] for r in chosen)
    lines = ["| method | " + " | ".join(datasets) + " |", "| --- |" + " --- |" * len(datasets)]
    best = {d: max(stats[k][0] for k in stats if k[0] == d and k[1] == protocol) for d in datasets}
    for m in methods:
        cells = []
        for d in datasets:
            key = (d, protocol, "", m)
            cell = fmt(stats[key]) if key in stats else "n/a"
            if bold_best and key in stats and stats[key][0] == best[d]:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def _table_suite_sections(records):
    """Per protocol: ROC AUC, average precision and fit time, methods by data set."""
    auc, ap = summarise(records, "roc_auc"), summarise(records, "average_precision")
    fit = summarise(records, "fit_seconds")
    lines = []
    for protocol in _ordered(r["protocol"] for r in records):
        splits = summarise([r for r in records if r["protocol"] == protocol], "roc_auc")
        counts = {d: n for (d, _, _, _), (_, _, n) in splits.items()}
        lines += [f"## {TABLE_PROTOCOL_TITLES[protocol]}", "", TABLE_PROTOCOL_NOTES[protocol], "",
                  "Splits: " + ", ".join(f"{d} {n}" for d, n in counts.items()) + ".", "",
                  "ROC AUC:", ""]
        lines += _by_dataset_table(auc, records, protocol, _cell, bold_best=True) + ["", "Average precision:", ""]
        lines += _by_dataset_table(ap, records, protocol, _cell, bold_best=False) + ["", "Mean fit time (s):", ""]
        lines += _by_dataset_table(fit, records, protocol, lambda stats: f"{stats[0]:.2f}", bold_best=False) + [""]
    return lines


def _image_suite_sections(records):
    """Per data set and protocol: one table of every statistic."""
    lines = []
    for dataset in _ordered(r["dataset"] for r in records):
        lines += [f"## {dataset}", ""]
        for protocol in _ordered(r["protocol"] for r in records if r["dataset"] == dataset):
            lines += [f"### {PROTOCOL_TITLES[protocol]}", ""]
            if protocol in PROTOCOL_NOTES:
                lines += [PROTOCOL_NOTES[protocol], ""]
            if protocol in ("fewshot", "ood"):
                table = _settings_table(records, dataset, protocol, with_mean=protocol == "ood")
            else:
                table = _main_table(records, dataset, protocol)
            lines += table + [""]
    return lines


def render_markdown(report):
    """The benchmark page: provenance, then the tables of the report's suite."""
    records = report["records"]
    tables = report.get("suite") == "tables"
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    if tables:
        times = "fit time per split"
        title, rows = "Benchmark results on tables", (
            "rows (raw features, standardised by a StandardScaler fitted on each split's",
            "training rows, in a Pipeline before every method; on a table with categories",
            "and gaps, ibdetect.preprocessing.make_preprocessor takes the scaler's place);",
            "the best ROC AUC of each column is in bold.")
    else:
        times = "fit and score time per split"
        title, rows = "Benchmark results", (
            "rows (pixels scaled to [0, 1]); the best ROC AUC of each table is in bold.",)
    lines = [
        f"# {title}", "",
        "Mean ± standard deviation over splits of the ROC AUC and average precision of",
        "detecting samples of unseen classes (anomalies are the positives), and the mean",
        f"{times}. Every method sees the same splits and the same",
        *rows, "",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine']}",
        f"- Software: Python {report['python']}, {versions}",
        f"- Command: `{report['command']}`", "",
    ]
    lines += _table_suite_sections(records) if tables else _image_suite_sections(records)
    return "\n".join(lines)
