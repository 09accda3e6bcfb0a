"""Training precision on this CPU: the image defaults fitted in float32 and in bfloat16.

``precision="auto"`` trains the built-in CNN under ``torch.autocast`` in
bfloat16 on CPUs that compute it natively (AMX or AVX512-BF16), and in
float32 elsewhere. This runs the image benchmark's MNIST splits with the
defaults twice, ``precision="float32"`` and ``precision="bfloat16"``, and
prints each fit's time and ROC AUC, so that the choice can be checked on
the CPU at hand: one normal class (the quarter-turn views and the
narrower CNN) and six known classes (the wider CNN, no views). The two
fits of a split run one after the other, in alternating order from split
to split, so that a change in the machine's load hits both alike. On a
CPU without native bfloat16 the bfloat16 fits are emulated, and slow.

    python -m benchmarks.precision [--oneclass 0 1 2] [--multiclass 1] [--quick]

``--oneclass`` names the normal digits of the one-class splits,
``--multiclass`` how many of the multi-class splits run; ``--quick`` fits
2 epochs on scikit-learn's 8x8 digits, to check that it runs.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score

from . import data, protocols
from .run import environment

PRECISIONS = ("float32", "bfloat16")


def bfloat16_instructions():
    """The instructions of native bfloat16 that ``precision="auto"`` looks for and this CPU has, by torch's names."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    capabilities = get_capabilities() if get_capabilities else {}
    return [name for name in ("amx_bf16", "avx512_bf16") if capabilities.get(name)]


def fit_and_score(dataset, split, precision, max_epochs=None):
    """Fit the defaults at ``precision`` on a split; its fit time and ROC AUC."""
    params = {} if max_epochs is None else {"max_epochs": max_epochs}
    detector = IBDeepDescription(input_shape=dataset.image_shape, precision=precision, random_state=0, **params)
    X_train = dataset.rows(split.train)
    start = time.perf_counter()
    # With its labels, as the image benchmark fits it: one label is one class.
    detector.fit(X_train, dataset.y[split.train])
    seconds = time.perf_counter() - start
    labels = np.where(split.test_is_anomaly, -1, 1)
    return seconds, anomaly_roc_auc_score(labels, detector.decision_function(dataset.rows(split.test)))


def compare(dataset, splits, max_epochs=None, log=print):
    """One record per split: fit seconds and ROC AUC at each precision."""
    # A process's first fits pay once for what torch sets up (a tenth of a
    # second's fit took 1.6 s on digits): not the precision's cost.
    for precision in PRECISIONS:
        IBDeepDescription(input_shape=dataset.image_shape, precision=precision, max_epochs=1).fit(dataset.X[:64])
    records = []
    for index, (protocol, split) in enumerate(splits):
        order = PRECISIONS if index % 2 == 0 else PRECISIONS[::-1]
        results = {precision: fit_and_score(dataset, split, precision, max_epochs) for precision in order}
        record = {"protocol": protocol, "split": split.name}
        for precision, (seconds, auc) in results.items():
            record[f"{precision} fit"], record[f"{precision} auc"] = seconds, auc
        log(f"{protocol:10s} {split.name:24s} " + "  ".join(
            f"{precision} {record[f'{precision} fit']:6.1f} s, ROC AUC {record[f'{precision} auc']:.4f}"
            for precision in PRECISIONS
        ))
        records.append(record)
    return records


def summary(records):
    """Per protocol: the median of float32's fit time over bfloat16's, and the mean ROC AUC of each."""
    lines = ["protocol    splits  float32 / bfloat16 fit time (median)  ROC AUC float32  ROC AUC bfloat16"]
    for protocol in dict.fromkeys(record["protocol"] for record in records):
        rows = [record for record in records if record["protocol"] == protocol]
        ratio = statistics.median(row["float32 fit"] / row["bfloat16 fit"] for row in rows)
        aucs = [statistics.mean(row[f"{precision} auc"] for row in rows) for precision in PRECISIONS]
        lines.append(f"{protocol:10s}  {len(rows):6d}  {ratio:36.2f}  {aucs[0]:15.4f}  {aucs[1]:16.4f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--oneclass", nargs="*", type=int, default=[0, 1, 2],
                        help="normal digits of the one-class splits (default: 0 1 2)")
    parser.add_argument("--multiclass", type=int, default=1, help="how many multi-class splits (default: 1)")
    parser.add_argument("--quick", action="store_true", help="2 epochs on the 8x8 digits: checks that it runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset = data.digits() if args.quick else data.mnist()
    oneclass = {split.name: split for split in protocols.oneclass_splits(dataset.y)}
    splits = [("oneclass", oneclass[f"normal={digit}"]) for digit in args.oneclass]
    splits += [("multiclass", split) for split in protocols.multiclass_splits(dataset.y)[:args.multiclass]]
    setting = environment(1)
    print(f"{setting['machine']}; torch {setting['versions']['torch']}; "
          f"native bfloat16: {', '.join(bfloat16_instructions()) or 'none'}")
    records = compare(dataset, splits, max_epochs=2 if args.quick else None)
    print()
    print(summary(records))
    return records


if __name__ == "__main__":
    main()
