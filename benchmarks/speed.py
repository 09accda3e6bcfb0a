"""Speed and memory of IBDeepDescription, against a hand-written loop, the bare network and peers.

One run prints four tables (memory first), all on one torch thread (the estimator's
default ``n_jobs``), times as medians of repeats interleaved so that a change
in the machine's load hits every contender alike:

1. training: the estimator against a hand-written torch loop that trains the
   same encoder with the same loss, optimiser, batches and epochs;
2. scoring throughput: ``decision_function`` with each score against the
   bare network's forward pass, ``transform``, PyOD's DeepSVDD (when PyOD
   is installed) and scikit-learn's LocalOutlierFactor; the two k-NN scores
   with 250, 500 and 1,000 references (``max_references``; 1,000 is what
   the default ``"auto"`` keeps here) and with every training row;
3. the latency of scoring a single row;
4. peak memory and time of ``fit`` plus ``decision_function`` at 10^4, 10^5
   and 10^6 rows, each in a fresh process: the peak resident memory (torch's
   allocations included) above the resident memory once the data are made,
   and the peak of what numpy allocates (``tracemalloc``, which sees numpy's
   arrays but not torch's). Linux only.

It times the package through its public names only, so it no longer times
the parts of a k-NN search alone (the products that rank the references,
the partial sort, a faiss index in their place), which needed its internals.

    python -m benchmarks.speed [--quick]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch

from ibdetect import IBDeepDescription
from ibdetect.encoders import MLPEncoder
from ibdetect.losses import IBLoss

from .reference_size import ALL, max_references

N_FEATURES = 64
N_CLASSES = 6


def make_data(n_samples, n_features=N_FEATURES, n_classes=N_CLASSES, seed=0):
    """Gaussian classes as float32 rows, generated in chunks so that nothing larger than the result is allocated."""
    rng = np.random.RandomState(seed)
    means = rng.normal(0, 3, (n_classes, n_features))
    y = rng.randint(n_classes, size=n_samples)
    X = np.empty((n_samples, n_features), dtype=np.float32)
    for start in range(0, n_samples, 10_000):
        rows = slice(start, start + 10_000)
        X[rows] = means[y[rows]] + rng.normal(size=(len(y[rows]), n_features))
    return X, y


def estimator(epochs, anomaly_score="auto", **params):
    # Trained on all rows, like the hand-written loop.
    return IBDeepDescription(
        beta=2.0, max_epochs=epochs, validation_fraction=None, anomaly_score=anomaly_score,
        random_state=0, device="cpu", **params,
    )


def fit_by_hand(X, y, epochs, batch_size=128):
    """The loop a user would write: same encoder, loss, optimiser and batches."""
    torch.manual_seed(0)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    n_classes = int(y.max()) + 1
    encoder = MLPEncoder(input_shape=(X.shape[1],), embedding_dim=32)
    with torch.no_grad():
        embeddings = encoder.eval()(X_t)
        centers = torch.stack([embeddings[y_t == k].mean(0) for k in range(n_classes)])
    centers = torch.nn.Parameter(centers)
    encoder.train()
    optimizer = torch.optim.Adam(
        [{"params": encoder.parameters(), "weight_decay": 1e-5}, {"params": [centers], "weight_decay": 0.0}],
        lr=1e-3,
    )
    loss_fn = IBLoss(beta=2.0, priors=np.bincount(y) / len(y))
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(encoder(X_t[index]), y_t[index], centers).total
            loss.backward()
            optimizer.step()
            loss.item()  # a loop that logs its loss reads it once per batch too


def interleaved_medians(contenders, repeats):
    """Median seconds of each contender (name: function), the repeats interleaved."""
    times = {name: [] for name in contenders}
    for run in contenders.values():
        run()  # a first call pays for lazy imports and allocations
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def training_table(n_samples, epochs, repeats):
    X, y = make_data(n_samples)
    seconds = interleaved_medians({
        "hand-written loop": lambda: fit_by_hand(X, y, epochs),
        'IBDeepDescription, "distance" score': lambda: estimator(epochs, "distance").fit(X, y),
        'IBDeepDescription, "knn" score': lambda: estimator(epochs, "knn").fit(X, y),
        'IBDeepDescription, defaults ("knn+input")': lambda: estimator(epochs).fit(X, y),
    }, repeats)
    by_hand = seconds["hand-written loop"]
    print(f"\nTraining: {n_samples:,} rows x {N_FEATURES} features, {N_CLASSES} classes, {epochs} epochs, batch 128")
    print(f"{'':42} {'seconds':>8} {'rows/s':>9} {'ratio':>6}")
    for name, value in seconds.items():
        print(f"{name:42} {value:8.2f} {n_samples * epochs / value:9.0f} {value / by_hand:6.2f}")


def _peers(X_train):
    """Fitted peer detectors by name; PyOD's DeepSVDD only when PyOD is installed."""
    from sklearn.neighbors import LocalOutlierFactor

    peers = {"LocalOutlierFactor (sklearn)": LocalOutlierFactor(novelty=True).fit(X_train)}
    try:
        from pyod.models.deep_svdd import DeepSVDD
    except ImportError:
        return peers
    peers["DeepSVDD (PyOD)"] = DeepSVDD(n_features=X_train.shape[1], epochs=1, random_state=0, verbose=0).fit(X_train)
    return peers


# The reference sizes of the k-NN rows; "auto", the default, keeps 1,000.
REFERENCE_SIZES = (250, 500, 1000, ALL)
DEFAULT_REFERENCES = 1000


def reference_fits(score, X, y):
    """Detectors with the ``score`` fitted on ``X, y``, by reference size.

    They share ``random_state``, so they train the same network and differ
    only in their references. Sizes from the number of rows up are left
    out: they would keep every row, as ``ALL`` does.
    """
    return {
        size: estimator(2, score, max_references=max_references(size)).fit(X, y)
        for size in REFERENCE_SIZES
        if size == ALL or size < len(X)
    }


def reference_label(size, detector):
    """How a row names its reference size."""
    if size == ALL:
        return f"all {len(detector.reference_embeddings_):,} references"
    return f"{size:,} references" + (" (default)" if size == DEFAULT_REFERENCES else "")


def scoring_tables(n_train, n_score, repeats):
    X, y = make_data(n_train)
    X_score, _ = make_data(n_score, seed=1)
    distance = estimator(2, "distance").fit(X, y)
    by_size = {score: reference_fits(score, X, y) for score in ("knn", "knn+input")}
    module = distance.net_.module_.eval()
    X_tensor = torch.from_numpy(X_score)

    @torch.no_grad()
    def bare_network(rows=X_tensor):
        for start in range(0, len(rows), 512):
            module(rows[start:start + 512])

    # The peers are timed on a tenth of the rows: LocalOutlierFactor is slow.
    X_peer = X_score[: n_score // 10]
    contenders = {
        "bare network (forward pass only)": (bare_network, n_score),
        "transform (the embedding)": (lambda: distance.transform(X_score), n_score),
        'decision_function, "distance"': (lambda: distance.decision_function(X_score), n_score),
    }
    for score, fits in by_size.items():
        for size, detector in fits.items():
            contenders[f'decision_function, "{score}", {reference_label(size, detector)}'] = (
                lambda detector=detector: detector.decision_function(X_score), n_score
            )
    for name, peer in _peers(X).items():
        contenders[name] = ((lambda peer=peer: peer.decision_function(X_peer)), len(X_peer))
    seconds = interleaved_medians({name: run for name, (run, _) in contenders.items()}, repeats)
    distance_time = seconds['decision_function, "distance"']
    print(f"\nScoring: trained on {n_train:,} rows, {n_score:,} rows scored ({len(X_peer):,} for the peers)")
    width = max(map(len, contenders))
    print(f"{'':{width}} {'rows/s':>9} {'time / distance score':>22}")
    for name, (_, n_rows) in contenders.items():
        relative = seconds[name] / n_rows * n_score / distance_time
        print(f"{name:{width}} {n_rows / seconds[name]:9.0f} {relative:22.2f}")

    # The defaults: "auto" keeps 1,000 references, or every row of fewer.
    fitted = {"distance": distance}
    for score, fits in by_size.items():
        fitted[score] = fits.get(DEFAULT_REFERENCES, fits[ALL])
    one_row, one_tensor = X_score[:1], X_tensor[:1]
    latency = interleaved_medians({
        "bare network": lambda: bare_network(one_tensor),
        'decision_function, "distance"': lambda: fitted["distance"].decision_function(one_row),
        'decision_function, "knn"': lambda: fitted["knn"].decision_function(one_row),
        'decision_function, "knn+input" (default)': lambda: fitted["knn+input"].decision_function(one_row),
    }, 1000)
    print("\nSingle-row latency (median of 1,000 calls)")
    for name, value in latency.items():
        print(f"{name:42} {value * 1e3:7.3f} ms")


def memory_probe(n_samples, epochs, params):
    """Fit and score ``n_samples`` rows in this process; return seconds and peak bytes beyond the data."""
    # A first fit and score on a few rows import what torch and skorch load
    # lazily and page in the code they run, which are no part of the peak.
    X_small, y_small = make_data(200)
    _fit_and_score(X_small, X_small, y_small, epochs, params)
    X, y = make_data(n_samples)
    baseline = _current_rss()
    tracemalloc.start()
    fit_seconds, score_seconds = _fit_and_score(X, X, y, epochs, params)
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"fit": fit_seconds, "score": score_seconds, "rss": _peak_rss() - baseline,
            "numpy": numpy_peak, "X": X.nbytes}


def _fit_and_score(X_score, X, y, epochs, params):
    """Seconds to fit on ``X`` with a tenth held out, and to score ``X_score``."""
    start = time.perf_counter()
    detector = estimator(epochs, **params).set_params(validation_fraction=0.1).fit(X, y)
    fitted = time.perf_counter()
    detector.decision_function(X_score)
    return fitted - start, time.perf_counter() - fitted


def _peak_rss():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss():
    # Linux only, as ru_maxrss's unit is: resident pages, the second field.
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


MEMORY_CONFIGS = {
    "defaults (knn+input)": {},
    '"knn"': {"anomaly_score": "knn"},
    '"distance"': {"anomaly_score": "distance"},
    "pretrain_epochs=1": {"pretrain_epochs": 1},
}


def memory_table(sizes, epochs):
    print(f"\nMemory: fit ({epochs} epoch{'s' * (epochs > 1)}, a tenth held out) plus decision_function on the "
          "training rows, one fresh process each; peaks beyond the data X")
    print(f"{'rows':>9} {'configuration':20} {'X MB':>7} {'fit s':>7} {'score s':>8} {'RSS MB':>7} {'numpy MB':>9}")
    for n_samples in sizes:
        # The largest size runs the defaults only.
        configs = MEMORY_CONFIGS if n_samples < max(sizes) else {"defaults (knn+input)": {}}
        for name, params in configs.items():
            result = _probe_in_subprocess(n_samples, epochs, params)
            print(f"{n_samples:9,} {name:20} {result['X'] / 2**20:7.0f} {result['fit']:7.1f} {result['score']:8.1f} "
                  f"{result['rss'] / 2**20:7.0f} {result['numpy'] / 2**20:9.1f}", flush=True)


def _probe_in_subprocess(n_samples, epochs, params):
    command = [sys.executable, "-m", "benchmarks.speed", "--memory-probe", json.dumps([n_samples, epochs, params])]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: checks that it runs")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.memory_probe:
        print(json.dumps(memory_probe(*json.loads(args.memory_probe))))
        return
    quick = args.quick
    print(f"torch {torch.__version__}, 1 thread")
    # Memory first: the data of the other tables, held here, would press the
    # probes' code pages out of memory, to be counted again when they run.
    memory_table([1_000, 5_000] if quick else [10_000, 100_000, 1_000_000], 1)
    training_table(2_000 if quick else 20_000, 1 if quick else 5, 1 if quick else 3)
    scoring_tables(2_000 if quick else 20_000, 5_000 if quick else 100_000, 1 if quick else 3)


if __name__ == "__main__":
    main()
