"""Explanations: each feature's share of a sample's anomaly score, and the values it was compared with.

A sample's score is its distance to the normal data, in the embedding and,
for ``"knn+input"`` and ``"knn+density"``, in input space too. The
explanation compares each feature with an *expected* value, and shares the
score out among the features by how far each one stands from its expected
value in each space.

- Rows of features: a feature's expected value is its mean over the 5
  reference rows nearest to the sample on the *other* features (k-nearest-
  neighbour regression). A value that is normal on its own but wrong for
  the rest of the row, a broken joint structure, stands far from it. In the
  embedding, a feature's part is how much the sample's k-NN distance falls
  when that feature alone takes its expected value (captum's
  ``FeatureAblation``); in input space, the squared difference from the
  expected value.
- Images: each pixel's expected value is that of the sample's
  ``n_neighbors_``-th nearest reference image, and the embedding's squared
  distance between the two is attributed to the pixels by integrated
  gradients (captum's) along the straight path from the reference image to
  the sample. A pixel-by-pixel counterfactual would cost a pass of the
  network per pixel.

With ``"knn+density"``, input space is measured in the score's units (the
detector's ``input_scales_``): the neighbours, and each feature's squared
difference from its expected value, are those of the score.

The mixed scores are geometric means of the two spaces' scaled distances:
each space holds half of the logarithm, so each gets half of the score
(``"knn+density"`` divides a row's input distance by its neighbours' own,
one factor for the whole row, which leaves the features' shares as they
are). A row's contributions then add up to its distance to the normal data,
``-score_samples``: within each half, the features share it in proportion
to their parts (the embedding's parts that are positive: a feature that
moved the embedding closer gets none). Weighing each space instead by its
own term of the score's logarithm, as far as it is positive, ranked the
corrupted features lower on all four tables of the benchmark below (on
Satellite 0.92 against 0.95 with one corrupted feature, on breast cancer
0.48 against 0.52).

The choice was measured (``benchmarks/faithfulness.py``: held-out rows
whose values of 1 to 3 features come from a row of another class; recall of
those features among the largest contributions). On Satellite, Vehicle,
wine and breast cancer, with one corrupted feature, an earlier version that
compared each row with its ``n_neighbors_``-th nearest reference row and
split the embedding's distance by integrated gradients named it first 0.34
to 0.83 of the time; comparing with the expected values, 0.49 to 0.95.
"""

import numpy as np
import torch
from sklearn import get_config
from sklearn.utils import Bunch

from ._anomaly_score import MIXED_SCORES, distances_to_normal, finite_distances, input_scales_of, input_units
from ._calibration import conformal_pvalues
from ._chunking import CACHE_BYTES, row_blocks
from ._distances import (
    center_distances,
    kth_neighbor_distances,
    nearest_candidates,
    squared_distance_matrix,
    squared_distance_rounding,
)

__all__ = ["DEFAULT_STEPS", "explain", "require_captum"]

#: Points of the Gauss-Legendre quadrature of integrated gradients (images).
#: On MLP and CNN encoders trained on digits, the attributions of 16 points
#: summed to the embedding distance within 1.4% (median over rows; 0.4% with
#: 64), and their three largest were those of 256 points in 98% of rows.
#: Each point costs a forward and a backward pass of every sample.
DEFAULT_STEPS = 16

#: Rows explained together at least, within working_memory. Each block
#: sets up its comparison with the whole reference once (centred in
#: float64, with its norms): a block of a single 28x28 image among 4,000
#: reference images spent more on that than on its integrated gradients.
#: On MNIST, blocks of 8 took explain from 62 to 26 times the time of
#: decision_function (from 47 to 31 with 1,000 references); 32 took 31.
MIN_BLOCK_ROWS = 8

#: Reference rows whose mean is a feature's expected value: on the four
#: tables of the faithfulness benchmark, 3, 5 and 10 ranked the corrupted
#: features alike (within 0.03), 1 lower.
EXPECTED_NEIGHBORS = 5

#: Features whose expected values share a search (``expected_values``:
#: groups of at most this many), and the candidates it keeps. Each group
#: costs a partial sort of the reference rows, and among 1,000 of them
#: torch's partial sort of fewer than 16 per row costs half as much as of
#: 16 or more. On Satellite's 36 features, groups of 4 and 13
#: candidates left 8% of the values to a full sort, 6 and 32 left 3%, 6 and
#: 13 28%; the first was the fastest, by 4% to 7%.
GROUP_FEATURES = 4
EXPECTED_CANDIDATES = 13

#: The share of a group's values left to the full sort beyond which a block
#: stops searching by groups: about where the searches stop paying (on
#: Gaussian rows with 20 features and 20,000 reference rows, 76% fell back
#: and the groups nearly doubled the time).
MAX_UNSURE = 0.5


def require_captum():
    """captum's attribution methods (``captum.attr``), or an ImportError that says how to install them."""
    try:
        import captum.attr
    except ImportError:
        raise ImportError('explain attributes scores with captum; install it with: pip install "ibdetect[explain]"') from None
    return captum.attr


def check_explainable(detector):
    """Raise a ValueError unless ``detector`` keeps the reference rows that explanations compare with."""
    if detector.anomaly_score_ == "distance":
        raise ValueError(
            "explain compares a sample with the rows of the k-NN reference, and anomaly_score='distance' "
            "keeps none; refit with anomaly_score='knn', 'knn+input' or 'knn+density' ('auto' picks one of "
            "the last two)."
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
    attributions = require_captum()
    images = detector.input_shape is not None and len(detector.input_shape) > 1
    compare = _ImageComparison(detector, attributions, n_steps, X) if images else _RowComparison(detector, attributions)
    # Input space in the score's units, divided in float64 as the score does.
    scales = input_scales_of(detector)
    reference = input_units(detector.reference_inputs_.astype(np.float64), scales)
    contributions = np.empty(X.shape)
    expected = np.empty(X.shape, dtype=np.float32)
    distances = np.empty(len(X))
    nearest = np.empty(len(X), dtype=np.int64)
    class_distances = np.empty((len(X), len(detector.centers_)))
    detector.net_.module_.eval()
    for rows in row_blocks(len(X), compare.row_bytes, min_rows=MIN_BLOCK_ROWS):
        block = X[rows]
        embeddings = detector.net_.embed(block)
        distances[rows] = finite_distances(distances_to_normal(detector, embeddings, block))
        class_distances[rows] = center_distances(embeddings, detector.centers_)
        # The input space's neighbours, which both kinds of expected value start from.
        units = input_units(block.astype(np.float64), scales)
        reference_distances = squared_distance_matrix(units, reference)
        nearest[rows] = reference_distances.kthvalue(detector.n_neighbors_, dim=1).indices.numpy()
        expected[rows] = compare.expected(units, reference, nearest[rows], reference_distances)
        differences = np.square(units - input_units(expected[rows].astype(np.float64), scales))
        halves = [compare.embedding_parts(block, expected[rows])]
        if detector.anomaly_score_ in MIXED_SCORES:
            halves.append(differences)
        contributions[rows] = distances[rows, None] * _mean_shares(halves, fallback=differences)
    nearest_class = class_distances.argmin(axis=1)
    return Bunch(
        contributions=contributions,
        distances=distances,
        expected=expected,
        nearest_normal=detector.reference_inputs_[nearest],
        nearest_class=detector.classes_[nearest_class],
        nearest_class_distance=class_distances[np.arange(len(X)), nearest_class],
        pvalues=(
            conformal_pvalues(detector.calibration_scores_, distances)
            if hasattr(detector, "calibration_scores_") else None
        ),
        feature_names=_feature_names(detector),
    )


class _RowComparison:
    """Rows of features: expected values by k-NN regression, the embedding's parts by counterfactuals."""

    def __init__(self, detector, attributions):
        self.detector = detector
        self.ablation = attributions.FeatureAblation(self._embedding_distance)
        # A row's float64 distances to every reference row, and at a time
        # those on a group of features and outside it (expected_values).
        self.row_bytes = 3 * 8 * len(detector.reference_inputs_)

    def expected(self, units, reference, nearest, reference_distances):
        """Each row's expected values, from its squared distances to the reference rows.

        ``units`` and ``reference`` are the rows and the reference rows in
        the score's input units, those of ``reference_distances``; the
        expected values are in the rows' own.
        """
        if reference.shape[1] == 1:
            # A single feature has no others to predict it from.
            return self.detector.reference_inputs_[nearest]
        expected = expected_values(units, reference, reference_distances, min(EXPECTED_NEIGHBORS, len(reference)))
        scales = input_scales_of(self.detector)
        return expected if scales is None else expected * scales

    def embedding_parts(self, block, expected):
        """How much each row's k-NN distance in the embedding falls when one feature takes its expected value.

        Each feature costs a pass of the network and a k-NN search, several
        features per pass. Trying only the features farthest from their
        expected values (16 of Satellite's 36) ranked the corrupted ones 0.02
        to 0.03 lower.

        Adding each feature's rise, how much the expected row's distance
        grows when the feature alone keeps the row's value (the other end of
        the Shapley value's coalitions), ranked the corrupted features higher
        with 2 or 3 of them (Satellite 0.915 against 0.879 with 3), but a
        network with re-drawn weights ranked them as well (0.916), and its
        ranking came closer to the trained network's (Spearman 0.33 to 0.43
        against 0.12 to 0.22): the rise measures a value's distance from its
        expected value more than what the network learned. Not kept.
        """
        detector = self.detector
        # A counterfactual row takes the network's activations: as many
        # features per pass as fill the cache, within working_memory.
        budget = min(CACHE_BYTES, get_config()["working_memory"] * 2**20)
        row_bytes = detector.net_.activation_bytes(block)
        falls = self.ablation.attribute(
            torch.as_tensor(block), baselines=torch.as_tensor(expected),
            perturbations_per_eval=max(1, min(block.shape[1], int(budget // (len(block) * row_bytes)))),
        )
        return np.maximum(falls.double().numpy(), 0.0)

    def _embedding_distance(self, inputs):
        embeddings = self.detector.net_.embed(inputs.numpy())
        detector = self.detector
        return torch.as_tensor(kth_neighbor_distances(embeddings, detector.reference_embeddings_, detector.n_neighbors_))


def expected_values(rows, reference, distances, n_neighbors):
    """Each feature's mean over the ``n_neighbors`` reference rows nearest to the row on the other features.

    ``distances`` are the squared distances of ``rows`` to ``reference`` on
    every feature (``_distances.squared_distance_matrix``); leaving a
    feature out subtracts its own term. The result is that of a partial
    sort of every reference row per feature, found with fewer where the
    data allow: a feature's nearest rows on the others are nearer still on
    the features outside its group, so the candidates nearest there, and a
    bound on the rest, settle many features of many rows
    (:func:`_expected_among_candidates`). The rest take the full partial
    sort. With fewer than two groups of features, the features outside a
    group say too little about the rest to settle any.
    """
    rows = torch.as_tensor(np.asarray(rows, dtype=np.float64))
    reference = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    expected = torch.empty_like(rows)
    unsure = torch.ones(rows.shape, dtype=torch.bool)
    n_features = rows.shape[1]
    if n_features >= 2 * GROUP_FEATURES and len(reference) > EXPECTED_CANDIDATES:
        rounding = squared_distance_rounding(rows, reference)
        for group in np.array_split(np.arange(n_features), -(-n_features // GROUP_FEATURES)):
            expected[:, group], unsure[:, group] = _expected_among_candidates(
                rows, reference, distances, rounding, group, n_neighbors
            )
            # Where most values fall back (rows far from every reference, or
            # in many dimensions), the groups' searches only add to the sorts.
            if unsure[:, group].float().mean() > MAX_UNSURE:
                break
    for feature in range(n_features):
        left = unsure[:, feature].nonzero().squeeze(1)
        if len(left):
            own = (rows[left, feature, None] - reference[None, :, feature]).square_()
            # The distances less the feature's own term, in ``own``'s memory:
            # no third matrix beside the block's distances.
            others = own.neg_().add_(distances if len(left) == len(rows) else distances.index_select(0, left))
            nearest = others.topk(n_neighbors, dim=1, largest=False).indices
            expected[left, feature] = reference[nearest, feature].mean(dim=1)
    return expected.numpy()


def _expected_among_candidates(rows, reference, distances, rounding, group, n_neighbors):
    """:func:`expected_values` of the features of ``group``, and where its candidates could not settle them.

    The distance on the features outside the group is at most that on all
    features but one of the group: the ``EXPECTED_CANDIDATES`` reference rows
    nearest outside the group, and a lower bound on every other row's
    distance there, show whether a feature's nearest rows on the other
    features are among them.

    Returns
    -------
    expected : torch.Tensor of shape (n_rows, len(group))
    unsure : torch.Tensor of bool of shape (n_rows, len(group))
        Where a reference row that is not a candidate could be nearer.
    """
    # The distance outside the group: all of it less the group's own part.
    outside = distances - squared_distance_matrix(rows[:, group], reference[:, group])
    candidates, beyond = nearest_candidates(
        outside, EXPECTED_CANDIDATES, rounding + squared_distance_rounding(rows[:, group], reference[:, group])
    )
    # (rows, group, candidates): the partial sort runs along contiguous memory.
    values = reference[:, group][candidates].transpose(1, 2).contiguous()
    others = distances.gather(1, candidates).unsqueeze(1) - (rows[:, group, None] - values).square()
    nearest = others.topk(n_neighbors, dim=2, largest=False)
    # ``others`` is off by up to the rounding of ``distances``: a row that is
    # not a candidate is surely farther only beyond that.
    unsure = nearest.values.max(dim=2).values >= (beyond - rounding).unsqueeze(1)
    return values.gather(2, nearest.indices).mean(dim=2), unsure


class _ImageComparison:
    """Images: the ``n_neighbors_``-th nearest reference image as expected, the embedding's parts by integrated gradients."""

    def __init__(self, detector, attributions, n_steps, X):
        self.detector = detector
        self.n_steps = n_steps
        self.gradients = attributions.IntegratedGradients(_EmbeddingDistance(detector.net_.module_))
        # Each row takes n_steps rows of the network's activations, and as
        # many of their gradients, beside its distances to the reference
        # (and the partial sort's copy of them and its indices).
        activations = detector.net_.activation_bytes(X[:1])
        self.row_bytes = 2 * n_steps * activations + 3 * 8 * len(detector.reference_inputs_)

    def expected(self, units, reference, nearest, reference_distances):
        return self.detector.reference_inputs_[nearest]

    def embedding_parts(self, block, expected):
        """Each pixel's part of the squared embedding distance from the expected image, by integrated gradients.

        A pixel whose part is negative, one that brought the embeddings
        closer, gets none: a row whose parts nearly cancel out would
        otherwise share its score out in large parts of both signs.
        """
        device = self.detector.net_.device
        baselines = torch.as_tensor(expected, device=device)
        with torch.no_grad():
            targets = self.detector.net_.module_(baselines)
        parts = self.gradients.attribute(
            torch.as_tensor(block, device=device), baselines=baselines, additional_forward_args=(targets,),
            n_steps=self.n_steps, method="gausslegendre",
        )
        return np.maximum(parts.detach().cpu().double().numpy(), 0.0)


class _EmbeddingDistance(torch.nn.Module):
    """Squared distance of each sample's embedding to a given embedding, the function that integrated gradients split."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x, target):
        return (self.module(x) - target).square().sum(dim=1)


def _mean_shares(halves, fallback):
    """The mean over the halves of each feature's share of its half, per row.

    A half whose parts add up to nothing in a row (whose counterfactuals all
    moved the sample away, say) leaves the row's score to the other halves;
    a row where none has any part is shared by the ``fallback`` parts, so
    that shares add up to 1 wherever some feature differs from its expected
    value.
    """
    shares = [np.nan_to_num(_shares(parts), nan=0.0, posinf=0.0, neginf=0.0) for parts in halves]
    counted = np.sum([np.any(share != 0, axis=1) for share in shares], axis=0)[:, None]
    # An overflowed row's parts are not numbers: its shares are unknown, 0.
    total = np.sum(shares, axis=0)
    mean = np.divide(total, counted, out=np.zeros_like(total), where=counted > 0)
    return np.where(counted > 0, mean, np.nan_to_num(_shares(fallback), nan=0.0, posinf=0.0, neginf=0.0))


def _shares(parts):
    """Each row's parts divided by their sum: the shares add up to 1, or are 0 where the parts add up to 0."""
    totals = parts.sum(axis=1, keepdims=True)
    return np.divide(parts, totals, out=np.zeros_like(parts), where=totals != 0)


def _feature_names(detector):
    names = getattr(detector, "feature_names_in_", None)
    return np.array([f"x{i}" for i in range(detector.n_features_in_)], dtype=object) if names is None else names
