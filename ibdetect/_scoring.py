"""How far embeddings lie from the normal data: the distances behind the anomaly scores.

The net only embeds; everything measured from embeddings lives here, in one
place: the squared distances to the class centres, the squared distance to the
k-th nearest reference embedding, and the threshold rule of ``predict``. Every
function works block by block, so that memory stays within scikit-learn's
``working_memory`` budget whatever the number of samples.
"""

import numpy as np
import torch
from sklearn import get_config
from sklearn.utils import gen_batches

from .losses import squared_distances

__all__ = ["auto_threshold", "center_distances", "kth_neighbor_distances", "nearest_center_distances"]

def center_distances(embeddings, centers, working_memory=None):
    """Squared distance of every embedding to every centre, in float64.

    Parameters
    ----------
    embeddings : ndarray of shape (n_samples, dim)
    centers : ndarray of shape (n_centers, dim)
    working_memory : float, default=None
        Memory budget in MiB of one block (scikit-learn's ``working_memory``;
        None means the global setting).

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples, n_centers)
    """
    centers = torch.as_tensor(np.asarray(centers, dtype=np.float64))
    n_centers, dim = centers.shape
    distances = np.empty((len(embeddings), n_centers), dtype=np.float64)
    # The difference form is exact near a centre; its (block, centres, dim)
    # float64 intermediate is what bounds the block.
    row_bytes = 8 * n_centers * max(dim, 1) * 2
    for rows in _blocks(len(embeddings), row_bytes, working_memory):
        block = torch.as_tensor(np.asarray(embeddings[rows], dtype=np.float64))
        distances[rows] = squared_distances(block, centers).numpy()
    return distances


def nearest_center_distances(embeddings, centers, working_memory=None):
    """Squared distance of each embedding to its nearest centre, in float64.

    Parameters
    ----------
    embeddings : ndarray of shape (n_samples, dim)
    centers : ndarray of shape (n_centers, dim)
    working_memory : float, default=None

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
    """
    return center_distances(embeddings, centers, working_memory).min(axis=1)


def kth_neighbor_distances(embeddings, reference, n_neighbors, *, skip_self=False, working_memory=None):
    """Squared distance of each embedding to its ``n_neighbors``-th nearest reference embedding.

    Distances come from one matrix product per block, ``|a|^2 - 2 a.b + |b|^2``,
    in float64 and about the reference's mean: compact classes far from the
    origin keep the digits of their small distances, which float32, or the
    raw coordinates, would cancel away.

    Parameters
    ----------
    embeddings : ndarray of shape (n_samples, dim)
    reference : ndarray of shape (n_reference, dim)
    n_neighbors : int
        The neighbour rank, from 1.
    skip_self : bool, default=False
        The embeddings are the reference itself, row for row: each one's own
        row is left out of its neighbours, as a new sample would be.
    working_memory : float, default=None
        Memory budget in MiB of one block of distances (scikit-learn's
        ``working_memory``; None means the global setting).

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
    """
    rank = n_neighbors + bool(skip_self)
    if not 0 < rank <= len(reference):
        raise ValueError(
            f"n_neighbors={n_neighbors} needs between 1 and the {len(reference) - bool(skip_self)} "
            "reference embeddings."
        )
    reference = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    mean = reference.mean(dim=0)
    reference = reference - mean
    squared_norms = reference.square().sum(1)
    distances = np.empty(len(embeddings), dtype=np.float64)
    # A block holds a float64 row of distances to every reference and the
    # partial sort's copy of it.
    for rows in _blocks(len(embeddings), 8 * len(reference) * 2, working_memory):
        block = torch.as_tensor(np.asarray(embeddings[rows], dtype=np.float64)) - mean
        block_distances = torch.addmm(squared_norms, block, reference.T, alpha=-2.0)
        block_distances += block.square().sum(1, keepdim=True)
        # A reference row is its own nearest neighbour, at distance about
        # zero: looking one rank further leaves it out.
        nth = block_distances.topk(rank, dim=1, largest=False).values[:, -1]
        distances[rows] = nth.clamp_min_(0.0).numpy()
    return distances


def auto_threshold(distances):
    """Distance beyond which a sample is anomalous, from the distances of normal samples.

    Tukey's upper fence, ``Q3 + 1.5 IQR``, on the log distances (squared
    distances are positive and skewed to the right; their logarithm is closer
    to symmetric), but no farther out than the 99th percentile, so that some
    of the normal samples, at least 1%, always lie beyond it.

    Parameters
    ----------
    distances : ndarray of shape (n_samples,)

    Returns
    -------
    threshold : float
    """
    log_distances = np.log(np.maximum(distances, np.finfo(np.float64).tiny))
    q1, q3, q99 = np.percentile(log_distances, [25, 75, 99])
    return float(np.exp(min(q3 + 1.5 * (q3 - q1), q99)))


def _blocks(n_rows, row_bytes, working_memory):
    """Slices of as many rows as fit in ``working_memory`` MiB, at least one row each."""
    if working_memory is None:
        working_memory = get_config()["working_memory"]
    block_rows = max(1, int(working_memory * 2**20 // row_bytes))
    return gen_batches(n_rows, min(block_rows, max(n_rows, 1)))
