"""Tables of benchmark records: mean and spread over splits, as Markdown."""

from collections import defaultdict

import numpy as np

PROTOCOL_TITLES = {
    "multiclass": "Multi-class: 6 known classes, 4 unseen (5 random class splits)",
    "oneclass": "One-class: each class in turn is normal (10 splits)",
    "fewshot": "Few-shot: multi-class with n labelled samples per known class (ROC AUC)",
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


def _fewshot_table(records, dataset):
    auc = summarise(records, "roc_auc")
    chosen = [r for r in records if r["dataset"] == dataset and r["protocol"] == "fewshot"]
    settings, methods = _ordered(r["setting"] for r in chosen), _ordered(r["method"] for r in chosen)
    lines = ["| method | " + " | ".join(settings) + " |", "| --- |" + " --- |" * len(settings)]
    for m in methods:
        cells = [_cell(auc[dataset, "fewshot", s, m]) if (dataset, "fewshot", s, m) in auc else "n/a"
                 for s in settings]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(report):
    """The benchmark page: provenance, then one table per data set and protocol."""
    records = report["records"]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    lines = [
        "# Benchmark results", "",
        "Mean ± standard deviation over splits of the ROC AUC and average precision of",
        "detecting samples of unseen classes (anomalies are the positives), and the mean",
        "fit and score time per split. Every method sees the same splits and the same",
        "rows (pixels scaled to [0, 1]); the best ROC AUC of each table is in bold.", "",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine']}",
        f"- Software: Python {report['python']}, {versions}",
        f"- Command: `{report['command']}`", "",
    ]
    for dataset in _ordered(r["dataset"] for r in records):
        lines += [f"## {dataset}", ""]
        for protocol in _ordered(r["protocol"] for r in records if r["dataset"] == dataset):
            lines += [f"### {PROTOCOL_TITLES[protocol]}", ""]
            table = _fewshot_table(records, dataset) if protocol == "fewshot" else _main_table(records, dataset, protocol)
            lines += table + [""]
    return "\n".join(lines)
