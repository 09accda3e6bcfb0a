"""Faithfulness of ``explain``: does it name the features that were corrupted?

For each split, a detector (the defaults, behind a StandardScaler on a
table, with the known classes' labels where the split has several) is
fitted on the normal training rows. Held-out normal rows then have ``k``
features corrupted (on images, a patch of ``k`` by ``k`` pixels), and
every method ranks the features of each corrupted row; recall@k is the share
of the corrupted features among its ``k`` highest, averaged over the rows.

The corruption breaks the joint structure of a row, not the range of a
feature: the ``k`` values come from one normal training row of another
known class (the donor), each at least one standard deviation away from the
value it replaces. Every value is then one the detector saw in a normal
row, and the ``k`` of them are consistent with each other; only their
relation to the rest of the row is wrong. Breast cancer has one normal
class (benign, fitted without labels): its donors are other benign training
rows, under the same condition. Malignant rows were not used: their values
often lie beyond the benign range, which would test extreme values rather
than joint structure.

Methods, all in the scaled space the detector reads:

* ``explain``: ``IBDeepDescription.explain``'s contributions;
* ``|z-score|``: each feature's distance to the training mean, in standard
  deviations (what the scaled row is);
* ``nearest row``: ``(x_j - r_j)^2`` against the ``n_neighbors_``-th
  nearest reference row ``r`` in input space (``nearest_normal``), the
  split of the input space's k-NN distance feature by feature;
* ``input half``: ``((x_j - e_j) / s_j)^2`` against ``explain``'s expected
  values ``e`` and their spreads ``s`` (what the rest of the row predicts
  for each feature, under a Gaussian of the reference rows), on rows
  weighted by the value's probability of being out of place
  (``out_of_place``): the part of ``explain`` that reads the input space,
  which needs no network;
* ``embedding half``: ``explain``'s shares from the embedding, what is left
  once the input half is taken out;
* ``IForest SHAP``: an IsolationForest on the same scaled rows, explained by
  ``shap.TreeExplainer``;
* ``re-drawn explain`` and ``re-drawn emb.``: ``explain``, and its
  embedding half, for the same detector with its encoder's weights drawn
  afresh (the model-randomisation check of Adebayo et al., 2018: a faithful
  explanation changes when the model does).

It prints recall@k per data set and ``k``, the mean and standard deviation
over splits, with chance, the recall of a random ranking (the share of the
features corrupted), and on tables an oracle's: not a method a user has,
but how far the corruptions can be found at all. It knows what no
explanation knows: ``k``, the corrupted row's class and the donor's, and
the Gaussian of each normal class fitted on all of its rows, held-out ones
included (Ledoit-Wolf covariances); it names the set of ``k`` features
under which the row is likeliest to be one of its class's rows with those
values from a row of the donor's class (``likeliest_sets``). Below them: the Spearman correlation between each
row's ranking of the features by the trained and by the re-drawn network,
averaged over rows, for the whole contributions and for the embedding half
(the input half does not depend on the network, so the whole can never
fall to 0); and the ROC AUC
of the detector's distances of the corrupted rows against the same rows
intact, which says how far the corruption made them anomalous at all; and
the seconds that ``explain`` and ``decision_function`` take on 10,000 rows
of the first split, on the same detector (the fastest of three runs each).

Last, on tables, the split's real anomalies, rows of classes unseen in
training (malignant tumours for breast cancer), which are often far off in
many values at once rather than in a few: how often ``explain``, and an
IsolationForest's SHAP values, give the largest share to one of the row's
three values farthest from the training mean in standard deviations (the
values a user sees as out of range), and the share of those rows that
``explain`` reads as having come from elsewhere as a whole
(``row_from_elsewhere``).

* wine: 2 of 3 cultivars known, 5 draws;
* breast cancer: the benign class normal, without labels, 5 row draws;
* satellite (mlbench; needs ``--mlbench``): its three soil classes known;
* vehicle (mlbench): 2 of 4 classes known, 5 draws;
* digits (``--datasets digits``, not run by default): scikit-learn's 8x8
  digit images, 6 of 10 classes known (the image benchmark's splits), with
  the CNN (``input_shape=(1, 8, 8)``) on the raw pixels, without a scaler.
  Here ``k`` is the side of a square patch of pixels copied from the same
  place of a training image of another known class, whose pixels change by
  at least ``MIN_PATCH_SHIFT`` on average: a stroke where the digit has
  none, or none where it has one, each pixel a value some normal digit has
  there. Recall@k counts the patch's ``k * k`` pixels among the ``k * k``
  largest contributions; ``|z-score|`` reads the pixels in units of their
  spread over the training images.

    python -m benchmarks.faithfulness [--datasets wine breast_cancer satellite vehicle digits]
        [--mlbench PATH/TO/mlbench/data] [--splits 5] [--k 1 2 3] [--rows 200] [--n-steps N]
        [--cost-rows 10000]
"""

import argparse
import copy
import itertools
import time

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.covariance import ledoit_wolf
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect._anomaly_score import embedding_units, embedding_whitening
from ibdetect._explanation import _shares

from . import data
from .run import build_splits

# A corrupted value lies at least this many standard deviations from the
# value it replaces: a smaller change would leave the row as it was.
MIN_SHIFT = 1.0
# The least mean change of a patch's pixels, on intensities from 0 to 1.
MIN_PATCH_SHIFT = 0.25
# Draws of a patch's place and donor before a held-out image is left out.
PATCH_TRIES = 50

METHODS = ("explain", "|z-score|", "nearest row", "input half", "embedding half", "IForest SHAP",
           "re-drawn explain", "re-drawn emb.")
# Not a method: a reference for how far the corruptions can be found on a
# table at all (``likeliest_sets``), printed after chance.
ORACLE = "oracle Gaussians"
# Rows of the table after the methods: how much the re-drawn network's
# contributions still follow the original ones, and how far apart the
# detector tells the corrupted rows from the same rows intact.
OTHERS = ("Spearman, all", "Spearman, emb.", "detection AUC")
BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)


def corrupt(rows, row_classes, donors, donor_classes, k, rng):
    """``rows`` with ``k`` features of each replaced from a donor row, and the mask of the replaced ones.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        Held-out normal rows, scaled as the detector reads them.
    row_classes, donor_classes : ndarray or None
        Classes of the rows and donors; a row takes its values from a donor
        of another class. None where the normal data has a single class.
    donors : ndarray of shape (n_donors, n_features)
        Normal training rows, scaled.
    k : int
    rng : numpy.random.RandomState

    Returns
    -------
    corrupted : ndarray of shape (n_kept, n_features)
        The rows that some donor could corrupt in ``k`` features.
    mask : ndarray of bool of shape (n_kept, n_features)
    sources : ndarray of int of shape (n_kept, 2)
        The index in ``rows`` of each corrupted row, and of its donor in
        ``donors``.
    """
    corrupted, masks, sources = [], [], []
    for index, row in enumerate(rows):
        usable = np.abs(donors - row) >= MIN_SHIFT
        if row_classes is not None:
            usable &= (donor_classes != row_classes[index])[:, None]
        candidates = np.flatnonzero(usable.sum(axis=1) >= k)
        if not len(candidates):
            continue
        donor = rng.choice(candidates)
        features = rng.choice(np.flatnonzero(usable[donor]), k, replace=False)
        mask = np.zeros(len(row), bool)
        mask[features] = True
        corrupted.append(np.where(mask, donors[donor], row))
        masks.append(mask)
        sources.append((index, donor))
    return np.array(corrupted), np.array(masks), np.array(sources, dtype=np.int64).reshape(-1, 2)


def corrupt_patches(images, image_classes, donors, donor_classes, side, shape, rng):
    """``images`` with a ``side`` x ``side`` patch of each copied from a donor image, and the mask of its pixels.

    The patch takes the same place in a donor of another class (any other
    donor where the classes are None), and its pixels change by at least
    ``MIN_PATCH_SHIFT`` on average. Arguments are those of :func:`corrupt`,
    with ``shape`` the ``(channels, height, width)`` of an image (every
    channel of the patch is copied).
    """
    if side > min(shape[1:]):
        raise ValueError(f"A patch of {side} pixels a side does not fit in images of {shape[1]}x{shape[2]}.")
    if image_classes is None:
        image_classes, donor_classes = np.zeros(len(images)), np.ones(len(donors))
    corrupted, masks = [], []
    for image, image_class in zip(images, image_classes):
        for _ in range(PATCH_TRIES):
            top, left = rng.randint(0, shape[1] - side + 1), rng.randint(0, shape[2] - side + 1)
            donor = donors[rng.choice(np.flatnonzero(donor_classes != image_class))]
            mask = np.zeros(shape, bool)
            mask[:, top:top + side, left:left + side] = True
            mask = mask.ravel()
            if np.abs(donor[mask] - image[mask]).mean() >= MIN_PATCH_SHIFT:
                corrupted.append(np.where(mask, donor, image))
                masks.append(mask)
                break
    return np.array(corrupted), np.array(masks)


def recall_at_k(scores, mask):
    """Mean over rows of the share of the ``mask``'s features among the row's highest ``scores``."""
    k = int(mask[0].sum())
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(mask, top, axis=1).mean()


def class_gaussians(rows, classes):
    """``{class: (mean, covariance)}`` of ``rows``, each class's Ledoit-Wolf covariance in the rows' own units."""
    gaussians = {}
    for label in np.unique(classes):
        members = rows[classes == label].astype(np.float64)
        mean, scale = members.mean(axis=0), members.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        shrunk, _ = ledoit_wolf((members - mean) / scale)
        gaussians[label] = (mean, shrunk * np.outer(scale, scale))
    return gaussians


def likeliest_sets(X, row_classes, donor_classes, gaussians, k):
    """Ones at each row's ``k`` features likeliest to hold a donor's values under ``gaussians``, zeros elsewhere.

    For every set ``S`` of ``k`` features, the log-likelihood ratio of the
    row being one of its class's rows with ``S`` taken from a row of the
    donor's class, against it being one row of its class:
    ``log p_donor(x_S) - log p_row(x_S | x_rest)``. The set of the largest
    ratio is the Bayes choice when the Gaussians are the classes' true
    distributions and the classes and ``k`` are known. The densities come
    from general matrix inverses, not from ``explain``'s closed forms for
    sets of up to three, so that the yardstick shares no code with what it
    measures and takes any ``k``.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    row_classes, donor_classes : ndarray of shape (n_rows,)
        The class of each row and of its donor, keys of ``gaussians``.
    gaussians : dict
        :func:`class_gaussians`.
    k : int
    """
    subsets = np.array(list(itertools.combinations(range(X.shape[1]), k)))
    chosen = np.zeros(X.shape)
    for row_class, donor_class in set(zip(row_classes, donor_classes)):
        rows = np.flatnonzero((row_classes == row_class) & (donor_classes == donor_class))
        ratios = (_log_marginals(X[rows], *gaussians[donor_class], subsets)
                  - _log_conditionals(X[rows], *gaussians[row_class], subsets))
        chosen[rows[:, None], subsets[ratios.argmax(axis=1)]] = 1.0
    return chosen


def _log_marginals(X, mean, covariance, subsets):
    """``log p(x_S)`` of each row for each set ``S`` of ``subsets``, up to a constant of ``k``."""
    deviations = (X - mean)[:, subsets]
    blocks = covariance[subsets[:, :, None], subsets[:, None, :]]
    return -0.5 * (_quadratic(deviations, np.linalg.inv(blocks)) + np.linalg.slogdet(blocks)[1])


def _log_conditionals(X, mean, covariance, subsets):
    """``log p(x_S | x_rest)`` of each row for each set ``S`` of ``subsets``, up to a constant of ``k``.

    With ``P`` the precision matrix, ``x_S`` given the rest is normal with
    precision ``P_SS`` about a mean that it misses by ``P_SS^-1 (P (x - mean))_S``.
    """
    precision = np.linalg.inv(covariance)
    pulls = ((X - mean) @ precision)[:, subsets]
    blocks = precision[subsets[:, :, None], subsets[:, None, :]]
    return -0.5 * (_quadratic(pulls, np.linalg.inv(blocks)) - np.linalg.slogdet(blocks)[1])


def _quadratic(vectors, matrices):
    """``v^T M v`` for each row's vector ``v`` of each set and the set's matrix ``M``."""
    return np.einsum("nsi,sij,nsj->ns", vectors, matrices, vectors)


def input_shares(rows, reference, spread=1.0):
    """Each feature's share of the squared input-space distance to its reference values, in units of ``spread``."""
    return _shares(np.square((rows.astype(np.float64) - reference) / spread))


def explained_input_shares(explanation, rows):
    """The input half of ``explain``'s shares: each feature's squared distance from its expected value, in spreads.

    On rows, each distance is weighted by the value's probability of being
    out of place (``out_of_place``), as ``explain`` weighs it.
    """
    shares = input_shares(rows, explanation.expected, explanation.expected_spread)
    return shares if explanation.out_of_place is None else _shares(shares * explanation.out_of_place)



def embedding_shares(explanation, input_half):
    """The embedding half of ``explain``'s shares: twice the whole minus the input half (``explained_input_shares``).

    ``contributions = distance * (embedding + input) / 2``, each half's
    shares adding up to 1 (in the rows where the embedding has a part).
    """
    whole = explanation.contributions / explanation.distances[:, None]
    return 2 * whole - input_half


def shap_anomaly(forest, rows):
    """Each feature's push of a row toward the anomalous end of an IsolationForest.

    TreeExplainer explains a forest's mean path length, which grows with
    ``score_samples`` (short paths are anomalies): a feature that makes a
    row more anomalous has a negative SHAP value, so the negation ranks.
    """
    import shap

    return -shap.TreeExplainer(forest).shap_values(rows)


def redrawn(detector, seed):
    """A copy of ``detector`` whose encoder has fresh random weights, its reference re-embedded.

    The k-NN reference must be embedded by the new network, or the
    explanation would compare a new embedding with old ones. BatchNorm's
    statistics are re-estimated on the reference rows: at their defaults the
    activations would stay at the input's scale, unlike any trained network.
    The score's scale (``neighbor_scales_``) is kept: it sets a row's total,
    not how the features share it.
    """
    copied = copy.deepcopy(detector)
    encoder = copied.net_.module_.encoder
    torch.manual_seed(seed)
    for layer in encoder.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    norms = [layer for layer in encoder.modules() if isinstance(layer, BATCH_NORMS)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        # None: a cumulative average, here of the one batch of reference rows.
        norm.momentum = None
    with torch.no_grad():
        encoder.train()
        encoder(torch.as_tensor(copied.reference_inputs_, device=copied.net_.device))
        encoder.eval()
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    embeddings = copied.net_.embed(copied.reference_inputs_)
    if hasattr(copied, "embedding_whitening_"):
        # The units of views are those of the reference's embeddings: refitted with them.
        copied.embedding_whitening_ = embedding_whitening(embeddings, copied.net_.module_.n_views)
    copied.reference_embeddings_ = embedding_units(copied, embeddings)
    return copied


def row_spearman(first, second):
    """Mean over rows of the Spearman correlation between two rankings of the features."""
    return float(np.mean([spearmanr(a, b).statistic for a, b in zip(first, second)]))


def fitted(dataset, split, labelled, seed):
    """The scaler (None on images, whose pixels the CNN reads as they are) and the detector of a split, fitted."""
    detector = IBDeepDescription(input_shape=dataset.image_shape, random_state=seed)
    scaler = None if dataset.image_shape else StandardScaler()
    model = detector if scaler is None else make_pipeline(scaler, detector)
    model.fit(dataset.rows(split.train), dataset.y[split.train] if labelled else None)
    return scaler, detector


def split_results(dataset, split, ks, n_rows, n_steps, seed=0, cost_rows=0):
    """``{k: {name: value}}`` of one split: each method's recall@k, the other measures, and the rows corrupted.

    With ``cost_rows``, also ``"cost"``: the seconds that ``decision_function``
    and ``explain`` take on that many held-out rows (repeated as needed).
    """
    y = dataset.y[split.train]
    labelled = split.labelled and len(np.unique(y)) > 1
    scaler, detector = fitted(dataset, split, labelled, seed)
    scaled = (lambda X: X) if scaler is None else (lambda X: scaler.transform(X).astype(np.float32))
    train = scaled(dataset.rows(split.train))
    # A scaled table's rows are their z-scores already; pixels are measured
    # in their spread over the training images.
    center, spread = (0.0, 1.0) if scaler is not None else (train.mean(axis=0), np.maximum(train.std(axis=0), 1e-6))
    forest = IsolationForest(random_state=seed).fit(train)
    random_net = redrawn(detector, seed)
    rng = np.random.RandomState(seed)
    held_out = split.test[~split.test_is_anomaly]
    held_out = rng.choice(held_out, min(n_rows, len(held_out)), replace=False)
    rows = scaled(dataset.rows(held_out))
    intact = -detector.score_samples(rows)
    classes = (dataset.y[held_out], y) if labelled else (None, None)
    results = {"cost": explain_cost(detector, rows, cost_rows, n_steps)} if cost_rows else {}
    if not dataset.image_shape:
        # Drawn with a generator of their own, so that the corrupted rows stay those of the runs before.
        unseen = split.test[split.test_is_anomaly]
        unseen = np.random.RandomState(seed).choice(unseen, min(n_rows, len(unseen)), replace=False)
        unseen = scaled(dataset.rows(unseen))
        results["unseen"] = unseen_results(detector, forest, unseen, n_steps)
        # The oracle's Gaussians see every row of the normal classes, the
        # held-out ones too; one Gaussian where the split has no labels.
        normal = np.flatnonzero(np.isin(dataset.y, np.unique(y)))
        normal_classes = dataset.y[normal] if labelled else np.zeros(len(normal))
        gaussians = class_gaussians(scaled(dataset.rows(normal)), normal_classes)
    for k in ks:
        if dataset.image_shape:
            X, mask = corrupt_patches(rows, classes[0], train, classes[1], k, dataset.image_shape, rng)
            oracle = {}
        else:
            X, mask, sources = corrupt(rows, classes[0], train, classes[1], k, rng)
            row_classes, donor_classes = (
                (classes[0][sources[:, 0]], classes[1][sources[:, 1]]) if labelled else (np.zeros(len(X)),) * 2
            )
            oracle = {ORACLE: likeliest_sets(X, row_classes, donor_classes, gaussians, k)}
        explanation, again = explained(detector, X, n_steps), explained(random_net, X, n_steps)
        input_half = explained_input_shares(explanation, X)
        embedding = embedding_shares(explanation, input_half)
        embedding_again = embedding_shares(again, explained_input_shares(again, X))
        scores = {
            "explain": explanation.contributions,
            "|z-score|": np.abs(X - center) / spread,
            "nearest row": input_shares(X, explanation.nearest_normal),
            "input half": input_half,
            "embedding half": embedding,
            "IForest SHAP": shap_anomaly(forest, X),
            "re-drawn explain": again.contributions,
            "re-drawn emb.": embedding_again,
        }
        results[k] = {name: recall_at_k(score, mask) for name, score in (scores | oracle).items()}
        results[k]["Spearman, all"] = row_spearman(explanation.contributions, again.contributions)
        results[k]["Spearman, emb."] = row_spearman(embedding, embedding_again)
        is_corrupted = np.r_[np.zeros(len(intact)), np.ones(len(X))]
        results[k]["detection AUC"] = roc_auc_score(is_corrupted, np.r_[intact, explanation.distances])
        results[k]["rows"] = len(X)
        results[k]["chance"] = mask.mean()
    return results


def unseen_results(detector, forest, rows, n_steps):
    """Of rows of unseen classes (scaled): how often explain and IForest SHAP put one of the 3 farthest values first.

    Also the share of the rows that explain reads as having come from elsewhere
    as a whole.
    """
    explanation = explained(detector, rows, n_steps)
    farthest = np.argsort(-np.abs(rows), axis=1)[:, :3]

    def first_among_farthest(shares):
        return float(np.mean([top in row for top, row in zip(shares.argmax(axis=1), farthest)]))

    return [
        first_among_farthest(explanation.contributions),
        first_among_farthest(shap_anomaly(forest, rows)),
        float(np.mean(explanation.row_from_elsewhere)),
    ]


def explained(detector, X, n_steps):
    """``detector.explain(X)``, with ``n_steps`` points unless it is None (explain's default)."""
    return detector.explain(X) if n_steps is None else detector.explain(X, n_steps=n_steps)


def explain_cost(detector, rows, n_rows, n_steps, repeats=3):
    """Seconds of ``decision_function`` and of ``explain`` on ``n_rows`` rows, ``rows`` repeated.

    Each method runs once on a few rows first, which imports captum (about
    a second, once per process), then ``repeats`` times: the fastest run
    counts, the one least slowed down by other work on the machine.
    """
    X = np.resize(rows, (n_rows, rows.shape[1]))
    seconds = []
    for method in (detector.decision_function, lambda X: explained(detector, X, n_steps)):
        method(X[:10])
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            method(X)
            runs.append(time.perf_counter() - start)
        seconds.append(min(runs))
    return seconds


def dataset_results(dataset, ks, n_splits, n_rows, n_steps, cost_rows=0):
    """``{k: {name: array over splits}}`` for one data set, on the benchmark's first ``n_splits`` splits.

    With ``cost_rows``, also ``"cost"``, the seconds of the first split (:func:`explain_cost`).
    """
    protocol = "oneclass" if dataset.normal_classes is not None and len(dataset.normal_classes) == 1 else "multiclass"
    splits = [split for _, split in build_splits(protocol, dataset, 0)][:n_splits]
    per_split = [
        split_results(dataset, split, ks, n_rows, n_steps, cost_rows=cost_rows if i == 0 else 0)
        for i, split in enumerate(splits)
    ]
    results = {k: {name: np.array([r[k][name] for r in per_split]) for name in per_split[0][k]} for k in ks}
    if "unseen" in per_split[0]:
        results["unseen"] = np.array([r["unseen"] for r in per_split])
    return results | ({"cost": per_split[0]["cost"]} if cost_rows else {})


def print_table(name, n_features, results, image=False):
    """The lines of one data set: each method's recall@k, chance, then the other measures, per ``k``; and the cost."""
    ks = [k for k in results if k not in ("cost", "unseen")]
    rows = results[ks[0]]["rows"]
    units = "pixels, k: a k x k patch" if image else "features"
    print(f"{name}: {n_features} {units}, {len(rows)} splits, {rows.mean():.0f} corrupted rows per split")
    lines = [(method, [_cell(results[k][method]) for k in ks]) for method in METHODS]
    lines.append(("chance", [f"{results[k]['chance'].mean():>8.3f}{'':8}" for k in ks]))
    if ORACLE in results[ks[0]]:
        lines.append((ORACLE, [_cell(results[k][ORACLE]) for k in ks]))
    lines += [(measure, [_cell(results[k][measure]) for k in ks]) for measure in OTHERS]
    for method, cells in lines:
        print(f"  {method:<18}{''.join(cells)}".rstrip())
    if "unseen" in results:
        explain, forest, elsewhere = (_cell(values).strip() for values in results["unseen"].T)
        print(f"  unseen classes: first share on one of the 3 farthest values: explain {explain}, "
              f"IForest SHAP {forest}; read as from elsewhere {elsewhere}")
    if "cost" in results:
        scoring, explaining = results["cost"]
        print(f"  cost: explain {explaining:.2f} s, decision_function {scoring:.3f} s, {explaining / scoring:.0f} times")
    print(flush=True)


def _cell(values):
    return f"{values.mean():>8.3f} ± {values.std():.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["wine", "breast_cancer", "satellite", "vehicle"],
                        help="among wine, breast_cancer, satellite, vehicle and digits (default: the four tables)")
    parser.add_argument("--mlbench", metavar="PATH",
                        help="mlbench's data folder, which satellite and vehicle need")
    parser.add_argument("--splits", type=int, default=5, help="first N splits of each data set")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3],
                        help="numbers of corrupted features (images: sides of the patch)")
    parser.add_argument("--rows", type=int, default=200, help="held-out normal rows corrupted per split")
    parser.add_argument("--n-steps", type=int, default=None, help="explain's quadrature points (its default if not given)")
    parser.add_argument("--cost-rows", type=int, default=10_000,
                        help="rows of the first split on which explain and decision_function are timed (0: none)")
    args = parser.parse_args(argv)
    steps = "default" if args.n_steps is None else args.n_steps
    print(f"recall@k of k corrupted features, mean ± std over splits (explain's n_steps: {steps})")
    print(f"  {'method':<18}" + "".join(f"{f'k={k}':>8}{'':8}" for k in args.k).rstrip())
    for name, dataset in data.loaded(parser, args.datasets, args.mlbench):
        results = dataset_results(dataset, args.k, args.splits, args.rows, args.n_steps, args.cost_rows)
        print_table(name, dataset.X.shape[1], results, image=not dataset.is_table)


if __name__ == "__main__":
    main()
