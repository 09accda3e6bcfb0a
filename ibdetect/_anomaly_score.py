"""The anomaly score: how far a sample lies from the normal data, and what ``fit`` keeps to measure it.

Four scores, all squared distances (larger is more anomalous):

- ``"distance"``: to the nearest class centre in the embedding;
- ``"knn"``: to the k-th nearest of a reference of normal training
  embeddings, which follows each class's shape rather than a sphere;
- ``"knn+input"``: the geometric mean of that and the same distance among
  the reference's input rows, each divided by its typical value. On tables
  the embedding and the raw (scaled) features miss different anomalies: the
  embedding separates the known classes, the input space keeps every
  direction the network learned to ignore. A sample must be close in both
  spaces to score as normal, neither space dominates by its units, and the
  result stays a positive squared distance (1 for a typical reference row)
  that the threshold rules read as any other. On the tabular benchmark the
  geometric mean ranked unseen classes better than the plain sum, most of
  all under contamination.
- ``"knn+density"``: as ``"knn+input"``, but the input-space distance is
  divided by the mean of the same distance of the sample's nearest
  references, each to its own neighbours, as LocalOutlierFactor measures a
  local density. Raw pixels crowd some normal classes and spread others
  (the strokes of a 1 against those of an 8), so a raw distance takes a
  sparse class for an anomaly; its local ratio does not. On tables under
  contamination the ratio fails instead: a few anomalies together in the
  training data make one another's neighbourhoods dense. Each feature is
  measured in units of its spread among the references, shrunk toward the
  features' mean spread (:func:`input_scales`).

With the views of images (turns, and flips), every k-NN score measures the
embedding in units of its own (:func:`embedding_whitening`): each view's
embedding scaled to length 1, then whitened by the reference's covariance.
``reference_embeddings_`` is kept in those units, and
:func:`embedding_units` brings a sample's embeddings into them. The affine
views of rows keep the embedding as it is: scaling a view to length 1 drops
how far out along its direction a row lies, which is what tells a row with
one value far off.

The estimator calls :func:`fit_reference` once in ``fit`` and
:func:`distances_to_normal` whenever it scores; the kernels are in
``_distances``.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.covariance import empirical_covariance, ledoit_wolf_shrinkage, shrunk_covariance

from ._chunking import row_blocks
from ._distances import center_distances, kth_neighbor_distances, nearest_center_distances
from ._fitted import OPTIONAL, FittedAttribute, finite, positive
from ._labels import has_known_anomalies

__all__ = [
    "FITTED_STATE",
    "MIXED_SCORES",
    "SCORES",
    "check_reference_size",
    "covariance_whitening",
    "distances_to_normal",
    "embedding_units",
    "embedding_whitening",
    "finite_distances",
    "fit_reference",
    "input_scales",
    "input_scales_of",
    "input_units",
    "leave_one_out_distances",
    "mixed_neighbor_distances",
    "neighbor_radii",
    "reference_state",
    "relative_neighbor_distances",
    "resolve_anomaly_score",
    "resolve_max_references",
    "score_rows",
    "subsample",
    "typical_neighbor_distance",
    "whitened_views",
]

#: The scores a detector can use, with "auto" resolved.
SCORES = ("distance", "knn", "knn+input", "knn+density")

#: The scores that mix the embedding's k-NN distance with one in input space.
MIXED_SCORES = ("knn+input", "knn+density")

# A reference row's radius (its squared distance to its k-th nearest other
# row) is at least this share of the typical one: among duplicate rows it
# would be 0, and every ratio to it infinite.
MIN_RELATIVE_RADIUS = 1e-3

# max_references="auto" keeps at most this many normal training samples as
# the k-NN reference of rows: scoring time grows with it, and on rows the
# search is most of a score's cost. Ranking quality did grow with it on
# LetterRecognition's 7,000 normal training rows (the "Scaling up" page).
AUTO_MAX_REFERENCES = 1_000

# ... and of images, where the network's pass is most of a score's cost: on
# MNIST, 4,000 references instead of 1,000 took 1.3 times as long to score,
# and ranked unseen digits 0.004 higher and images of other sources 0.001
# higher, above LocalOutlierFactor (the "Scaling up" page).
AUTO_MAX_IMAGE_REFERENCES = 4_000

# "knn+density" measures each feature in units of the square root of its
# variance among the references, shrunk this share of the way toward the
# mean variance over the features. A raw distance weighs every pixel alike,
# so the pixels that vary most among normal images make most of it: a pixel
# dark on every normal image but lit on this one counts no more than a
# stroke drawn a little off. On the image benchmark's MNIST splits
# (benchmarks.input_units, the same networks and references), shrinking
# only a tenth of the way, nearly each pixel's own spread, ranked images of
# other sources higher than raw pixels (0.9998 against 0.9991) but unseen
# digits lower (by 0.005 with one normal class, 0.002 with six); three
# quarters kept 0.9995 for a loss of 0.0006 or less, a tenth of the spread
# over splits. Standardised features share about one variance, which it
# leaves nearly as it is.
INPUT_VARIANCE_SHRINKAGE = 0.75

# With the units of views, the leave-one-out distances of the reference
# whiten each of this many folds of it by the covariance of the others, as a
# new sample's units were fitted without it. Whitened by a covariance fitted
# on themselves, digits' reference rows (fewer than the embedding's 128
# dimensions) lay 1.5 times closer to one another than new normal images
# lay to them, and a threshold set on them flagged half of those images.
WHITENING_FOLDS = 5

# The least share of the mean variance that the covariance of the units of
# views is shrunk toward it, so that it can always be inverted. Ledoit and
# Wolf shrank MNIST's by 0.008 at least, digits' by 0.05.
MIN_EMBEDDING_SHRINKAGE = 1e-3

# The typical distance is a median over at most this many reference rows,
# each compared with the whole reference: comparing every row with every
# other would grow with the square of the reference. The scales only set the
# unit of the score (a geometric mean ranks samples the same whatever they
# are), so an estimate is enough.
MAX_TYPICAL_QUERIES = 1_000


def _uses_reference(state):
    return state["anomaly_score_"] != "distance"


def _mixes_input(state):
    return state["anomaly_score_"] in MIXED_SCORES


def _measures_density(state):
    return state["anomaly_score_"] == "knn+density"


def _reference_rows(inputs, state):
    # Every k-NN fit of this version keeps its reference's rows, which
    # explain reads; "knn" fits of earlier versions, and "knn" models saved
    # without their training rows, have none.
    return finite(inputs, state) if _uses_reference(state) else "is not expected without a k-NN reference"


def _with_reference_inputs(scales, state):
    return positive(scales, state) or (None if "reference_inputs_" in state else "needs reference_inputs_")


def _rank_below_reference_size(rank, state):
    n_reference = len(state["reference_embeddings_"])
    return None if rank < n_reference else f"must be below the {n_reference} references, got {rank}"


def _spread_of_reference_inputs(scales, state):
    # The units are a function of the reference rows: units that are not
    # theirs would score against radii measured in other units.
    problem = positive(scales, state)
    if problem is None and not np.allclose(scales, input_scales(state["reference_inputs_"]), rtol=1e-5):
        problem = "must be the spread of reference_inputs_ (input_scales)"
    return problem


def _whitens_views(transformations):
    return transformations.startswith("rotations")


def _with_image_views_and_reference(whitening, state):
    if not _whitens_views(state["transformations_"]) or not _uses_reference(state):
        return "is not expected without the views of images and a k-NN reference"
    return finite(whitening, state)


def _known_score(score, state):
    return None if score in SCORES else f"must be one of {', '.join(SCORES)}, got {score!r}"


#: What the anomaly score sets in ``fit``.
FITTED_STATE = (
    FittedAttribute("anomaly_score_", "text", check=_known_score),
    FittedAttribute(
        "reference_embeddings_", "array", ("n_reference", "embedding_dim"), "float32",
        when=_uses_reference, check=finite,
    ),
    FittedAttribute("n_neighbors_", "int", when=_uses_reference, check=_rank_below_reference_size),
    # Models saved before format 7, and their pickles, have views but no
    # whitening: their embeddings score as the network gives them.
    FittedAttribute(
        "embedding_whitening_", "array", ("embedding_dim", "embedding_dim"), "float32", when=OPTIONAL,
        check=_with_image_views_and_reference,
    ),
    FittedAttribute(
        "reference_inputs_", "array", ("n_reference", "n_features_in_"), "float32", when=OPTIONAL,
        check=_reference_rows,
    ),
    FittedAttribute("neighbor_scales_", "array", (2,), "float64", when=_mixes_input, check=_with_reference_inputs),
    FittedAttribute("reference_radii_", "array", ("n_reference",), "float64", when=_measures_density, check=positive),
    FittedAttribute(
        "input_scales_", "array", ("n_features_in_",), "float32", when=_measures_density,
        check=_spread_of_reference_inputs,
    ),
)


# -- before training: which score, and is there enough data for it --------------------


def resolve_anomaly_score(anomaly_score, targets, images):
    """The score that ``anomaly_score`` ("auto" or one of ``SCORES``) stands for on this data.

    ``images`` says whether the samples are images (a multi-dimensional
    ``input_shape``).
    """
    if anomaly_score != "auto":
        return anomaly_score
    # The known-anomaly term acts on the distances to the centres, which
    # the "distance" score reads directly; "knn" gains much less from it.
    if has_known_anomalies(targets):
        return "distance"
    # The neighbours in input space add what the embedding dropped: on
    # tables, and on images for the CNN as for the MLP (digits gained 0.005
    # with several classes, 0.007 with one and 0.003 out of distribution;
    # MNIST moved by 0.002 or less, within its spread). On pixels their
    # local ratio ranks better than their raw distance (performance page).
    return "knn+density" if images else "knn+input"


def resolve_max_references(max_references, images):
    """The int or float that ``max_references`` ("auto", an int or a float) stands for.

    ``images`` says whether the samples are images (a multi-dimensional
    ``input_shape``).
    """
    if max_references != "auto":
        return max_references
    return AUTO_MAX_IMAGE_REFERENCES if images else AUTO_MAX_REFERENCES


def check_reference_size(anomaly_score, n_neighbors, max_references, n_normal):
    """How many of ``n_normal`` normal training samples the reference keeps (0 for "distance").

    ``max_references`` is an int or a float (:func:`resolve_max_references`).
    Raises a ValueError naming the parameter to change when the training
    data cannot give the k-NN score what it needs: each reference sample
    leaves itself out of its neighbours, so ``n_neighbors`` needs more
    samples than that, and the reference at least two.
    """
    if anomaly_score == "distance":
        return 0
    if n_normal <= n_neighbors:
        raise ValueError(
            f"anomaly_score={anomaly_score!r} with n_neighbors={n_neighbors} needs more than "
            f"{n_neighbors} normal training samples as neighbours, got {n_normal}; lower "
            "n_neighbors or use anomaly_score='distance'."
        )
    if isinstance(max_references, Integral):
        return min(max_references, n_normal)
    n_references = int(max_references * n_normal)
    if n_references < 2:
        raise ValueError(
            f"max_references={max_references} keeps {n_references} of the {n_normal} normal "
            "training samples, and the k-NN scores need at least 2; raise it or pass an int."
        )
    return n_references


# -- after training: the reference ------------------------------------------------


def fit_reference(anomaly_score, embed, X, normal_rows, n_references, n_neighbors, seed, n_views=1):
    """The score's fitted attributes, by name, from the embeddings of the reference samples.

    Parameters
    ----------
    anomaly_score : str
        One of ``SCORES``.
    embed : callable
        The trained network's embedding of an array of rows.
    X : array-like of shape (n_samples, n_features)
        The training rows; only the reference's are read.
    normal_rows : ndarray of int
        The rows of the normal samples the network trained on.
    n_references : int
        How many of them to keep, at random (:func:`check_reference_size`).
    n_neighbors : int
        The rank among all normal training samples the score stands for.
    seed : int
    n_views : int, default=1
        Views of each sample whose embeddings are measured in units of their
        own (:func:`whitened_views`); 1 keeps the embedding as it is.
    """
    state = {"anomaly_score_": anomaly_score}
    if anomaly_score == "distance":
        return state
    reference = subsample(normal_rows, n_references, seed)
    inputs = np.asarray(X[reference], dtype=np.float32)
    return state | reference_state(anomaly_score, embed, inputs, len(normal_rows), n_neighbors, n_views=n_views)


def reference_state(
    anomaly_score, embed, inputs, n_normal, n_neighbors, *, n_views=1, shrinkage=INPUT_VARIANCE_SHRINKAGE
):
    """The fitted attributes of a k-NN score whose reference is ``inputs``, drawn from ``n_normal`` rows.

    Every k-NN score keeps the reference's rows: the mixed scores measure
    distances among them, and ``explain`` compares each sample with them.
    With ``n_views`` above 1 the reference's embeddings are kept in the
    units of :func:`embedding_whitening`, fitted on them. ``shrinkage`` sets
    the input units of ``"knn+density"`` (:func:`input_scales`); model
    files accept only the default's.
    """
    rank = _reference_rank(n_neighbors, len(inputs), n_normal)
    embeddings = embed(inputs)
    state = {"n_neighbors_": rank, "reference_inputs_": inputs}
    if n_views > 1:
        state["embedding_whitening_"] = embedding_whitening(embeddings, n_views)
        embeddings = _in_embedding_units(embeddings, state["embedding_whitening_"], n_views)
    state["reference_embeddings_"] = embeddings
    if anomaly_score not in MIXED_SCORES:
        return state
    radii = None
    if anomaly_score == "knn+density":
        state["input_scales_"] = input_scales(inputs, shrinkage)
        # In float64, as the scores divide each block of rows.
        inputs = input_units(inputs.astype(np.float64), state["input_scales_"])
        radii = state["reference_radii_"] = neighbor_radii(inputs, rank)
    state["neighbor_scales_"] = np.array([
        typical_neighbor_distance(state["reference_embeddings_"], rank),
        typical_neighbor_distance(inputs, rank, radii),
    ])
    return state


def embedding_whitening(embeddings, n_views):
    """The whitening of the reference's embeddings with views: a matrix ``W`` of the embedding's units.

    Each view's embedding is first scaled to length 1, so that only its
    direction counts (a cosine distance per view); ``W`` then makes their
    covariance about the identity, so that the distance between two
    samples, ``|(u - v) W|^2``, is a Mahalanobis distance. The rotation
    views of a 6 and a 9 differ in a few directions that vary little among
    normal images and much between the two, and the Euclidean distance
    drowns those in the directions that vary most. On the one-class image
    benchmark (``benchmarks/view_units.py``, the same networks) the two
    steps raised MNIST from 0.974 to 0.977 and digits from 0.994 to 0.997.

    Parameters
    ----------
    embeddings : ndarray of shape (n_reference, n_views * dim)
        The reference's embeddings as the network gives them.
    n_views : int
        Views side by side in each row.

    Returns
    -------
    whitening : ndarray of float32 of shape (n_views * dim, n_views * dim)
        See :func:`covariance_whitening`.
    """
    return covariance_whitening(_in_embedding_units(embeddings, None, n_views))


def covariance_whitening(rows):
    """A matrix ``W`` such that ``rows @ W`` has about unit covariance.

    The covariance is Ledoit and Wolf's: the rows' own, shrunk toward its
    mean variance by as much as its error calls for, so that it can be
    inverted with fewer rows than dimensions (digits' references: about
    90 rows for 128 dimensions, shrunk by 0.06 to 0.41; MNIST's 540 by
    0.01 to 0.06). Against a fixed hundredth of the mean variance it
    ranked MNIST's unseen digits alike (0.9769) and digits' higher (0.9971
    against 0.9964), and new normal images of digits lay 1.55 rather than
    4.1 times farther from the reference than its own rows from one another.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_dims)

    Returns
    -------
    whitening : ndarray of float32 of shape (n_dims, n_dims)
        Lower triangular: the Cholesky factor of the inverse of the shrunk
        covariance; the identity where fewer than two rows, or rows that
        do not vary, leave no covariance to invert.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) < 2 or not np.var(rows, axis=0).sum() > 0:
        return np.eye(rows.shape[1], dtype=np.float32)
    # Ledoit and Wolf find no error to shrink away where the rows' outer
    # products agree (two rows: x and -x once centred), which would leave a
    # covariance of rank 1 to invert.
    shrinkage = max(ledoit_wolf_shrinkage(rows), MIN_EMBEDDING_SHRINKAGE)
    covariance = shrunk_covariance(empirical_covariance(rows), shrinkage)
    return np.linalg.cholesky(np.linalg.inv(covariance)).astype(np.float32)


def whitened_views(detector):
    """Views of each sample whose embeddings ``detector``'s k-NN score scales and whitens: those of images; else 1."""
    return detector.net_.module_.n_views if _whitens_views(detector.transformations_) else 1


def embedding_units(detector, embeddings):
    """``embeddings`` as the network gives them, in the units of ``detector``'s k-NN score (``reference_embeddings_``'s).

    With the views of images, each view's embedding is scaled to length 1
    and the whole whitened (:func:`embedding_whitening`); otherwise, and for
    models saved before format 7, the embeddings are returned as they are.
    """
    whitening = getattr(detector, "embedding_whitening_", None)
    if whitening is None:
        return embeddings
    return _in_embedding_units(embeddings, whitening, detector.net_.module_.n_views)


def _in_embedding_units(embeddings, whitening, n_views):
    """``embeddings`` (an array or a tensor) with each view scaled to length 1, then times ``whitening`` unless None.

    A view embedded at the origin stays there. Tensors keep their gradient:
    ``explain`` differentiates through the units.
    """
    tensor = torch.as_tensor(embeddings)
    tiny = torch.finfo(tensor.dtype).tiny
    views = tensor.reshape(len(tensor), n_views, -1)
    # Divided by its largest value first, a view's length cannot overflow:
    # one of 1e20 would square past float32 and scale the view to 0.
    views = views / views.abs().amax(dim=2, keepdim=True).clamp_min(tiny)
    lengths = torch.linalg.vector_norm(views, dim=2, keepdim=True)
    scaled = (views / lengths.clamp_min(tiny)).reshape(len(tensor), -1)
    if whitening is not None:
        scaled = scaled @ torch.as_tensor(whitening, dtype=scaled.dtype, device=scaled.device)
    return scaled if isinstance(embeddings, torch.Tensor) else scaled.numpy()


def input_scales(inputs, shrinkage=INPUT_VARIANCE_SHRINKAGE):
    """Each feature's unit in the input space of "knn+density": its spread, shrunk toward the mean spread.

    Parameters
    ----------
    inputs : ndarray of shape (n_reference, n_features)
        The reference rows.
    shrinkage : float in [0, 1], default=INPUT_VARIANCE_SHRINKAGE
        1 gives every feature the same unit, as raw distances do.

    Returns
    -------
    scales : ndarray of float32 of shape (n_features,)
        The square root of ``1 - shrinkage`` times each feature's variance
        plus ``shrinkage`` times their mean: above 0 for every feature, even
        one that never varies (with a shrinkage above 0), unless no feature
        varies at all, and then 1.
    """
    variances = np.var(inputs, axis=0, dtype=np.float64)
    mean = float(variances.mean())
    if mean == 0:
        return np.ones(inputs.shape[1], dtype=np.float32)
    shrunk = (1 - shrinkage) * variances + shrinkage * mean
    return np.sqrt(shrunk).astype(np.float32)


def input_units(rows, scales):
    """``rows``, or differences of rows, in the units of ``scales`` (:func:`input_scales`); as they are without."""
    return rows if scales is None else rows / scales


def input_scales_of(detector):
    """The units of ``detector``'s input space (``input_scales_``), or None where its score measures raw inputs."""
    return detector.input_scales_ if detector.anomaly_score_ == "knn+density" else None


def neighbor_radii(reference, n_neighbors):
    """Each reference row's squared distance to its ``n_neighbors``-th nearest other row.

    Parameters
    ----------
    reference : ndarray of shape (n_reference, n_dims)
    n_neighbors : int

    Returns
    -------
    radii : ndarray of float64 of shape (n_reference,)
        At least ``MIN_RELATIVE_RADIUS`` times the median of those above 0
        (or that share of 1 when none is), so that ratios to them stay
        finite among duplicate rows.
    """
    radii = kth_neighbor_distances(reference, reference, n_neighbors, skip_self=True)
    spread = radii[radii > 0]
    return np.maximum(radii, MIN_RELATIVE_RADIUS * (float(np.median(spread)) if len(spread) else 1.0))


def subsample(rows, max_rows, seed):
    """At most ``max_rows`` of ``rows``, drawn at random, in their original order."""
    if len(rows) <= max_rows:
        return rows
    keep = np.random.RandomState(seed).choice(len(rows), max_rows, replace=False)
    return rows[np.sort(keep)]


def _reference_rank(n_neighbors, n_reference, n_normal):
    """The rank among ``n_reference`` random normal samples that stands for ``n_neighbors`` among ``n_normal``.

    A random subset holding a share ``f`` of the samples holds about ``f k``
    of anyone's ``k`` nearest, so its ``f k``-th nearest lies about as far as
    the ``k``-th of all. Keeping ``k`` instead would measure the ``k / f``-th:
    with 1,000 of 7,000 LetterRecognition rows, the 35th nearest, which
    ranked unseen letters 0.006 to 0.036 ROC AUC lower.

    The rank never drops below 2 (unless ``n_neighbors`` is 1): the training
    data's own scores (``decision_scores_``, ``labels_``, the threshold of a
    float ``contamination``) count each reference sample among its own
    neighbours, and at rank 1 it would lie at distance 0, so that an anomaly
    of the training data drawn into the reference would never be flagged.
    At most ``n_reference - 1``, so that a reference sample can leave itself
    out.
    """
    scaled = max(min(2, n_neighbors), round(n_neighbors * n_reference / n_normal))
    return min(scaled, n_reference - 1)


# -- scoring -----------------------------------------------------------------------


def distances_to_normal(detector, embeddings, X=None, skip_self=False, reference=None):
    """Squared distance of each sample to the normal data, as ``detector.anomaly_score_`` measures it.

    ``embeddings`` are in the score's units (:func:`embedding_units`), which
    only views change, and which the centre distance does not read. ``X``
    holds the samples' input rows, which only the mixed scores read;
    ``skip_self`` says that the samples are rows of the reference.
    ``reference`` holds the reference's embeddings in the units of
    ``embeddings``, when not those of ``reference_embeddings_``.
    """
    if reference is None:
        reference = getattr(detector, "reference_embeddings_", None)
    if detector.anomaly_score_ in MIXED_SCORES:
        density = detector.anomaly_score_ == "knn+density"
        return mixed_neighbor_distances(
            (embeddings, X),
            (reference, detector.reference_inputs_),
            detector.neighbor_scales_,
            detector.n_neighbors_,
            skip_self=skip_self,
            radii=(None, detector.reference_radii_ if density else None),
            units=(None, input_scales_of(detector)),
        )
    if detector.anomaly_score_ == "knn":
        return kth_neighbor_distances(embeddings, reference, detector.n_neighbors_, skip_self=skip_self)
    return nearest_center_distances(embeddings, detector.centers_)


def finite_distances(distances):
    """``distances`` with the infinite and NaN ones, of overflowed embeddings, made the farthest a float64 holds.

    NaN would compare as normal in ``predict``.
    """
    farthest = np.finfo(np.float64).max
    return np.nan_to_num(distances, nan=farthest, posinf=farthest)


def score_rows(detector, X, with_center_distances=False, classes=None):
    """Each row's distance to the normal data; and its squared distance to a centre, if asked.

    The centre is that of the row's class in ``classes`` (a class index per
    row) where that is at least 0, else the nearest. X is embedded a block
    of rows at a time, each block's embeddings dropped once measured:
    memory stays flat whatever the number of rows and of views of each.
    """
    distances = np.empty(len(X))
    to_centers = np.empty(len(X)) if with_center_distances else None
    embedding_bytes = np.dtype(np.float32).itemsize * detector.centers_.shape[1]
    for rows in row_blocks(len(X), embedding_bytes):
        embeddings = detector.net_.embed(X[rows])
        distances[rows] = distances_to_normal(detector, embedding_units(detector, embeddings), X[rows])
        if with_center_distances:
            to_centers[rows] = _center_distances(embeddings, detector.centers_, None if classes is None else classes[rows])
    return distances, to_centers


def _center_distances(embeddings, centers, classes):
    """Squared distance of each embedding to the centre of its class in ``classes``, or to the nearest."""
    if classes is None:
        return nearest_center_distances(embeddings, centers)
    to_each = center_distances(embeddings, centers)
    return np.where(classes >= 0, to_each[np.arange(len(to_each)), np.maximum(classes, 0)], to_each.min(axis=1))


def leave_one_out_distances(detector):
    """The reference samples' distances, each left out of its own neighbours; None for "distance".

    With the units of views, each is also left out of the whitening: the
    reference's embeddings are whitened ``WHITENING_FOLDS`` times, by the
    covariance of all but one fold, and each fold's rows measured in the
    units fitted without them, as a new sample's are.
    """
    if detector.anomaly_score_ == "distance":
        return None
    inputs = getattr(detector, "reference_inputs_", None)
    # Two references leave one row to whiten each fold by: none to fit on.
    if getattr(detector, "embedding_whitening_", None) is None or inputs is None or len(inputs) < 3:
        return distances_to_normal(detector, detector.reference_embeddings_, inputs, skip_self=True)
    scaled = _in_embedding_units(detector.net_.embed(inputs), None, detector.net_.module_.n_views)
    folds = np.arange(len(scaled)) % WHITENING_FOLDS
    distances = np.empty(len(scaled))
    for fold in np.unique(folds):
        rows = folds == fold
        reference = scaled @ covariance_whitening(scaled[~rows])
        distances[rows] = distances_to_normal(
            detector, reference[rows], inputs[rows], skip_self=True, reference=reference
        )
    return distances


def typical_neighbor_distance(reference, n_neighbors, radii=None):
    """Median squared distance of the reference rows to their ``n_neighbors``-th nearest other row.

    Each row is left out of its own neighbours, as a new sample would be.
    Over more than ``MAX_TYPICAL_QUERIES`` rows, the median is that of a
    fixed random subset of them.

    Parameters
    ----------
    reference : ndarray of shape (n_reference, n_dims)
    n_neighbors : int
    radii : ndarray of shape (n_reference,), default=None
        The rows' :func:`neighbor_radii`: the distances are then relative
        to them, as :func:`relative_neighbor_distances` measures them.

    Returns
    -------
    distance : float
        Positive: 1.0 when more than half of the rows have duplicates that
        close, so that dividing by it never fails.
    """
    queries = np.arange(len(reference))
    if len(reference) > MAX_TYPICAL_QUERIES:
        queries = np.random.RandomState(0).choice(len(reference), MAX_TYPICAL_QUERIES, replace=False)
    distances = relative_neighbor_distances(reference[queries], reference, n_neighbors, radii, skip_self=True)
    median = float(np.median(distances))
    return median if median > 0 else 1.0


def relative_neighbor_distances(samples, reference, n_neighbors, radii=None, *, skip_self=False, units=None):
    """Squared distance of each sample to its ``n_neighbors``-th nearest reference row, relative to their radii.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, n_dims)
    reference : ndarray of shape (n_reference, n_dims)
    n_neighbors : int
    radii : ndarray of shape (n_reference,), default=None
        The reference rows' :func:`neighbor_radii`.
    skip_self : bool, default=False
        Each sample is a row of the reference, left out of its own neighbours.
    units : ndarray of shape (n_dims,), default=None
        Each dimension's unit (:func:`input_scales`), in which the radii
        were measured.

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
        Without ``radii``, the distances themselves. With them, each over
        the mean radius of the sample's ``n_neighbors`` nearest reference
        rows: about 1 for a sample as close to the reference as its
        neighbours are to theirs, however dense the data are there.
    """
    if radii is None:
        return kth_neighbor_distances(samples, reference, n_neighbors, skip_self=skip_self, units=units)
    distances, nearest = kth_neighbor_distances(
        samples, reference, n_neighbors, skip_self=skip_self, return_indices=True, units=units
    )
    return distances / radii[nearest].mean(axis=1)


def mixed_neighbor_distances(parts, references, scales, n_neighbors, *, skip_self=False, radii=None, units=None):
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
    radii : sequence of (ndarray of shape (n_reference,) or None), default=None
        Per space, the reference rows' radii that its distances are relative
        to (:func:`relative_neighbor_distances`), or None for raw distances.
    units : sequence of (ndarray of shape (dim_i,) or None), default=None
        Per space, each dimension's unit (:func:`input_scales`), or None.

    Returns
    -------
    distances : ndarray of float64 of shape (n_samples,)
    """
    radii = [None] * len(scales) if radii is None else radii
    units = [None] * len(scales) if units is None else units
    # A product of roots rather than the root of a product: two ratios
    # near the float64 limit would overflow.
    exponent = 1.0 / len(scales)
    return np.prod(
        [
            (
                relative_neighbor_distances(
                    part, reference, n_neighbors, space_radii, skip_self=skip_self, units=space_units
                ) / scale
            ) ** exponent
            for part, reference, scale, space_radii, space_units in zip(parts, references, scales, radii, units)
        ],
        axis=0,
    )
