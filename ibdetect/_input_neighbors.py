"""The ``"knn+input"`` anomaly score: nearest neighbours in the embedding and in input space.

On tables the learned embedding and the raw (scaled) features miss different
anomalies: the embedding separates the known classes, the input space keeps
every direction the network learned to ignore. The score is the geometric
mean of the two k-NN distances, each divided by its typical value among the
reference rows: a sample must be close in both spaces to score as normal,
neither space dominates by its units, and the result stays a positive
squared distance (1 for a typical reference row) that the threshold rules
read as any other. On the tabular benchmark the geometric mean ranked
unseen classes better than the plain sum, most of all under contamination.
"""

import numpy as np

from ._scoring import kth_neighbor_distances

__all__ = ["mixed_neighbor_distances", "typical_neighbor_distance"]

# The typical distance is a median over at most this many reference rows,
# each compared with the whole reference: comparing every row with every
# other would grow with the square of the reference. The scales only set the
# unit of the score (a geometric mean ranks samples the same whatever they
# are), so an estimate is enough.
MAX_TYPICAL_QUERIES = 1_000


def typical_neighbor_distance(reference, n_neighbors):
    """Median squared distance of the reference rows to their ``n_neighbors``-th nearest other row.

    Each row is left out of its own neighbours, as a new sample would be.
    Over more than ``MAX_TYPICAL_QUERIES`` rows, the median is that of a
    fixed random subset of them.

    Parameters
    ----------
    reference : ndarray of shape (n_reference, n_dims)
    n_neighbors : int

    Returns
    -------
    distance : float
        Positive: 1.0 when more than half of the rows have duplicates that
        close, so that dividing by it never fails.
    """
    queries = reference
    if len(reference) > MAX_TYPICAL_QUERIES:
        queries = reference[np.random.RandomState(0).choice(len(reference), MAX_TYPICAL_QUERIES, replace=False)]
    # Each query is a reference row, its own nearest neighbour at distance
    # 0: one rank further leaves it out.
    distances = kth_neighbor_distances(queries, reference, n_neighbors + 1)
    median = float(np.median(distances))
    return median if median > 0 else 1.0


def mixed_neighbor_distances(parts, references, scales, n_neighbors, *, skip_self=False):
    """Geometric mean over spaces of the ``n_neighbors``-th nearest reference distance divided by its scale.

    Parameters
    ----------
    parts : sequence of ndarray of shape (n_samples, dim_i)
        The samples in each space, e.g. ``(embeddings, inputs)``.
    references : sequence of ndarray of shape (n_reference, dim_i)
        The reference rows in the same spaces, row for row the same samples.
    scales : sequence of float
        The typical distance of each space (:func:`typical_neighbor_distance`).
    n_neighbors : int
    skip_self : bool, default=False
        ``parts`` are the references themselves: each row's own is left out.

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
    """
    # A product of roots rather than the root of a product: two ratios
    # near the float64 limit would overflow.
    exponent = 1.0 / len(scales)
    return np.prod(
        [
            (kth_neighbor_distances(part, reference, n_neighbors, skip_self=skip_self) / scale) ** exponent
            for part, reference, scale in zip(parts, references, scales)
        ],
        axis=0,
    )
