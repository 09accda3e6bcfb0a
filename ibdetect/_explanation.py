"""Explanations: each feature's share of a sample's anomaly score, and the normal row it was measured against.

A k-NN score measures a sample against its ``n_neighbors_``-th nearest
reference rows. The explanation compares the sample with one normal row,
its ``n_neighbors_``-th nearest reference row in input space, and splits the
score between the features along that comparison.

- The input space's squared distance to that row (``"knn+input"``) is a sum
  over features, split exactly.
- In the embedding, the squared distance ``g(x) = |f(x) - f(r)|^2`` to the
  row ``r`` is attributed to the features by integrated gradients (captum's)
  along the straight path from ``r``, where ``g`` is 0, to the sample: each
  feature's part is how far it moves the embedding away from the normal
  row's. The parts add up to ``g(x)``, up to the quadrature's error.

The row is the input space's neighbour rather than the embedding's: the
embedding's nearest rows can lie in another part of the class, and the path
from one of them changes every feature that tells the two apart, which
then shares in the score although the sample is normal there. On three
Gaussian classes with one feature moved out of range, the moved feature
came first in 8 to 9 rows of 10 from the embedding's neighbour, in 10 of 10
from the input space's.

The embedding's part is scaled to the score's own distance: a sample's
score is its distance to the normal data, and the features share it in
proportion to their parts. ``"knn+input"`` is the geometric mean of the two
spaces' scaled distances: each space holds half of its logarithm, so each
gets half of the score. A row's contributions add up to its distance to
the normal data, ``-score_samples``.
"""

import numpy as np
import torch
from sklearn.utils import Bunch

from ._anomaly_score import distances_to_normal, finite_distances
from ._calibration import conformal_pvalues
from ._chunking import row_blocks
from ._distances import center_distances, kth_neighbor_indices

__all__ = ["DEFAULT_STEPS", "explain", "require_captum"]

#: Points of the Gauss-Legendre quadrature of integrated gradients. On MLP
#: and CNN encoders trained on digits, the attributions of 16 points summed
#: to the embedding distance within 1.4% (median over rows; 0.4% with 64),
#: and their three largest were those of 256 points in 98% of rows. Each
#: point costs a forward and a backward pass of every sample.
DEFAULT_STEPS = 16

# Rows explained together: each costs n_steps rows of activations and
# gradients. On digits, blocks of 1 to 4 MiB of inputs took half the time
# of 16 MiB with the CNN and no longer with the MLP.
_BLOCK_BYTES = 2 * 2**20


def require_captum():
    """captum's IntegratedGradients, or an ImportError that says how to install it."""
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        raise ImportError('explain attributes scores with captum; install it with: pip install "ibdetect[explain]"') from None
    return IntegratedGradients


def check_explainable(detector):
    """Raise a ValueError unless ``detector`` keeps the reference rows that explanations compare with."""
    if detector.anomaly_score_ == "distance":
        raise ValueError(
            "explain compares a sample with the rows of the k-NN reference, and anomaly_score='distance' "
            "keeps none; refit with anomaly_score='knn' or 'knn+input' (the default on flat rows)."
        )
    if not hasattr(detector, "reference_inputs_"):
        raise ValueError(
            "This detector keeps no rows of its k-NN reference: it was fitted by a version of ibdetect before "
            "0.3, or saved with training_rows=False. Refit it (or save it with its training rows) to explain "
            "its scores."
        )


def explain(detector, X, n_steps=DEFAULT_STEPS):
    """The explanation of ``detector``'s scores of the validated rows ``X``, as ``IBDeepDescription.explain`` returns it."""
    check_explainable(detector)
    integrated_gradients = require_captum()
    contributions = np.empty(X.shape)
    distances = np.empty(len(X))
    nearest = np.empty(len(X), dtype=np.int64)
    class_distances = np.empty((len(X), len(detector.centers_)))
    gradients = integrated_gradients(_EmbeddingDistance(detector.net_.module_))
    detector.net_.module_.eval()
    for rows in row_blocks(len(X), 4 * X.shape[1] * n_steps * 4, _BLOCK_BYTES / 2**20):
        block = X[rows]
        embeddings = detector.net_.embed(block)
        distances[rows] = finite_distances(distances_to_normal(detector, embeddings, block))
        class_distances[rows] = center_distances(embeddings, detector.centers_)
        nearest[rows] = kth_neighbor_indices(block, detector.reference_inputs_, detector.n_neighbors_)
        shares = _embedding_shares(detector, gradients, block, nearest[rows], n_steps)
        if detector.anomaly_score_ == "knn+input":
            parts = np.square(block.astype(np.float64) - detector.reference_inputs_[nearest[rows]])
            shares = (shares + _shares(parts)) / 2
        # An overflowed row's gradients are not numbers: its share is then unknown, 0.
        contributions[rows] = distances[rows, None] * np.nan_to_num(shares, nan=0.0, posinf=0.0, neginf=0.0)
    nearest_class = class_distances.argmin(axis=1)
    return Bunch(
        contributions=contributions,
        distances=distances,
        nearest_class=detector.classes_[nearest_class],
        nearest_class_distance=class_distances[np.arange(len(X)), nearest_class],
        nearest_normal=detector.reference_inputs_[nearest],
        pvalues=(
            conformal_pvalues(detector.calibration_scores_, distances)
            if hasattr(detector, "calibration_scores_") else None
        ),
        feature_names=_feature_names(detector),
    )


class _EmbeddingDistance(torch.nn.Module):
    """Squared distance of each sample's embedding to a given embedding, the function that integrated gradients split."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x, target):
        return (self.module(x) - target).square().sum(dim=1)


def _embedding_shares(detector, gradients, block, nearest, n_steps):
    """Each feature's share of the embedding distance of each row of ``block`` to the reference row ``nearest``."""
    device = detector.net_.device
    inputs = torch.as_tensor(block, device=device)
    baselines = torch.as_tensor(detector.reference_inputs_[nearest], device=device)
    targets = torch.as_tensor(detector.reference_embeddings_[nearest], device=device)
    attributions = gradients.attribute(
        inputs, baselines=baselines, additional_forward_args=(targets,), n_steps=n_steps, method="gausslegendre"
    )
    return _shares(attributions.detach().cpu().double().numpy())


def _shares(parts):
    """Each row's parts divided by their sum: the shares add up to 1, or are 0 where the parts add up to 0."""
    totals = parts.sum(axis=1, keepdims=True)
    return np.divide(parts, totals, out=np.zeros_like(parts), where=totals != 0)


def _feature_names(detector):
    names = getattr(detector, "feature_names_in_", None)
    return np.array([f"x{i}" for i in range(detector.n_features_in_)], dtype=object) if names is None else names
