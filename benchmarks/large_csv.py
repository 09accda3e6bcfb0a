"""Scoring a CSV file larger than memory with ``ibdetect score``: its time and peak memory.

Writes a CSV file of ``--rows`` rows of 10 standard normal numbers (11
million make about 1.04 GB) and a training file of 5,000 more, fits a model
on the latter with ``ibdetect fit`` and its defaults, then scores the large
file with ``ibdetect score --check-drift`` in a process of its own, and
prints the file's size, the scoring time and that process's peak resident
memory (torch's own included). The files go to ``--folder`` and are left
there; the scores are deleted.

    python -m benchmarks.large_csv --folder /tmp/large_csv [--rows 11000000]
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FEATURES = 10
BLOCK_ROWS = 100_000


def write_rows(path, n_rows, seed):
    """A CSV file of ``n_rows`` rows of standard normal numbers, written a block at a time."""
    rng = np.random.RandomState(seed)
    with open(path, "w") as file:
        file.write(",".join(f"f{i}" for i in range(FEATURES)) + "\n")
        for start in range(0, n_rows, BLOCK_ROWS):
            np.savetxt(file, rng.normal(size=(min(BLOCK_ROWS, n_rows - start), FEATURES)), fmt="%.6f", delimiter=",")


def ibdetect(*args):
    """Run the command line in a process of its own, on one torch thread."""
    command = [sys.executable, "-m", "ibdetect.cli", *map(str, args)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=11_000_000)
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    train, large, model = args.folder / "train.csv", args.folder / "large.csv", args.folder / "model.ibdetect"
    write_rows(train, 5_000, seed=0)
    write_rows(large, args.rows, seed=1)
    ibdetect("fit", train, "-o", model, "--random-state", 0)
    start = time.perf_counter()
    ibdetect("score", model, large, "-o", args.folder / "scores.csv", "--check-drift")
    seconds = time.perf_counter() - start
    (args.folder / "scores.csv").unlink()
    # The largest child so far: the scoring run (the fit's is smaller).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    print(f"{args.rows:,} rows, {large.stat().st_size / 1e9:.2f} GB: scored in {seconds:.0f} s, "
          f"peak resident memory {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
