"""Scoring time of one normal class of MNIST images: the defaults, which read four views, against no views.

With one known class of square images, ``transformations="auto"`` shows the
network the four quarter turns of each image, and scoring passes every view
through it; the built-in CNN is narrower with views, blocks of 16 and 32
channels, so that this costs about what one pass of the wider one did.
The narrower blocks of the defaults before, 8 and 32 channels, are timed
beside them. Each detector is fitted for one epoch on 600
images of one digit (the weights do not change the time a pass takes) and
scores the same rows, MNIST's images repeated up to ``--rows``. Times are
medians of the repeats, interleaved so that a change in the machine's load
hits every detector alike; one torch thread, as the estimator's default
``n_jobs``.

    python -m benchmarks.view_scoring [--rows 100000] [--repeats 3]
"""

import argparse
import statistics
import time

import numpy as np

from ibdetect import IBDeepDescription

from .data import mnist

#: The detectors timed: the defaults, four views through the blocks of the
#: defaults before, no views (the defaults before views), and the centre
#: distance without views, the cheapest score, as the unit the others are
#: given in.
DETECTORS = {
    "defaults (four views, CNN (16, 32))": {},
    "four views, CNN (8, 32)": {"hidden_layer_sizes": (8, 32)},
    'transformations="none" (CNN (32, 64))': {"transformations": "none"},
    'transformations="none", anomaly_score="distance"': {"transformations": "none", "anomaly_score": "distance"},
}


def scoring_times(n_rows, repeats, digit=3):
    """Median seconds of ``decision_function`` on ``n_rows`` MNIST rows, by detector name."""
    images = mnist()
    train = images.X[images.y == digit][:600]
    rows = np.resize(images.X, (n_rows, images.X.shape[1]))
    fitted = {
        name: IBDeepDescription(input_shape=images.image_shape, max_epochs=1, random_state=0, **params).fit(train)
        for name, params in DETECTORS.items()
    }
    if fitted[next(iter(DETECTORS))].transformations_ != "rotations":
        raise RuntimeError("The defaults no longer give one class of images views: this benchmark times nothing new.")
    times = {name: [] for name in fitted}
    for _ in range(repeats):
        for name, detector in fitted.items():
            start = time.perf_counter()
            detector.decision_function(rows)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows scored (default: 100,000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default: 3)")
    args = parser.parse_args(argv)
    times = scoring_times(args.rows, args.repeats)
    base = times['transformations="none", anomaly_score="distance"']
    print(f"decision_function on {args.rows:,} MNIST rows, median of {args.repeats}:")
    for name, seconds in times.items():
        print(f"  {name:50s} {seconds:7.2f} s  {seconds / base:5.2f} x the centre distance")


if __name__ == "__main__":
    main()
