"""Distance kernels: squared distances to class centres and to the k-th nearest reference row.

The anomaly score (``_anomaly_score``) decides which distance a detector
reads; these functions only compute them, exactly and block by block, so
that memory stays within scikit-learn's ``working_memory`` budget whatever
the number of samples.
"""

import numpy as np
import torch

from ._chunking import row_blocks
from .losses import squared_distances

__all__ = [
    "center_distances",
    "kth_neighbor_distances",
    "nearest_center_distances",
    "squared_distance_matrix",
]

# The float32 ranking keeps this many candidates beyond the rank sought for
# the exact step: enough, on trained embeddings, for its rounding to leave
# no doubt; each one more costs partial sort time.
CANDIDATE_MARGIN = 2


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
    # float64 intermediate, and the square of it, are what bound the block.
    row_bytes = 8 * n_centers * max(dim, 1) * 2
    for rows in row_blocks(len(embeddings), row_bytes, working_memory):
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


def kth_neighbor_distances(
    embeddings, reference, n_neighbors, *, skip_self=False, working_memory=None, return_indices=False, units=None
):
    """Squared distance of each embedding to its ``n_neighbors``-th nearest reference embedding.

    The distances are exact (to float64 rounding) and found in two steps per
    block of embeddings. A float32 matrix product about the reference's mean
    ranks every reference embedding; the nearest few by that ranking (two
    more than the rank sought) are then measured exactly, in float64 and in
    the difference form, so that compact classes far from the origin keep
    the digits of their small distances. Where float32 rounding could have
    left the true neighbour out of those candidates (classes far apart
    compared to their spread), the ranking is redone in float64 for those
    rows.

    Parameters
    ----------
    embeddings : ndarray of shape (n_samples, dim)
    reference : ndarray of shape (n_reference, dim)
    n_neighbors : int
        The neighbour rank, from 1.
    skip_self : bool, default=False
        Each embedding is a row of the reference (the reference itself, or
        some of its rows): its own row, at distance 0, is left out of its
        neighbours, as a new sample would be.
    working_memory : float, default=None
        Memory budget in MiB of one block of distances (scikit-learn's
        ``working_memory``; None means the global setting).
    return_indices : bool, default=False
        Also return the rows of the ``n_neighbors`` nearest references.
    units : ndarray of shape (dim,), default=None
        Each dimension's unit: the distances are those of the rows divided
        by it. Each block is divided in float64 as it is converted, so no
        scaled copy of ``embeddings`` is made.

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
    indices : ndarray of int64 of shape (n_samples, n_neighbors)
        Only with ``return_indices``: each sample's nearest references,
        nearest first (with ``skip_self``, a reference row that duplicates
        the sample may stand in for it among the ties at distance 0).
    """
    # A reference row is its own nearest neighbour, at distance zero: looking
    # one rank further leaves it out (the first of the indices).
    rank = n_neighbors + bool(skip_self)
    if not 0 < rank <= len(reference):
        raise ValueError(
            f"n_neighbors={n_neighbors} needs between 1 and the {len(reference) - bool(skip_self)} "
            "reference embeddings."
        )
    reference = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    if units is not None:
        units = torch.as_tensor(np.asarray(units, dtype=np.float64))
        reference = reference / units
    mean = reference.mean(dim=0)
    reference = reference - mean
    reference32 = reference.float()
    radius = float(reference.square().sum(1).max().sqrt())
    n_candidates = min(rank + CANDIDATE_MARGIN, len(reference))
    distances = np.empty(len(embeddings), dtype=np.float64)
    indices = np.empty((len(embeddings), rank), dtype=np.int64) if return_indices else None
    # A block holds, per row, a float32 row of partial distances to every
    # reference and the partial sort's work space, and the float64
    # differences from the row of each candidate (gathered, then
    # subtracted): on wide rows such as images, the larger part.
    row_bytes = 4 * len(reference) * 2 + 8 * reference.shape[1] * (2 * n_candidates + 1) + 8 * rank * return_indices
    for rows in row_blocks(len(embeddings), row_bytes, working_memory):
        block = torch.as_tensor(np.asarray(embeddings[rows], dtype=np.float64))
        block = (block if units is None else block / units) - mean
        kth, outside, nearest = _kth_among_candidates(block, reference32, reference, rank, n_candidates, return_indices)
        # Every reference left out of the candidates is at least ``outside``
        # away, give or take the float32 rounding.
        unsure = kth > outside - _float32_rounding(block, radius)
        if n_candidates < len(reference) and unsure.any():
            redone = _kth_among_candidates(block[unsure], reference, reference, rank, n_candidates, return_indices)
            kth[unsure] = redone[0]
            if return_indices:
                nearest[unsure] = redone[2]
        distances[rows] = kth.numpy()
        if return_indices:
            indices[rows] = nearest.numpy()
    if not return_indices:
        return distances
    return distances, indices[:, int(skip_self):]


def squared_distance_matrix(samples, reference):
    """Squared distances of ``samples`` to every ``reference`` row, as a float64 tensor.

    In the matrix-product form about the reference's mean: centred, float64
    keeps the ranking of rows far from the origin, which float32 misranked
    with a feature offset by 10^4. The whole matrix is returned: callers
    pass a block of samples at a time.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, dim)
    reference : ndarray of shape (n_reference, dim)

    Returns
    -------
    distances : torch.Tensor of float64 of shape (n_samples, n_reference)
    """
    reference = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    mean = reference.mean(dim=0)
    samples, reference = torch.as_tensor(np.asarray(samples, dtype=np.float64)) - mean, reference - mean
    products = torch.addmm(reference.square().sum(1), samples, reference.T, alpha=-2.0)
    return products.add_(samples.square().sum(1, keepdim=True)).clamp_(min=0.0)


def _kth_among_candidates(block, ranking_reference, reference, rank, n_candidates, return_indices=False):
    """The ``rank``-th exact squared distance among the nearest candidates by a cheaper ranking.

    ``ranking_reference`` is ``reference`` in the precision of the ranking.
    Returns that distance for each row of ``block``, the ranking's distance
    of the farthest candidate, and with ``return_indices`` the ``rank``
    nearest candidates' rows, nearest first (else None).
    """
    # A row's own squared norm shifts all its distances alike, so the ranking
    # needs only the reference's.
    squared_norms = ranking_reference.square().sum(1)
    partial = torch.addmm(squared_norms, block.to(ranking_reference.dtype), ranking_reference.T, alpha=-2.0)
    nearest = partial.topk(n_candidates, dim=1, largest=False, sorted=False)
    exact = (reference[nearest.indices] - block.unsqueeze(1)).square_().sum(2)
    outside = nearest.values.max(dim=1).values.double() + block.square().sum(1)
    if return_indices:
        ranked = exact.topk(rank, dim=1, largest=False, sorted=True)
        return ranked.values[:, -1], outside, nearest.indices.gather(1, ranked.indices)
    return exact.kthvalue(rank, dim=1).values, outside, None


def _float32_rounding(block, radius):
    """Bound on the float32 rounding of the ranking distances of ``block``, twice over.

    The product of rows of norm ``|q|`` with references within ``radius`` of
    their mean is off by at most ``(dim + 4) u (radius^2 + 2 |q| radius)``,
    with ``u`` float32's unit roundoff, inputs' rounding included.
    """
    unit_roundoff = 2.0**-24
    query_norms = block.square().sum(1).sqrt()
    return 2 * (block.shape[1] + 4) * unit_roundoff * (radius**2 + 2 * query_norms * radius)
