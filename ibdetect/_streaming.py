"""What ``partial_fit`` trains on from: uniform samples of everything seen, as input rows.

A network trained on a new batch embeds every row anew, so the rows that
the scores compare with are kept as input rows and embedded again after
each batch. Two uniform samples (reservoirs, Vitter's algorithm R) of all
the rows seen so far are kept: the normal training rows with their
classes, on which the network also trains with each batch (so that it does
not forget the earlier ones) and from which the k-NN reference is taken;
and the held-out normal rows, which calibrate the threshold and the
p-values. The counts of rows seen per class set the class priors, and the
reference's share of all the rows seen sets the k-NN rank, as one fit on
everything would. ``fit`` keeps them too, so that ``partial_fit`` trains
on from it.
"""

import numpy as np
import torch

from ._anomaly_score import (
    check_reference_size,
    leave_one_out_distances,
    reference_state,
    score_rows,
    subsample,
    whitened_views,
)
from ._calibration import auto_threshold, class_calibration
from ._fitted import OPTIONAL, FittedAttribute
from ._labels import ANOMALY
from ._training import check_monitors, warn_if_outlier_flags

__all__ = [
    "FITTED_STATE",
    "MAX_CALIBRATION_ROWS",
    "calibrate",
    "carry_features",
    "check_batch",
    "check_can_train_on",
    "first_batch",
    "merge_batch",
    "merged_classes",
    "reference",
    "replay",
    "reservoir",
    "training_rows",
]

# The most held-out rows partial_fit keeps to calibrate p-values and the
# threshold: the smallest p-value is then 1 / 5,001.
MAX_CALIBRATION_ROWS = 5_000


def _streaming(state):
    return "n_samples_seen_" in state


def _known_targets(values, state):
    if len(values) and (values.min() < 0 or values.max() >= len(state["classes_"])):
        return "must hold indices of classes_"
    return None


def _counts_of_rows_seen(values, state):
    if (values < 0).any() or values.sum() != state.get("n_samples_seen_"):
        return "must be counts of at least 0 that add up to n_samples_seen_"
    return None


def _at_most_seen(name):
    def check(values, state):
        if len(values) > state.get(name, 0):
            return f"must hold at most {name} rows"
        if not np.isfinite(values).all():
            return "must hold finite values"
        return None

    return check


def _calibration_rows(values, state):
    if len(values) > MAX_CALIBRATION_ROWS:
        return f"must hold at most {MAX_CALIBRATION_ROWS} rows"
    return _at_most_seen("n_calibration_seen_")(values, state)


#: What ``fit`` and ``partial_fit`` keep for ``partial_fit`` to train on from.
FITTED_STATE = (
    FittedAttribute("n_samples_seen_", "int", when=OPTIONAL),
    FittedAttribute("class_counts_", "array", ("n_classes",), "int64", when=_streaming, check=_counts_of_rows_seen),
    FittedAttribute(
        "replay_inputs_", "array", ("n_replay", "n_features_in_"), "float32", when=_streaming,
        check=_at_most_seen("n_samples_seen_"),
    ),
    FittedAttribute("replay_targets_", "array", ("n_replay",), "int64", when=_streaming, check=_known_targets),
    FittedAttribute("n_calibration_seen_", "count", when=_streaming),
    FittedAttribute(
        "calibration_inputs_", "array", ("n_calibration_kept", "n_features_in_"), "float32", when=_streaming,
        check=_calibration_rows,
    ),
    # Development builds before pvalues(X, by_class=True) kept no targets:
    # such detectors score, but partial_fit asks to fit them again.
    FittedAttribute("calibration_targets_", "array", ("n_calibration_kept",), "int64", when=OPTIONAL, check=_known_targets),
)


# -- before training ------------------------------------------------------------------


def check_can_train_on(detector):
    """Whether ``detector`` is fitted, and so trained on rather than fitted; a ValueError if it cannot be."""
    if not hasattr(detector, "net_"):
        return False
    if not hasattr(detector, "n_samples_seen_") or not hasattr(detector, "calibration_targets_"):
        raise ValueError(
            "partial_fit trains on from the rows a fit keeps, and this detector keeps none (an earlier "
            "version of ibdetect fitted it, or it was saved with training_rows=False). Fit it again, then "
            "train on with partial_fit."
        )
    return True


def carry_features(detector, previous):
    """Give ``detector`` (being fitted) the features of ``previous``, which validation checks a batch against."""
    for name in ("n_features_in_", "feature_names_in_"):
        if hasattr(previous, name):
            setattr(detector, name, getattr(previous, name))


def check_batch(detector, previous, setup):
    """Set the batch's own seed and score in ``setup``; a ValueError for what a later batch cannot do."""
    # Each batch draws its own held-out rows and reservoir samples.
    setup.seed = int(np.random.RandomState([setup.seed, previous.n_samples_seen_ % 2**32]).randint(np.iinfo(np.int32).max))
    check_monitors(detector.callbacks, "partial_fit validates on nothing after the first batch")
    if detector.anomaly_score == "auto":
        # "auto" stands for what the first batch resolved it to, whatever a later one holds.
        setup.anomaly_score = previous.anomaly_score_
    if setup.anomaly_score != previous.anomaly_score_:
        raise ValueError(
            f"The earlier batches were scored with anomaly_score={previous.anomaly_score_!r}, this batch "
            f"resolves it to {setup.anomaly_score!r}; set anomaly_score={previous.anomaly_score_!r}."
        )


def merge_batch(detector, previous, X, y, targets, setup):
    """Bring this batch's classes together with the earlier batches', on ``detector`` (being fitted).

    Sets ``detector.classes_`` and ``normal_labels_`` to those of everything
    seen, and returns the batch's targets as indices into them. ``setup``
    gets the earlier batches' class counts laid out the same way
    (``previous_counts``), where each earlier class now stands (``moved``),
    and the centres the network trains on from (``centers``): None when no
    class is new, else the earlier centres in their new places beside the
    mean embedding, by the earlier network, of each new class's samples.
    """
    if (previous.normal_labels_ is None) != (y is None):
        had, has = ("no labels", "labels") if y is not None else ("labels", "none")
        # One normal class whose known anomalies come later: label it from the start.
        hint = " (to add known anomalies to one normal class, fit with y=np.ones(len(X)))" if y is not None else ""
        raise ValueError(
            f"The earlier batches had {had} and this one has {has}; give every batch labels, or none{hint}."
        )
    classes, targets, moved = merged_classes(previous.classes_, detector.classes_, targets)
    counts = np.zeros(len(classes), dtype=np.int64)
    counts[moved] = previous.class_counts_
    if previous.normal_labels_ is not None and detector.loss == "svdd":
        # One centre for every label: the labels seen are kept apart from classes_.
        empty = np.zeros(0, dtype=np.int64)
        detector.normal_labels_ = merged_classes(previous.normal_labels_, detector.normal_labels_, empty)[0]
    elif previous.normal_labels_ is not None:
        detector.normal_labels_ = classes
    detector.classes_ = classes
    setup["previous_counts"], setup["moved"] = counts, moved
    if len(classes) > len(previous.classes_):
        # The classes of the stream so far, as fit checks a first batch's.
        batch_counts = np.bincount(targets[targets != ANOMALY], minlength=len(classes))
        warn_if_outlier_flags(classes, counts + batch_counts)
    if len(classes) > len(previous.classes_):
        setup["centers"] = _grown_centers(previous, X, targets, moved, len(classes))
    return targets


def merged_classes(previous, classes, targets):
    """The classes of everything seen (sorted, as ``fit`` keeps them), and ``targets`` as indices into them.

    Parameters
    ----------
    previous : ndarray
        The classes seen before this batch.
    classes, targets : ndarray
        This batch's own classes, and its targets as indices into them.

    Returns
    -------
    classes : ndarray
    targets : ndarray of int64
    moved : ndarray of int
        Where each previous class now stands.
    """
    if not len(classes):
        # A batch of known anomalies alone brings no class, of either kind.
        return previous, targets, np.arange(len(previous), dtype=np.int64)
    if _kind(previous) != _kind(classes):
        raise ValueError(
            f"This batch's labels are {_kind(classes)}, the earlier batches' {_kind(previous)}; "
            "give every batch labels of one kind."
        )
    if previous.dtype.kind in "iu" and classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        # Whole numbers written as floats (2.0): the stream's integer labels.
        classes = classes.astype(np.int64)
    # np.union1d widens the dtype (longer text, larger ints) as the labels need.
    merged = np.union1d(previous, classes)
    position = {label: index for index, label in enumerate(merged.tolist())}
    batch = np.array([position[label] for label in classes.tolist()], dtype=np.int64)
    targets = np.where(targets == ANOMALY, ANOMALY, batch[np.maximum(targets, 0)])
    moved = np.array([position[label] for label in previous.tolist()], dtype=np.int64)
    return merged, targets, moved


def _kind(classes):
    return "numbers" if classes.dtype.kind in "iubf" else "text"


def _grown_centers(previous, X, targets, moved, n_classes):
    module = previous.net_.module_
    n_views, dim = module.n_views, module.centers.shape[1]
    old = module.centers.detach().reshape(-1, n_views, dim)
    centers = torch.zeros((n_classes, n_views, dim), dtype=old.dtype, device=old.device)
    centers[torch.as_tensor(moved, device=old.device)] = old
    for new in sorted(set(range(n_classes)) - set(moved.tolist())):
        embeddings = previous.net_.embed(X[targets == new]).reshape(-1, n_views, dim)
        centers[new] = torch.as_tensor(embeddings.mean(axis=0), dtype=old.dtype, device=old.device)
    return centers.reshape(-1, dim)


# -- the rows kept ---------------------------------------------------------------------


def first_batch(detector, X, targets, held_out, normal_train, setup):
    """What ``fit`` keeps for ``partial_fit``, by name: the counts, and uniform samples of its rows.

    The replay sample is the k-NN reference's own draw when the reference
    holds as many rows, and shares its array where the score keeps it.
    """
    capacity = min(len(normal_train), _replay_capacity(setup.max_references, len(normal_train)))
    replayed = subsample(normal_train, capacity, setup.seed)
    inputs = getattr(detector, "reference_inputs_", None)
    if inputs is None or len(inputs) != len(replayed):
        inputs = np.asarray(X[replayed], dtype=np.float32)
    calibration = np.flatnonzero(held_out & (targets != ANOMALY))
    kept = subsample(calibration, MAX_CALIBRATION_ROWS, [setup.seed, 1])
    return {
        "n_samples_seen_": len(normal_train),
        "class_counts_": np.bincount(targets[normal_train], minlength=len(detector.classes_)).astype(np.int64),
        "replay_inputs_": inputs,
        "replay_targets_": targets[replayed],
        "n_calibration_seen_": len(calibration),
        "calibration_inputs_": np.asarray(X[kept], dtype=np.float32).reshape(len(kept), X.shape[1]),
        "calibration_targets_": targets[kept],
    }


def reservoir(n_kept, n_seen, n_new, capacity, seed):
    """Which rows a uniform sample of at most ``capacity`` keeps, once ``n_new`` rows follow ``n_seen``.

    Parameters
    ----------
    n_kept : int
        The size of a uniform sample of the ``n_seen`` rows seen before.
    n_seen, n_new : int
    capacity : int
        At most ``n_kept`` when the sample has dropped rows (``n_kept < n_seen``).
    seed : int or sequence of int

    Returns
    -------
    positions : ndarray of int
        Positions in the kept rows followed by the new ones: the new sample.
    """
    if n_kept < n_seen:
        # A sample that has dropped rows cannot grow and stay uniform (a cap
        # raised since, by set_params or by a version whose "auto" keeps
        # more): it keeps its size.
        capacity = min(capacity, n_kept)
    rng = np.random.RandomState(seed)
    kept = list(range(n_kept))
    for offset in range(n_new):
        if len(kept) < capacity:
            kept.append(n_kept + offset)
            continue
        # The (n_seen + offset + 1)-th row replaces a kept one with
        # probability capacity / (n_seen + offset + 1).
        slot = rng.randint(n_seen + offset + 1)
        if slot < capacity:
            kept[slot] = n_kept + offset
    return np.array(kept, dtype=np.int64)


def _pick(kept, new, positions):
    """The rows at ``positions`` of ``kept`` followed by ``new``, without joining the two."""
    old = positions < len(kept)
    picked = np.empty((len(positions), *new.shape[1:]), dtype=new.dtype)
    picked[old] = kept[positions[old]]
    picked[~old] = new[positions[~old] - len(kept)]
    return picked


def replay(detector, previous, X, targets, held_out, setup):
    """The counts of normal rows seen and the replay sample, by name, after a later batch."""
    normal = np.flatnonzero(~held_out & (targets != ANOMALY))
    counts = setup.previous_counts + np.bincount(targets[normal], minlength=len(detector.classes_))
    n_seen = previous.n_samples_seen_ + len(normal)
    if isinstance(setup.max_references, float):
        # A share of every row: each new one is kept with that probability.
        kept = np.random.RandomState(setup.seed).rand(len(normal)) < setup.max_references
        positions = np.concatenate([np.arange(len(previous.replay_inputs_)), len(previous.replay_inputs_) + np.flatnonzero(kept)])
    else:
        # As many rows as the k-NN reference may hold, or its default cap
        # for a score that has none.
        capacity = min(n_seen, _replay_capacity(setup.max_references, n_seen))
        positions = reservoir(len(previous.replay_inputs_), previous.n_samples_seen_, len(normal), capacity, setup.seed)
    return {
        "n_samples_seen_": n_seen,
        "class_counts_": counts.astype(np.int64),
        "replay_inputs_": _pick(previous.replay_inputs_, X[normal], positions),
        "replay_targets_": _pick(setup.moved[previous.replay_targets_], targets[normal], positions),
    }


def _replay_capacity(max_references, n_seen):
    if isinstance(max_references, float):
        return max(2, int(max_references * n_seen))
    return max_references


def training_rows(X, targets, held_out, previous, setup):
    """What the network trains on: the batch's training rows and the earlier batches' replay sample."""
    train = ~held_out
    return (
        np.concatenate([X[train], previous.replay_inputs_]),
        np.concatenate([targets[train], setup.moved[previous.replay_targets_]]),
    )


def reference(detector, setup):
    """The k-NN score's fitted attributes: the replay sample (or as much of it as the reference holds), embedded anew."""
    anomaly_score = setup.anomaly_score
    n_references = check_reference_size(anomaly_score, detector.n_neighbors, setup.max_references, detector.n_samples_seen_)
    if anomaly_score == "distance":
        return {"anomaly_score_": anomaly_score}
    # A random part of the sample when it holds more (max_references lowered since).
    inputs = detector.replay_inputs_[subsample(np.arange(len(detector.replay_inputs_)), n_references, 0)]
    return {"anomaly_score_": anomaly_score} | reference_state(
        anomaly_score, detector.net_.embed, inputs, detector.n_samples_seen_, detector.n_neighbors,
        n_views=whitened_views(detector),
    )


# -- after training ---------------------------------------------------------------------


def calibrate(detector, previous, X, targets, held_out, distances, setup):
    """The threshold, the batch's scores, and the calibration samples: a uniform sample of every held-out normal row seen."""
    calibrating = held_out & (targets != ANOMALY)
    rows = X[calibrating]
    n_seen = previous.n_calibration_seen_ + len(rows)
    # Another stream of random numbers than the replay sample's.
    positions = reservoir(len(previous.calibration_inputs_), previous.n_calibration_seen_, len(rows), MAX_CALIBRATION_ROWS, [setup.seed, 1])
    kept = _pick(previous.calibration_inputs_, rows, positions)
    kept_targets = _pick(setup.moved[previous.calibration_targets_], targets[calibrating], positions)
    state = {"n_calibration_seen_": n_seen, "calibration_inputs_": kept, "calibration_targets_": kept_targets}
    calibration, own_centers = (
        score_rows(detector, kept, with_center_distances=True, classes=kept_targets) if len(kept) else (None, None)
    )
    if detector.contamination != "auto":
        # The share of every training row seen, of which the replay sample is a uniform sample.
        offset = -np.percentile(_replay_distances(detector), 100.0 * (1.0 - detector.contamination))
    elif calibration is not None:
        offset = -auto_threshold(calibration)
    else:
        offset = -auto_threshold(_replay_distances(detector))
    state |= {"offset_": offset, "decision_scores_": -distances - offset}
    if calibration is None:
        return state
    return state | {"calibration_scores_": np.sort(calibration)} | class_calibration(
        own_centers, kept_targets, len(detector.classes_)
    )


def _replay_distances(detector):
    """The replay sample's distances, each reference row left out of its own neighbours."""
    left_out = leave_one_out_distances(detector)
    if left_out is not None and len(left_out) == len(detector.replay_inputs_):
        return left_out
    return score_rows(detector, detector.replay_inputs_)[0]
