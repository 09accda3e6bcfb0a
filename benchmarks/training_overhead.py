"""Training time of IBDeepDescription against a hand-written torch loop.

Both train the same encoder with the same loss, batch size, optimiser and
number of epochs on the same data; the ratio shows what skorch and the
estimator add. The estimator is timed twice: with ``anomaly_score="distance"``
its fit is the training plus one inference pass to place the threshold; with
``"knn"`` it also compares every training sample with every other in the
embedding to place the threshold, work that grows with the square of the
number of samples when nothing is held out; with ``"knn+input"``, the default
on such rows, it does that in input space as well, and compares the
reference samples with each other in both spaces for their typical
distances. Times are medians of several
repeats measured in one run, so the ratios are meaningful even on a busy
machine where absolute times are not.

    python benchmarks/training_overhead.py [--n-samples 20000] [--epochs 5]
"""

import argparse
import statistics
import time

import numpy as np
import torch

from ibdetect import IBDeepDescription
from ibdetect.encoders import MLPEncoder
from ibdetect.losses import IBLoss


def make_data(n_samples, n_features, n_classes, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(n_classes, size=n_samples)
    means = rng.normal(0, 3, (n_classes, n_features))
    X = (means[y] + rng.normal(size=(n_samples, n_features))).astype(np.float32)
    return X, y


def fit_estimator(X, y, epochs, batch_size, anomaly_score):
    # Trained on all rows, like the loop below.
    IBDeepDescription(
        beta=2.0, max_epochs=epochs, batch_size=batch_size, validation_fraction=None,
        anomaly_score=anomaly_score, random_state=0, device="cpu",
    ).fit(X, y)


def fit_by_hand(X, y, epochs, batch_size):
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


def median_seconds(func, repeats, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--n-features", type=int, default=64)
    parser.add_argument("--n-classes", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    X, y = make_data(args.n_samples, args.n_features, args.n_classes)
    common = (X, y, args.epochs, args.batch_size)
    by_hand = median_seconds(fit_by_hand, args.repeats, *common)
    print(f"{args.n_samples} samples x {args.n_features} features, {args.epochs} epochs, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"hand-written loop                      {by_hand:8.2f} s")
    for anomaly_score in ("distance", "knn", "knn+input"):
        seconds = median_seconds(fit_estimator, args.repeats, *common, anomaly_score)
        label = f'IBDeepDescription, "{anomaly_score}" score'
        print(f"{label:38} {seconds:8.2f} s   ratio {seconds / by_hand:.2f}")


if __name__ == "__main__":
    main()
