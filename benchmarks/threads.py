"""Fit and scoring time against the number of torch threads, on idle and on busy cores.

Each case runs with ``n_jobs=1`` and with ``n_jobs=-1`` (every core), first
as the machine is, then while one process per core spins in a busy loop, as
other jobs sharing the machine would. Times are medians of the repeats,
interleaved so that a change in the machine's load hits every setting alike.

    python -m benchmarks.threads [--repeats 3]
"""

import argparse
import multiprocessing
import os
import statistics
import time
from contextlib import contextmanager

from ibdetect import IBDeepDescription

from .data import mnist
from .speed import make_data


def _cases():
    """Name and a function of ``n_jobs`` for each case, data prepared once."""
    X, y = make_data(20_000, 64, 6)
    X_score, _ = make_data(100_000, 64, 6, seed=1)
    images = mnist()
    X_img, y_img = images.X[::5], images.y[::5]
    mlp = dict(max_epochs=2, random_state=0, device="cpu")
    fitted = IBDeepDescription(**mlp).fit(X, y)

    def score(n_jobs):
        fitted.set_params(n_jobs=n_jobs).decision_function(X_score)

    return {
        "MLP fit, 20,000 x 64, 2 epochs": lambda n_jobs: IBDeepDescription(**mlp, n_jobs=n_jobs).fit(X, y),
        "k-NN decision_function, 100,000 rows": score,
        "CNN fit, 2,000 MNIST images, 1 epoch": lambda n_jobs: IBDeepDescription(
            input_shape=images.image_shape, max_epochs=1, random_state=0, device="cpu", n_jobs=n_jobs
        ).fit(X_img, y_img),
    }


def _spin():
    while True:
        pass


@contextmanager
def busy_cores(n_processes):
    """Keep ``n_processes`` processes spinning for the duration."""
    workers = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n_processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def measure(cases, settings, repeats):
    """Median seconds of each case under each ``n_jobs`` setting, the settings interleaved."""
    times = {(name, n_jobs): [] for name in cases for n_jobs in settings}
    for _ in range(repeats):
        for name, run in cases.items():
            for n_jobs in settings:
                start = time.perf_counter()
                run(n_jobs)
                times[name, n_jobs].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n_cores = os.cpu_count()
    cases = _cases()
    settings = (1, -1)
    idle = measure(cases, settings, args.repeats)
    load_before = os.getloadavg()[0]
    with busy_cores(n_cores):
        busy = measure(cases, settings, args.repeats)
    print(f"{n_cores} cores; load average {load_before:.1f} before the busy runs (other jobs count too)")
    print(f"{'case':40} {'idle, 1':>9} {f'idle, {n_cores}':>9} {'busy, 1':>9} {f'busy, {n_cores}':>9}   seconds")
    for name in cases:
        cells = [idle[name, 1], idle[name, -1], busy[name, 1], busy[name, -1]]
        print(f"{name:40} " + " ".join(f"{cell:9.2f}" for cell in cells))
    print(f"{n_cores} threads against 1 (time ratio; below 1 is faster):")
    for name in cases:
        print(f"{name:40} idle {idle[name, -1] / idle[name, 1]:5.2f}   busy {busy[name, -1] / busy[name, 1]:5.2f}")


if __name__ == "__main__":
    main()
