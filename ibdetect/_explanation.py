"""Explanations: each feature's share of a sample's anomaly score, and the values it was compared with.

A sample's score is its distance to the normal data, in the embedding and,
for ``"knn+input"`` and ``"knn+density"``, in input space too. The
explanation compares each feature with an *expected* value, and shares the
score out among the features by how far each one stands from its expected
value in each space.

- Expected values. On rows of features, a feature's mean over the 5
  reference rows nearest to the sample on the *other* features (k-nearest-
  neighbour regression), each of their squared differences softly capped at
  the feature's standard deviation among the reference rows, so that one
  broken value cannot choose the neighbours of the rest. A value that is normal on its own but
  wrong for the rest of the row, a broken joint structure, stands far from
  it. On images, the pixels of the sample's ``n_neighbors_``-th nearest
  reference image.
- Input space: a feature's part is its squared difference from its
  expected value.
- The embedding: the squared distance between the embeddings of the sample
  and of its expected values, attributed to the features by integrated
  gradients (captum's) along the straight path from the expected values to
  the sample.

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

The choices were measured (``benchmarks/faithfulness.py``: held-out rows
whose values of 1 to 3 features come from a row of another class; recall of
those features among the largest contributions). On Satellite, Vehicle,
wine and breast cancer, with one corrupted feature, an earlier version that
compared each row with its ``n_neighbors_``-th nearest reference row named
it first 0.34 to 0.83 of the time; comparing with the expected values, 0.49
to 0.95. On rows, the embedding's parts were first each feature's
counterfactual (captum's ``FeatureAblation``: how much the k-NN distance
falls when the feature alone takes its expected value). They ranked the
corrupted features about as well as integrated gradients do, but cost a pass
of the network and a k-NN search per feature: 42 times ``decision_function``
on Satellite's 36 features.

The integrated gradients take 8 points of Gauss-Legendre quadrature by
default (``n_steps``), each a forward and a backward pass of every sample.
More points barely change which features rank highest: 8 named the same
three largest contributions as 256 in 92-100% of the rows of the four tables
(4 points: 87-97%) and in 91-95% of 300 digit images of unseen classes (16
points: 96-97%). On the benchmark, no recall moved by more than 0.016 from 2
to 16 points on the tables, nor by more than 0.001 from 8 to 16 on digit
images with a patch from another digit. What they cost does change: on
images the CNN's passes are most of explain's time, 16 times
``decision_function`` on 10,000 digits with 8 points against 29 with 16; on
Satellite's rows, 17 against 22.
"""

import numbers

import numpy as np
import torch
from sklearn.utils import Bunch, check_scalar

from ._anomaly_score import MIXED_SCORES, distances_to_normal, finite_distances, input_scales_of, input_units
from ._calibration import conformal_pvalues
from ._chunking import row_blocks
from ._distances import center_distances, squared_distance_matrix

__all__ = ["explain", "require_captum"]

#: Rows explained together at least, within working_memory. Each block
#: sets up its comparison with the whole reference once (centred in
#: float64, with its norms): a block of a single 28x28 image among 4,000
#: reference images spent more on that than on its integrated gradients.
#: On MNIST, blocks of 8 took explain from 62 to 26 times the time of
#: decision_function (from 47 to 31 with 1,000 references); 32 took 31.
#: Since a block's size counts only the distances against the cache (43
#: such images), this floor acts beyond about 20,000 reference rows.
MIN_BLOCK_ROWS = 8

#: Reference rows whose mean is a feature's expected value: on the four
#: tables of the faithfulness benchmark, 3, 5 and 10 ranked the corrupted
#: features alike (within 0.03), 1 lower.
EXPECTED_NEIGHBORS = 5

#: The soft cap on a feature's squared difference in the distances that find
#: another feature's expected value, in standard deviations of the feature
#: among the reference rows (``expected_values``). Uncapped, one broken value
#: picked the neighbours of every other feature's expected value. On the
#: four tables of the faithfulness benchmark, the mean recall over its twelve
#: cells rose from 0.66 uncapped to 0.69 (hard caps: 0.69 at 1, 0.67 at 2,
#: lower at 0.5), most where several values were broken (Vehicle with 3: 0.70
#: against 0.60), while breast cancer with one fell (0.51 against 0.55).
EXPECTED_CAP = 1.0

#: Reference rows nearest on all features among which the expected values
#: are sought first (``expected_values``). On Satellite's standardised rows,
#: 32 left 36% of the values to the full sort and took 3 times as long as
#: 64, which left 0.8%; 128 left none, no faster than 64.
EXPECTED_CANDIDATES = 64


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


def explain(detector, X, n_steps):
    """The explanation of ``detector``'s scores of the validated rows ``X``, as ``IBDeepDescription.explain`` returns it."""
    check_explainable(detector)
    images = detector.input_shape is not None and len(detector.input_shape) > 1
    check_scalar(n_steps, "n_steps", numbers.Integral, min_val=1)
    attributions = require_captum()
    detector.net_.module_.eval()
    compare = (_ImageComparison if images else _RowComparison)(detector, attributions, n_steps, X)
    # Input space in the score's units, divided in float64 as the score does.
    scales = input_scales_of(detector)
    reference = input_units(detector.reference_inputs_.astype(np.float64), scales)
    contributions = np.empty(X.shape)
    expected = np.empty(X.shape, dtype=np.float32)
    distances = np.empty(len(X))
    nearest = np.empty(len(X), dtype=np.int64)
    class_distances = np.empty((len(X), len(detector.centers_)))
    for rows in row_blocks(len(X), compare.row_bytes, min_rows=MIN_BLOCK_ROWS, cached_bytes=compare.cached_bytes):
        block = X[rows]
        embeddings = detector.net_.embed(block)
        distances[rows] = finite_distances(distances_to_normal(detector, embeddings, block))
        class_distances[rows] = center_distances(embeddings, detector.centers_)
        # The input space's neighbours, which both kinds of expected value start from.
        units = input_units(block.astype(np.float64), scales)
        reference_distances = squared_distance_matrix(units, reference)
        nearest[rows] = reference_distances.kthvalue(detector.n_neighbors_, dim=1).indices.numpy()
        expected[rows] = compare.expected(units, reference, nearest[rows])
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


class _Comparison:
    """The embedding's parts of a sample's score, by integrated gradients from its expected values."""

    def __init__(self, detector, attributions, n_steps, X):
        self.detector = detector
        self.n_steps = n_steps
        self.gradients = attributions.IntegratedGradients(_EmbeddingDistance(detector.net_.module_))
        # Each row takes n_steps rows of the network's activations, and as
        # many of their gradients, beside its float64 distances to every
        # reference row, with a partial sort's copy and its indices (the
        # expected values of rows work in blocks of their own). Only the
        # distances need to stay in the cache: their sorts are bound by
        # memory traffic, while the network's passes run faster on larger
        # batches (with 16 points, 8x8 digits: 27 times decision_function,
        # against 37 when the activations counted too; MNIST, 28 either way).
        activations = detector.net_.activation_bytes(X[:1])
        self.cached_bytes = 3 * 8 * len(detector.reference_inputs_)
        self.row_bytes = 2 * n_steps * activations + self.cached_bytes

    def embedding_parts(self, block, expected):
        """Each feature's part of the squared embedding distance from the expected values, by integrated gradients.

        A feature whose part is negative, one that brought the embeddings
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


class _RowComparison(_Comparison):
    """Rows of features: each feature's expected value by k-NN regression on the others."""

    def expected(self, units, reference, nearest):
        """Each row's expected values.

        ``units`` and ``reference`` are the rows and the reference rows in
        the score's input units; the expected values are in the rows' own.
        """
        if reference.shape[1] == 1:
            # A single feature has no others to predict it from.
            return self.detector.reference_inputs_[nearest]
        expected = expected_values(units, reference, min(EXPECTED_NEIGHBORS, len(reference)))
        scales = input_scales_of(self.detector)
        return expected if scales is None else expected * scales


def expected_values(rows, reference, n_neighbors):
    """Each feature's mean over the ``n_neighbors`` reference rows nearest to the row on the other features.

    Distances on the other features add up each feature's squared difference
    ``d^2`` softly capped, ``d^2 c / (d^2 + c)`` with ``c = (EXPECTED_CAP *
    s)^2`` and ``s`` the feature's standard deviation among the reference
    rows: about ``d^2`` where small, never more than ``c``, and rising all
    the way (rows far from every reference on the other features still rank
    their neighbours rather than tie at a hard cap). A feature far off (a
    broken value) then weighs little more than one ordinarily different, and
    cannot choose the neighbours that the other features' expected values
    come from.

    The result is that of a partial sort of every reference row per feature,
    found with fewer: the ``EXPECTED_CANDIDATES`` reference rows nearest on
    all features hold a feature's nearest rows on the others wherever those
    are nearer than the candidates' farthest less the feature's cap, the
    most that leaving the feature out can take off any other row's distance.
    The rest take the full sort.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
    reference : ndarray of shape (n_reference, n_features)
    n_neighbors : int
        At most ``n_reference``.

    Returns
    -------
    expected : ndarray of float64 of shape (n_rows, n_features)
    """
    rows = torch.as_tensor(np.asarray(rows, dtype=np.float64))
    reference = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    # Differences in float32, about the reference's mean (where they keep the
    # digits of rows far from the origin): half the memory traffic of
    # float64, and most of explain's time on rows is spent here.
    mean = reference.mean(dim=0)
    rows32, reference32 = (rows - mean).float(), (reference - mean).float()
    # 1 / (1/d^2 + 1/c): d^2 c / (d^2 + c) without a NaN where d^2 or c
    # overflows float32 (values beyond 1e19), 0 where d is 0; a constant
    # feature's cap is 0, kept out of the division by the smallest positive.
    caps = (EXPECTED_CAP * reference.std(dim=0, correction=0)).square().float().clamp_(min=torch.finfo(torch.float32).tiny)
    inverse_caps = caps.reciprocal()
    n_candidates = min(EXPECTED_CANDIDATES, len(reference))
    expected = torch.empty_like(rows)
    # A row holds its capped differences from every reference row, and per
    # feature its candidates' values, indices and distances on the others.
    blocks = row_blocks(len(rows), rows.shape[1] * (4 * len(reference) + (8 + 8 + 4) * n_candidates))
    # Computed in place in one buffer: fresh tensors of that size cost the
    # time of mapping their memory, about half of the whole.
    buffer = torch.empty((blocks[0].stop, *reference.shape), dtype=torch.float32)
    for block in blocks:
        capped = buffer[: block.stop - block.start]
        torch.sub(rows32[block, None, :], reference32, out=capped)
        capped.square_().reciprocal_().add_(inverse_caps).reciprocal_()
        distances = capped.sum(dim=2)
        candidates = distances.topk(n_candidates, dim=1, largest=False)
        index = candidates.indices.unsqueeze(2).expand(-1, -1, rows.shape[1])
        # (rows, candidates, features): each candidate's distance on the features but one.
        others = candidates.values.unsqueeze(2) - capped.gather(1, index)
        nearest = others.topk(n_neighbors, dim=1, largest=False)
        expected[block] = reference[candidates.indices].gather(1, nearest.indices).mean(dim=1)
        if n_candidates == len(reference):
            continue
        # Every other row is at least as far on all features as the farthest
        # candidate, give or take the rounding of the sums.
        beyond = candidates.values.max(dim=1).values * (1 - 4 * rows.shape[1] * 2.0**-24)
        unsure = nearest.values.max(dim=1).values >= beyond.unsqueeze(1) - caps
        for feature in unsure.any(dim=0).nonzero().flatten().tolist():
            left = unsure[:, feature].nonzero().flatten()
            full = (distances[left] - capped[left, :, feature]).topk(n_neighbors, dim=1, largest=False).indices
            expected[block.start + left, feature] = reference[full, feature].mean(dim=1)
    return expected.numpy()


class _ImageComparison(_Comparison):
    """Images: the ``n_neighbors_``-th nearest reference image as expected."""

    def expected(self, units, reference, nearest):
        return self.detector.reference_inputs_[nearest]


class _EmbeddingDistance(torch.nn.Module):
    """Sum of the squared distances of the samples' embeddings to given ones, the function that integrated gradients split."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x, target):
        # One number for the whole batch: captum asks autograd for the
        # gradient of each sample's output, a tuple whose bookkeeping took
        # longer than the backward pass itself, and the gradient of the sum
        # is the same one (autograd adds the outputs' gradients up). Same
        # attributions in a third of the time (4 points, 10,000 rows of 13
        # features).
        return (self.module(x) - target).square().sum().reshape(1)


def _mean_shares(halves, fallback):
    """The mean over the halves of each feature's share of its half, per row.

    A half whose parts add up to nothing in a row (whose positive parts are
    none, say) leaves the row's score to the other halves;
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
