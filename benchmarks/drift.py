"""The drift check on real data: false alarms on streams of known classes, and streams with new ones.

For each data set and seed, the rows of the known classes are shuffled and
halved: one half trains a detector with its labels (the benchmark's
settings; a table behind a StandardScaler), whose held-out tenth calibrates;
the other half is streamed, in windows, to ``drift_test``. The unshifted
stream holds only those rows; the shifted one adds a ninth as many rows of
the classes never seen in training (a tenth of the stream), shuffled in.
It prints, per ``top_fraction``, how many windows were flagged in each.

* letter (mlbench; needs ``--mlbench``): the first 20 letters known,
  windows of 500 rows;
* digits: digits 0-5 known, windows of 100 rows.

    python -m benchmarks.drift [--datasets letter digits] [--seeds 3]
        [--mlbench PATH/TO/mlbench/data]
"""

import argparse

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.drift import drift_test

from . import data

# Known classes and window size of each data set.
SETTINGS = {"letter": (20, 500), "digits": (6, 100)}
TOP_FRACTIONS = (0.02, 0.05, 0.1, 0.2)


def flagged_windows(dataset, n_known, window, seed):
    """Per top fraction: windows flagged in the unshifted stream, in the shifted one, and their numbers."""
    rng = np.random.RandomState(seed)
    known = np.isin(dataset.y, np.unique(dataset.y)[:n_known])
    normal, new = rng.permutation(np.flatnonzero(known)), np.flatnonzero(~known)
    train, stream = normal[: len(normal) // 2], normal[len(normal) // 2:]
    shifted = rng.permutation(np.concatenate([stream, rng.choice(new, len(stream) // 9, replace=False)]))
    detector = IBDeepDescription(input_shape=dataset.image_shape, random_state=seed)
    model = make_pipeline(StandardScaler(), detector) if dataset.is_table else detector
    model.fit(dataset.X[train], dataset.y[train])
    calibration = detector.calibration_scores_
    results = {}
    for top_fraction in TOP_FRACTIONS:
        same, moved = (
            drift_test(calibration, -model.score_samples(dataset.X[rows]), window, top_fraction=top_fraction)
            for rows in (stream, shifted)
        )
        results[top_fraction] = (same.drifted.sum(), len(same.drifted), moved.drifted.sum(), len(moved.drifted))
    return results, len(calibration)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mlbench", metavar="PATH", help="mlbench's data folder, for letter")
    args = parser.parse_args(argv)
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        n_known, window = SETTINGS[name]
        totals, sizes = {}, []
        for seed in range(args.seeds):
            results, n_calibration = flagged_windows(dataset, n_known, window, seed)
            sizes.append(n_calibration)
            for top_fraction, counts in results.items():
                totals[top_fraction] = totals.get(top_fraction, np.zeros(4, int)) + counts
        print(f"{name}: {args.seeds} fits, {min(sizes)}-{max(sizes)} calibration samples, windows of {window} rows")
        for top_fraction, (false_alarms, n_same, flagged, n_shifted) in totals.items():
            print(f"  top_fraction {top_fraction:<4}: false alarms {false_alarms} of {n_same} windows; "
                  f"a tenth of new classes flagged in {flagged} of {n_shifted}", flush=True)


if __name__ == "__main__":
    main()
