"""Explanations: each feature's share of a sample's anomaly score, and the values it was compared with.

A sample's score is its distance to the normal data, in the embedding and,
for ``"knn+input"`` and ``"knn+density"``, in input space too. The
explanation compares each feature with an *expected* value, and shares the
score out among the features by how far each one stands from its expected
value in each space.

- Expected values. On rows of features, what the rest of the row predicts
  for the feature under a Gaussian of the reference rows (Ledoit-Wolf's
  shrunk covariance): its conditional mean given the other features, and
  its conditional standard deviation, the *spread*. A value that is
  normal on its own but wrong for the rest of the row, a broken joint
  structure, stands many spreads from it. So that a broken value predicts
  none of the others, a few features are first found broken (the row is
  likelier as normal values joined with values from another row there than
  as one normal row) and left out of the others' predictions. A row still
  unlikely without them came from elsewhere as a whole (its values predict
  one another, and its few normal ones would look out of place): each value
  is compared with the reference rows' mean and standard deviation, and
  every one is out of place (``row_from_elsewhere``). On images,
  the pixels of the sample's ``n_neighbors_``-th nearest reference image,
  with unit spread.
- Input space: a feature's part is its squared distance from its expected
  value, in spreads, times the probability that its value came from
  another row (``out_of_place``, rows only): the row is read as a normal
  row with none or up to 3 of its values replaced by another normal row's,
  and a value's probability is the posterior weight of the replaced sets
  that hold it. Where features predict nothing of each other, the
  probabilities stay at or below the prior, within about a factor of two
  of each other, and the parts follow the squared distances.
- The embedding: the squared distance between the embeddings of the sample
  and of the row it likely was before any value came from elsewhere (each
  value moved toward its expected value by its ``out_of_place``
  probability, or by the prior where that is larger; on images, the
  expected image), attributed to the features by integrated gradients
  (captum's) along the straight path between them.

With ``"knn+density"``, input space is measured in the score's units (the
detector's ``input_scales_``): the Gaussian is that of the reference rows
in those units, and an image's spread is the score's unit of each pixel.

The mixed scores are geometric means of the two spaces' scaled distances:
each space holds half of the logarithm, so each gets half of the score
(``"knn+density"`` divides a row's input distance by its neighbours' own,
one factor for the whole row, which leaves the features' shares as they
are). A row's contributions then add up to its distance to the normal data,
``-score_samples``: within each half, the features share it in proportion
to their parts (the embedding's parts that are positive: a feature that
moved the embedding closer gets none). Weighing each space instead by its
own term of the score's logarithm, as far as it is positive, ranked the
corrupted features lower on all four tables of the benchmark below, with
the earlier k-NN expected values (on Satellite 0.92 against 0.95 with one
corrupted feature, on breast cancer 0.48 against 0.52).

The choices were measured (``benchmarks/faithfulness.py``: held-out rows
whose values of 1 to 3 features come from a row of another class; recall of
those features among the largest contributions). On Satellite, Vehicle,
wine and breast cancer, with one corrupted feature, an early version that
compared each row with its ``n_neighbors_``-th nearest reference row named
it first 0.34 to 0.83 of the time. The expected values that followed, each
feature's mean over the 5 reference rows nearest on the others, 0.51 to
0.94: k-nearest-neighbour regression from a few hundred rows blurs the
linear relations between features that make a wrong value stand out
(breast cancer's radius, perimeter and area move almost in step). The
Gaussian's, 0.60 to 0.99 (0.83 on breast cancer, against 0.51), and
higher with 2 and 3 corrupted features on breast cancer and Satellite; on
wine with 3 and Vehicle with 2 and 3 it ranked them lower (wine 0.54
against 0.60, Vehicle 0.72 and 0.68 against 0.73 and 0.70): there a few
rows of two classes pull the shared covariance between them. A Gaussian
per known class ranked them lower still on wine (about 45 rows each).
Weighing each distance by ``out_of_place`` raised all twelve cells of the
four tables with 1 to 3 corrupted features (wine with one 0.633 against
0.596, Vehicle 0.870 against 0.820; Satellite with three 0.965 against
0.952):
a value far from its prediction counts for less where other values
account for the row as well, for instance where it was predicted from the
corrupted value itself. The probabilities alone as the input parts ranked
them lower once mixed with the embedding's (Vehicle with one 0.83, wine
0.61), and would give a value extreme on its own, among features that
predict nothing of one another, no more than any other. Before
``out_of_place``, taking in the expected values only for the broken
features (the path of the integrated gradients starting from the row with
just those repaired) ranked them a little higher on Vehicle (0.87 against
0.82 with one), but
left the embedding's parts nearly the same for a network with re-drawn
weights (rank correlation 0.88 to 0.98) and gave none to a value extreme in
every way, which no feature's relations single out. On rows, the
embedding's parts were first each feature's
counterfactual (captum's ``FeatureAblation``: how much the k-NN distance
falls when the feature alone takes its expected value). They ranked the
corrupted features about as well as integrated gradients do, but cost a pass
of the network and a k-NN search per feature: 42 times ``decision_function``
on Satellite's 36 features.

The integrated gradients' path then started from the expected values
themselves, every feature moved at once. It credited the features the
network reads most, however far each stood from its expected value in
spreads: the embedding's half ranked the corrupted features below the
input half on all twelve cells (Vehicle with one 0.687 against 0.891),
and took ``explain`` below it on nine, by up to 0.047. Starting from the
row as it likely was (``_likely_clean``) raised every cell of ``explain``
(Vehicle 0.888, 0.785 and 0.740 with 1 to 3, from 0.870, 0.744 and 0.698;
breast cancer with three 0.773, from 0.746); the input half alone now
ranks them higher on five cells, by at most 0.008.

Reading ``out_of_place`` under a mixture of one Gaussian per known class
(each reference row in the class of its nearest centre) found wine's two
and three corrupted values more often (0.698 and 0.650 against 0.665 and
0.582, ranking by the probabilities alone) and Vehicle's three less often
(0.733 against 0.754), all within the spread over splits: one Gaussian was
kept.

The integrated gradients take 8 points of Gauss-Legendre quadrature by
default (``n_steps``), each a forward and a backward pass of every sample.
More points barely change which features rank highest (measured with the
k-NN expected values on rows): 8 named the same
three largest contributions as 256 in 92-100% of the rows of the four tables
(4 points: 87-97%) and in 91-95% of 300 digit images of unseen classes (16
points: 96-97%). On the benchmark, no recall moved by more than 0.016 from 2
to 16 points on the tables, nor by more than 0.001 from 8 to 16 on digit
images with a patch from another digit. What they cost does change: on
images the CNN's passes are most of explain's time, 16 times
``decision_function`` on 10,000 digits with 8 points against 29 with 16.
On the tables' rows, 9 to 13 times with 8 points, ``out_of_place`` included
(22 on wine, whose 10,000 rows scored in 25 milliseconds).
"""

import itertools
import numbers

import numpy as np
import torch
from scipy.special import chdtrc
from sklearn.covariance import ledoit_wolf
from sklearn.utils import Bunch, check_scalar

from ._anomaly_score import (
    MIXED_SCORES, distances_to_normal, embedding_units, finite_distances, input_scales_of, input_units,
)
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

#: The most features that a row's expected values leave out as broken
#: (``_ReferenceGaussian.conditionals``). On the four tables of the
#: faithfulness benchmark, with 1 to 3 corrupted features, a limit of 3
#: and none at all ranked them alike (within 0.012); the limit bounds the
#: work on rows broken everywhere.
MAX_BROKEN = 8

#: Standard deviations beyond which a value chosen as broken is taken out of
#: its row's products with the precision matrix by computing them afresh
#: rather than by subtracting its share, which would cost the others about
#: as many of their 16 significant digits as it has digits (here 4).
EXACT_PULLS_BEYOND = 1e4

#: Features of a row among which ``_ReferenceGaussian.out_of_place`` looks
#: for values that came from elsewhere: those whose value alone is likeliest
#: to have, by its likelihood ratio. On the faithfulness benchmark's four
#: tables, 8 and 12 ranked the changed features alike (mean recall of
#: ``explain`` 0.792 and 0.791 over the twelve cells); on 10,000 rows of 36
#: features, 12 took 1.1 seconds and 8 took 0.4.
OUT_OF_PLACE_CANDIDATES = 8

#: The most values of a row that ``out_of_place`` takes to have come from
#: elsewhere together (its closed forms go up to 3). With sets of one value,
#: ranking by the probabilities found Vehicle's three changed values 0.59
#: of the time; with sets of up to three, 0.75 (the distances from the
#: expected values: 0.72).
OUT_OF_PLACE_SET_SIZE = 3

#: Standard deviations at which ``out_of_place`` clips a value. A set and
#: its complement have the same likelihood ratio, and a value of 1e20 puts
#: ratios of 1e39 apart by rounding errors larger than the prior's
#: preference for the smaller set: the huge value came out as the one value
#: in place. Clipped, every ratio keeps 8 of its 16 digits, and a value that
#: far off is out of place under any reading.
OUT_OF_PLACE_CLIP = 1e4

#: The prior probability of each value of a row having come from elsewhere,
#: in ``out_of_place``. Without one (a half), a set of values is a priori
#: as likely as a smaller one: where three features move together and one
#: is wrong, the other two being wrong together explains the row as well.
#: On the benchmark's tables a tenth and a half ranked alike (mean recall
#: of ``explain`` 0.792 and 0.794).
OUT_OF_PLACE_PRIOR = 0.1

#: How unlikely a row's unbroken values must be, together, under the
#: reference rows' Gaussian for the row to be read as having come from
#: elsewhere as a whole (``_ReferenceGaussian.conditionals``). A row far off
#: in many values together, such as a malignant tumour large in every
#: measure, is no normal row with a few values from another: its values
#: predict one another, and against those predictions its few normal values
#: stood out most. On the faithfulness benchmark's rows of unseen classes,
#: the largest contribution went to one of the row's three values farthest
#: from the mean (in standard deviations), which this reading favours by
#: construction, for 0.45 of breast cancer's malignant rows, 41% of them
#: read so, against 0.18 before (an IsolationForest with shap: 0.40);
#: Satellite 0.26 against 0.19 (0.42). On its corrupted normal rows, a
#: level of 1e-12 moved recall by 0.004 or less, 1e-6 by up to 0.008 (more
#: held-out rows read so). The chi-squared distribution is only a
#: yardstick: the shrunk covariance puts held-out normal rows closer than
#: it expects.
FROM_ELSEWHERE_LEVEL = 1e-12

#: Added to the standardised covariance's diagonal, so that a feature
#: constant among the reference rows still has a variance to divide by.
VARIANCE_FLOOR = 1e-9


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
            "keeps none (the default where labels mark known anomalies with -1); refit with "
            "anomaly_score='knn', 'knn+input' or 'knn+density'."
        )
    if not hasattr(detector, "reference_inputs_"):
        raise ValueError(
            "This detector keeps no rows of its k-NN reference: it was fitted by a version of ibdetect before "
            "0.3, or saved with training_rows=False. Refit it (or save it with its training rows) to explain "
            "its scores."
        )


def on_images(detector):
    """Whether ``detector`` reads images (an ``input_shape`` of more than one axis): explained pixel by pixel."""
    return detector.input_shape is not None and len(detector.input_shape) > 1


def explain(detector, X, n_steps):
    """The explanation of ``detector``'s scores of the validated rows ``X``, as ``IBDeepDescription.explain`` returns it."""
    check_explainable(detector)
    images = on_images(detector)
    check_scalar(n_steps, "n_steps", numbers.Integral, min_val=1)
    attributions = require_captum()
    detector.net_.module_.eval()
    # Input space in the score's units, divided in float64 as the score does.
    scales = input_scales_of(detector)
    reference = input_units(detector.reference_inputs_.astype(np.float64), scales)
    compare = (_ImageComparison if images else _RowComparison)(detector, attributions, n_steps, X, reference)
    contributions = np.empty(X.shape)
    out_of_place = None if images else np.empty(X.shape)
    from_elsewhere = None if images else np.empty(len(X), dtype=bool)
    expected = np.empty(X.shape, dtype=np.float32)
    spread = np.empty(X.shape, dtype=np.float32)
    distances = np.empty(len(X))
    nearest = np.empty(len(X), dtype=np.int64)
    class_distances = np.empty((len(X), len(detector.centers_)))
    for rows in row_blocks(len(X), compare.row_bytes, min_rows=MIN_BLOCK_ROWS, cached_bytes=compare.cached_bytes):
        block = X[rows]
        embeddings = detector.net_.embed(block)
        distances[rows] = finite_distances(distances_to_normal(detector, embedding_units(detector, embeddings), block))
        class_distances[rows] = center_distances(embeddings, detector.centers_)
        units = input_units(block.astype(np.float64), scales)
        reference_distances = squared_distance_matrix(units, reference)
        nearest[rows] = reference_distances.kthvalue(detector.n_neighbors_, dim=1).indices.numpy()
        expected[rows], spread[rows], misplaced, far = compare.values(units, nearest[rows])
        # Each feature's distance from its expected value, in its spreads,
        # from the values returned (so that they give the same parts).
        differences = np.square((block - expected[rows].astype(np.float64)) / spread[rows])
        input_parts = differences
        if misplaced is not None:
            out_of_place[rows], from_elsewhere[rows], input_parts = misplaced, far, differences * misplaced
        halves = [compare.embedding_parts(block, _likely_clean(block, expected[rows], misplaced))]
        if detector.anomaly_score_ in MIXED_SCORES:
            halves.append(input_parts)
        contributions[rows] = distances[rows, None] * _mean_shares(halves, fallback=differences)
    nearest_class = class_distances.argmin(axis=1)
    return Bunch(
        contributions=contributions,
        distances=distances,
        expected=expected,
        expected_spread=spread,
        out_of_place=out_of_place,
        row_from_elsewhere=from_elsewhere,
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
    """The embedding's parts of a sample's score, by integrated gradients from a baseline row.

    A subclass's ``values(units, nearest)`` takes a block of rows in the
    score's input units and the index of each one's ``n_neighbors_``-th
    nearest reference row, and returns each feature's expected value and
    spread, in the rows' own units, each value's probability of having come
    from another row (None where it reads none) and whether each row as a
    whole came from elsewhere (None likewise).
    """

    def __init__(self, detector, attributions, n_steps, X, reference):
        self.detector = detector
        self.scales = input_scales_of(detector)
        self.n_steps = n_steps
        self.units = lambda embeddings: embedding_units(detector, embeddings)
        self.gradients = attributions.IntegratedGradients(_EmbeddingDistance(detector.net_.module_, self.units))
        # Each row takes n_steps rows of the network's activations, and as
        # many of their gradients, beside its float64 distances to every
        # reference row, with a partial sort's copy and its indices. Only the
        # distances need to stay in the cache: their sorts are bound by
        # memory traffic, while the network's passes run faster on larger
        # batches (with 16 points, 8x8 digits: 27 times decision_function,
        # against 37 when the activations counted too; MNIST, 28 either way).
        activations = detector.net_.activation_bytes(X[:1])
        self.cached_bytes = 3 * 8 * len(detector.reference_inputs_)
        self.row_bytes = 2 * n_steps * activations + self.cached_bytes

    def embedding_parts(self, block, baselines):
        """Each feature's part of the squared embedding distance from the baselines', by integrated gradients.

        A feature whose part is negative, one that brought the embeddings
        closer, gets none: a row whose parts nearly cancel out would
        otherwise share its score out in large parts of both signs.
        """
        device = self.detector.net_.device
        baselines = torch.as_tensor(baselines, device=device)
        with torch.no_grad():
            targets = self.units(self.detector.net_.module_(baselines))
        parts = self.gradients.attribute(
            torch.as_tensor(block, device=device), baselines=baselines, additional_forward_args=(targets,),
            n_steps=self.n_steps, method="gausslegendre",
        )
        return np.maximum(parts.detach().cpu().double().numpy(), 0.0)


class _RowComparison(_Comparison):
    """Rows of features: each feature's expected value given the rest of the row, under a Gaussian of the reference."""

    def __init__(self, detector, attributions, n_steps, X, reference):
        super().__init__(detector, attributions, n_steps, X, reference)
        self.gaussian = _ReferenceGaussian(reference)
        # Per row and step of the choice of broken features: a few arrays
        # of chosen features by all features, and of all features; and a few
        # dozen arrays of the sets that out_of_place weighs.
        n_sets = sum(len(sets) for sets in _subsets(OUT_OF_PLACE_CANDIDATES, OUT_OF_PLACE_SET_SIZE))
        self.row_bytes += 8 * reference.shape[1] * (4 * MAX_BROKEN + 16) + 8 * 32 * n_sets

    def values(self, units, nearest):
        expected, spread, _, far = self.gaussian.conditionals(units)
        out_of_place = self.gaussian.out_of_place(units)
        # A row that stays far from the normal rows with its broken values
        # set aside came from elsewhere as a whole: none of its values can
        # be predicted from the others, which are as far off. It is
        # compared with the normal rows' mean, value by value, every value
        # out of place.
        expected[far], spread[far], out_of_place[far] = self.gaussian.mean, self.gaussian.marginal_spread, 1.0
        if self.scales is not None:
            expected, spread = expected * self.scales, spread * self.scales
        return expected, spread, out_of_place, far


class _ReferenceGaussian:
    """A Gaussian of the reference rows, from which each feature of a row is predicted by the rest.

    Its covariance is Ledoit and Wolf's (scikit-learn's ``ledoit_wolf``) of
    the standardised reference rows: the sample covariance of tens of
    features from a few hundred rows is singular or nearly so, and shrinking
    it toward the identity keeps every conditional variance positive.
    """

    def __init__(self, reference):
        self.mean = reference.mean(axis=0)
        # A constant feature, whose rounded standard deviation need not be
        # 0, is scaled by its size instead: its standardised values are 0.
        constant = np.ptp(reference, axis=0) == 0
        self.scale = np.where(constant, np.maximum(np.abs(self.mean), 1.0), reference.std(axis=0))
        covariance, _ = ledoit_wolf((reference - self.mean) / self.scale)
        # The shrinkage vanishes with many rows, which would leave a constant
        # feature's variance at 0.
        covariance[np.diag_indices_from(covariance)] += VARIANCE_FLOOR
        self.covariance = torch.as_tensor(covariance)
        # Each feature's standard deviation under the Gaussian, its reference
        # spread but for a constant feature, whose scale is its size.
        self.marginal_spread = np.sqrt(covariance.diagonal()) * self.scale
        self.precision = torch.linalg.inv(self.covariance)

    def conditionals(self, rows, max_broken=MAX_BROKEN):
        """Each feature's expected value and spread given the rest of its row, and the features found broken.

        The broken features are chosen one at a time, each the feature whose
        value most raises the likelihood ratio of the row being normal
        values joined with values from elsewhere (in the features chosen),
        against it being one normal row, for as long as that ratio rises
        and at most ``max_broken``. A broken feature is then predicted from
        the unbroken ones, and an unbroken feature from the other unbroken
        ones: a broken value predicts none of the others.

        Parameters
        ----------
        rows : ndarray of float64 of shape (n_rows, n_features)
        max_broken : int

        Returns
        -------
        expected, spread : ndarray of float64 of shape (n_rows, n_features)
            Each feature's conditional mean and standard deviation.
        broken : ndarray of bool of shape (n_rows, n_features)
        far : ndarray of bool of shape (n_rows,)
            Whether the row stays unlikely with its broken features set
            aside: its unbroken values' squared Mahalanobis distance under
            the Gaussian, against the chi-squared distribution with as many
            degrees of freedom as values, is less likely than
            ``FROM_ELSEWHERE_LEVEL``. Never on rows of one feature.
        """
        z = torch.as_tensor((rows - self.mean) / self.scale)
        n_features = z.shape[1]
        means, variances = torch.empty_like(z), torch.empty_like(z)
        broken = torch.zeros(z.shape, dtype=torch.bool)
        rest_distances = torch.empty(len(z), dtype=z.dtype)
        rest_sizes = torch.empty(len(z), dtype=torch.long)
        # The rows still choosing, each with the same number of features
        # chosen, and their unbroken values times the precision matrix.
        left, chosen = torch.arange(len(z)), torch.empty((len(z), 0), dtype=torch.long)
        pulls = z @ self.precision
        while len(left):
            # Precision form: an unbroken feature's residual given the other
            # unbroken ones is kept[j] / kept_precision[j], and the broken
            # ones' means given the unbroken are -broken_means.
            unbroken = z[left].scatter(1, chosen, 0.0)
            kept, kept_precision, broken_means, broken_variances = _conditioned(pulls, self.precision, chosen)
            # kept holds the unbroken values times their own precision (the
            # broken ones marginalised out): with them, their squared
            # Mahalanobis distance, kept from the last round, the row's own.
            rest_distances[left] = (unbroken * kept).sum(dim=1)
            rest_sizes[left] = n_features - chosen.shape[1]
            more = torch.zeros(len(left), dtype=torch.bool)
            if chosen.shape[1] < min(max_broken, n_features - 1):
                # Each feature's deviation given the broken features alone.
                deviations, deviation_variances, _, _ = _conditioned(z[left], self.covariance, chosen)
                gains = 0.5 * (
                    kept.square() / kept_precision - deviations.square() / deviation_variances
                    - torch.log(kept_precision * deviation_variances)
                )
                gains.scatter_(1, chosen, -torch.inf)
                best, feature = gains.max(dim=1)
                more = best > 0
            done, stop = left[~more], chosen[~more]
            row_means = (unbroken - kept / kept_precision).scatter_(1, chosen, -broken_means)
            row_variances = kept_precision.reciprocal().scatter_(1, chosen, broken_variances)
            means[done], variances[done] = row_means[~more], row_variances[~more]
            broken[done] = torch.zeros(stop.shape[0], n_features, dtype=torch.bool).scatter_(1, stop, True)
            if not more.any():
                break
            left, chosen = left[more], torch.cat([chosen[more], feature[more, None]], dim=1)
            pulls = self._without_last_chosen(pulls[more], z[left], chosen)
        expected = self.mean + means.numpy() * self.scale
        far = (chdtrc(rest_sizes.numpy(), rest_distances.numpy()) < FROM_ELSEWHERE_LEVEL) & (n_features > 1)
        return expected, np.sqrt(variances.numpy()) * self.scale, broken.numpy(), far

    def _without_last_chosen(self, pulls, z, chosen):
        """``pulls`` (the rows' unbroken values times the precision matrix) with their last ``chosen`` value at 0.

        One product of a row and the precision matrix per chosen feature
        took most of the choice's time on wide rows (784 pixels); taking the
        chosen value's share out costs one row of it. Where that value is
        beyond ``EXACT_PULLS_BEYOND`` standard deviations, subtracting its
        share would lose the digits of the others (a value of 1e20 among
        values near 1): those rows' pulls are computed afresh.
        """
        last = chosen[:, -1]
        values = z.gather(1, last[:, None])
        pulls = pulls - values * self.precision[last]
        large = values.squeeze(1).abs() > EXACT_PULLS_BEYOND
        if large.any():
            pulls[large] = z[large].scatter(1, chosen[large], 0.0) @ self.precision
        return pulls

    def out_of_place(self, rows):
        """Each value's probability of having come from another row, given the rest of its row.

        A row is read as one normal row whose values in a set ``S`` of
        features (none, or up to ``OUT_OF_PLACE_SET_SIZE``) were replaced by
        another normal row's, each value a priori with probability
        ``OUT_OF_PLACE_PRIOR``. A set's likelihood ratio against none is
        ``p(x_S) / p(x_S | x_rest)``,
        high where the values are normal on their own but not for the rest
        of the row. A value's probability is the posterior weight of the sets
        that hold it. The sets weighed are every value alone, and the pairs
        and triples of the row's ``OUT_OF_PLACE_CANDIDATES`` values of
        highest ratio alone: a value of none of them has the weight of
        itself alone.

        Parameters
        ----------
        rows : ndarray of float64 of shape (n_rows, n_features)

        Returns
        -------
        probabilities : ndarray of float64 of shape (n_rows, n_features)
            All 0 on a row of a single feature, which has nothing to be
            out of place against.
        """
        z = np.clip((rows - self.mean) / self.scale, -OUT_OF_PLACE_CLIP, OUT_OF_PLACE_CLIP)
        n_candidates = min(OUT_OF_PLACE_CANDIDATES, z.shape[1])
        max_size = min(OUT_OF_PLACE_SET_SIZE, z.shape[1] - 1)
        if max_size < 1:
            return np.zeros(z.shape)
        covariance, precision = self.covariance.numpy(), self.precision.numpy()
        pulls = z @ precision
        log_odds = np.log(OUT_OF_PLACE_PRIOR / (1 - OUT_OF_PLACE_PRIOR))
        every = np.broadcast_to(np.arange(z.shape[1]), z.shape)
        singles = _set_log_ratios(z, pulls, covariance, precision, every, _subsets(z.shape[1], 1)) + log_odds
        candidates = np.sort(np.argsort(-singles, axis=1, kind="stable")[:, :n_candidates], axis=1)
        subsets = _subsets(n_candidates, max_size)
        # The candidates' pairs and triples; their singles are among all the values'.
        several = list(itertools.chain.from_iterable(subsets[1:]))
        sizes = np.array([len(positions) for positions in several])
        several_ratios = _set_log_ratios(z, pulls, covariance, precision, candidates, subsets)[:, n_candidates:]
        ratios = np.hstack([singles, several_ratios + sizes * log_odds])
        # Each set's posterior odds against the empty set (whose odds are 1),
        # scaled by the largest so that none overflows.
        top = np.maximum(ratios.max(axis=1, keepdims=True), 0.0)
        weights = np.exp(ratios - top)
        total = np.exp(-top) + weights.sum(axis=1, keepdims=True)
        members = np.zeros((len(several), n_candidates))
        for column, positions in enumerate(several):
            members[column, positions] = 1.0
        probabilities = weights[:, :z.shape[1]].copy()
        probabilities[np.arange(len(z))[:, None], candidates] += weights[:, z.shape[1]:] @ members
        return probabilities / total


def _subsets(n_candidates, max_size):
    """Every set of 1 to ``max_size`` positions among ``n_candidates``, as an index array per size."""
    return [np.array(list(itertools.combinations(range(n_candidates), size))) for size in range(1, max_size + 1)]


def _set_log_ratios(z, pulls, covariance, precision, candidates, subsets):
    """``log p(x_S) - log p(x_S | x_rest)`` of each row for each set ``S`` of positions in its candidates.

    ``z`` are the standardised rows and ``pulls = z @ precision``: given the
    rest, ``x_S`` is normal with precision ``precision_SS`` about a mean it
    misses by ``precision_SS^-1 pulls_S``. The constants of ``2 pi`` cancel.
    Columns follow ``subsets`` (:func:`_subsets`), over positions in each
    row's ``candidates``.
    """
    marginal, marginal_logdet = _set_quadratic_forms(z, covariance, candidates, subsets)
    conditional, conditional_logdet = _set_quadratic_forms(pulls, precision, candidates, subsets)
    return 0.5 * (conditional - conditional_logdet - marginal - marginal_logdet)


def _set_quadratic_forms(values, matrix, candidates, subsets):
    """``v_S^T M_SS^-1 v_S`` and ``log det M_SS`` for each row's sets of 1 to 3 candidates, in closed form.

    A pair's 2x2 block is inverted directly; a triple ``(a, b, c)`` adds to
    its pair ``(a, b)`` the part of ``c`` that they do not predict (a
    Schur complement), so no set needs a matrix routine.
    """
    variances = matrix.diagonal()[candidates]
    values = np.take_along_axis(values, candidates, axis=1)
    forms, logdets = [values**2 / variances], [np.log(variances)]
    if len(subsets) >= 2:
        a, b = subsets[1].T
        covariances = matrix[candidates[:, a], candidates[:, b]]
        determinants = variances[:, a] * variances[:, b] - covariances**2
        forms.append((
            variances[:, b] * values[:, a] ** 2 - 2 * covariances * values[:, a] * values[:, b]
            + variances[:, a] * values[:, b] ** 2
        ) / determinants)
        logdets.append(np.log(determinants))
    if len(subsets) >= 3:
        pair_of = {pair: index for index, pair in enumerate(map(tuple, subsets[1]))}
        pairs = np.array([pair_of[a, b] for a, b, _ in subsets[2]])
        a, b, c = subsets[2].T
        with_a, with_b = matrix[candidates[:, a], candidates[:, c]], matrix[candidates[:, b], candidates[:, c]]
        ab, determinant = covariances[:, pairs], determinants[:, pairs]
        # c's regression on a and b, through the pair's inverse.
        on_a = (variances[:, b] * with_a - ab * with_b) / determinant
        on_b = (variances[:, a] * with_b - ab * with_a) / determinant
        residual = values[:, c] - on_a * values[:, a] - on_b * values[:, b]
        variance = variances[:, c] - on_a * with_a - on_b * with_b
        forms.append(forms[1][:, pairs] + residual**2 / variance)
        logdets.append(logdets[1][:, pairs] + np.log(variance))
    return np.hstack(forms), np.hstack(logdets)


def _conditioned(vector, matrix, chosen):
    """``vector`` and ``matrix``'s diagonal with each row's ``chosen`` features accounted for (Schur complements).

    Per row, with ``S`` its chosen features and ``M`` the symmetric
    ``matrix``: ``vector - M[:, S] M[S, S]^-1 vector[S]``, the diagonal of
    ``M - M[:, S] M[S, S]^-1 M[S, :]``, ``M[S, S]^-1 vector[S]`` and the
    diagonal of ``M[S, S]^-1``. With ``M`` a precision matrix and ``vector``
    the row with its chosen values at 0 times it, these are the unchosen
    features given each other in precision form, and the chosen ones'
    negated means and variances given the unchosen; with a covariance and
    the row, each feature's deviation and variance given the chosen ones.
    """
    n_rows, n_chosen = chosen.shape
    diagonal = matrix.diagonal().expand(n_rows, -1)
    if not n_chosen:
        none = vector.new_empty((n_rows, 0))
        return vector, diagonal, none, none
    rows = matrix[chosen]
    inverse = torch.linalg.inv(rows.gather(2, chosen.unsqueeze(1).expand(-1, n_chosen, -1)))
    weights = (inverse @ vector.gather(1, chosen).unsqueeze(2))
    vector = vector - (rows * weights).sum(dim=1)
    diagonal = diagonal - (rows * (inverse @ rows)).sum(dim=1)
    return vector, diagonal, weights.squeeze(2), inverse.diagonal(dim1=1, dim2=2)


class _ImageComparison(_Comparison):
    """Images: the ``n_neighbors_``-th nearest reference image as expected, every pixel of it."""

    def values(self, units, nearest):
        expected = self.detector.reference_inputs_[nearest].astype(np.float64)
        spread = np.ones_like(expected) if self.scales is None else np.broadcast_to(self.scales, expected.shape)
        # Images get no Gaussian of their pixels to read values against.
        return expected, spread, None, None


class _EmbeddingDistance(torch.nn.Module):
    """Sum of the squared distances of the samples' embeddings to given ones, the function that integrated gradients split.

    The distances are measured in the score's units: ``units`` maps the
    network's embeddings into them (``embedding_units``).
    """

    def __init__(self, module, units):
        super().__init__()
        self.module = module
        self.units = units

    def forward(self, x, target):
        # One number for the whole batch: captum asks autograd for the
        # gradient of each sample's output, a tuple whose bookkeeping took
        # longer than the backward pass itself, and the gradient of the sum
        # is the same one (autograd adds the outputs' gradients up). Same
        # attributions in a third of the time (4 points, 10,000 rows of 13
        # features).
        return (self.units(self.module(x)) - target).square().sum().reshape(1)


def _likely_clean(block, expected, out_of_place):
    """The rows as they likely were before any value came from elsewhere: the integrated gradients' baselines.

    Each value moves toward its expected value by its probability of being
    out of place, so that the embedding's half, like the input half, goes
    mostly to the values likely out of place; and by the prior at least:
    at or below it, the row says nothing against a value, so such values
    move alike and the network, not the Gaussian, ranks them. Without that
    floor, values in place moved by probabilities as small as 1e-10 and
    the whole ranking barely changed when the network's weights were drawn
    afresh (rank correlation 0.92 to 0.999 on the benchmark's tables).
    Images, which have no such probability, start from their expected image.
    """
    if out_of_place is None:
        return expected
    moved = np.maximum(out_of_place, OUT_OF_PLACE_PRIOR)
    # A weighted mean in float64, so that a value surely out of place starts
    # at its expected value exactly, however far off it is (1e20 - 1e20).
    return ((1 - moved) * block.astype(np.float64) + moved * expected).astype(block.dtype)


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
