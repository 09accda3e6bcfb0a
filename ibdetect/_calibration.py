"""Calibration: the held-out samples, the threshold of ``predict`` and conformal p-values.

The samples that ``validation_fraction`` holds out are new to the network,
as the samples a user will score are; their distances set the threshold
(``contamination="auto"``) and calibrate the p-values.
"""

import numpy as np
from scipy.stats import binom
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import InvalidParameterError
from torch.utils.data import Subset

from ._fitted import OPTIONAL, FittedAttribute, finite
from ._labels import ANOMALY
from ._warnings import warn_at_caller
from .exceptions import ContaminationShareWarning

__all__ = [
    "FITTED_STATE",
    "StratifiedHoldOut",
    "auto_threshold",
    "can_calibrate",
    "check_calibrated",
    "class_calibration",
    "class_pvalues",
    "conformal_pvalues",
    "fit_scores",
    "hold_out",
    "pvalues",
    "threshold",
    "uncalibrated_message",
]

# validation_fraction="auto" holds out a tenth of each class, and more on
# small data, up to this share, so that at least MIN_CALIBRATION_SAMPLES
# normal samples calibrate the p-values and the threshold: the fewest whose
# smallest p-value, 1 / (19 + 1), reaches 0.05. On wine's 78 training rows a
# tenth held out 7 and p <= 0.05 flagged nothing; 30% cost 0.006 of ROC AUC
# (benchmarks/calibration.py).
MIN_CALIBRATION_SAMPLES = 19
AUTO_VALIDATION_FRACTION = 0.1
MAX_AUTO_VALIDATION_FRACTION = 0.3
# "auto" keeps classes of fewer samples whole, as a tenth does: few-shot
# training keeps every one of its labelled samples.
MIN_AUTO_HELD_OUT_CLASS = 10
# contamination=float warns when, of MIN_HELD_OUT_FOR_RATE held-out samples
# or more, so many lie beyond the threshold that a share of contamination
# would give as many with a probability below NEW_SAMPLES_FARTHER_LEVEL.
MIN_HELD_OUT_FOR_RATE = 10
NEW_SAMPLES_FARTHER_LEVEL = 1e-3


def _with_class_counts(state):
    return "class_calibration_counts_" in state


def _counts(counts, state):
    # Detectors of earlier versions have the marginal calibration scores
    # alone; the class-wise ones, when there, are the same samples'.
    if (counts < 0).any() or counts.sum() != len(state.get("calibration_scores_", ())):
        return "must be counts of at least 0 that add up to the calibration scores"
    return None


#: What calibration sets in ``fit``.
FITTED_STATE = (
    FittedAttribute("offset_", "float", check=finite),
    FittedAttribute("decision_scores_", "array", ("n_samples",), "float64"),
    FittedAttribute("calibration_scores_", "array", ("n_calibration",), "float64", when=OPTIONAL, check=finite),
    FittedAttribute(
        "class_calibration_counts_", "array", ("n_classes",), "int64", when=OPTIONAL, check=_counts,
    ),
    FittedAttribute(
        "class_calibration_scores_", "array", ("n_calibration",), "float64", when=_with_class_counts, check=finite,
    ),
)


# -- the held-out samples -----------------------------------------------------


class StratifiedHoldOut:
    """skorch ``train_split``: the samples ``hold_out`` draws validate, the others train.

    The split is drawn again from the targets and the seed, so it pickles as
    two small values: a saved model carries neither its validation set nor
    its indices. Each part keeps the samples' order.

    Parameters
    ----------
    fraction : float or "auto"
        The estimator's ``validation_fraction``.
    seed : int
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        held_out = _held_out_mask(np.asarray(y), self.fraction, self.seed)
        return Subset(dataset, np.flatnonzero(~held_out)), Subset(dataset, np.flatnonzero(held_out))


def hold_out(targets, validation_fraction, seed, streaming=False, held_before=0):
    """Mask of the held-out samples: ``validation_fraction`` of each class and of the known anomalies.

    Nothing is held out when no normal sample would be. A batch of a
    stream (``streaming``) holds out a normal class's share rounded up or
    down at random, in proportion: its batches hold out that share on
    average, however few of its samples each brings, where rounding down
    would keep every one of them. As the held-out rows of all its batches
    calibrate together, ``"auto"`` holds out more than a tenth of a batch
    only while the stream has held out fewer than ``MIN_CALIBRATION_SAMPLES``
    (``held_before`` so far). It holds out no known anomaly: nothing
    validates on a stream's later batches, so one held out would be lost.
    """
    if streaming:
        fraction = validation_fraction
        if validation_fraction == "auto":
            n_normal = max(1, int(np.sum(targets != ANOMALY)))
            needed = (MIN_CALIBRATION_SAMPLES - held_before) / n_normal
            fraction = min(MAX_AUTO_VALIDATION_FRACTION, max(AUTO_VALIDATION_FRACTION, needed))
        held_out = _held_out_mask(targets, fraction, seed, min_class_size=1, round_at_random=True)
        held_out &= targets != ANOMALY
        return held_out
    held_out = _held_out_mask(targets, validation_fraction, seed)
    if not np.any(held_out & (targets != ANOMALY)):
        return np.zeros(len(targets), dtype=bool)
    return held_out


def _held_out_mask(targets, validation_fraction, seed, min_class_size=None, round_at_random=False):
    """Mask of the samples that ``validation_fraction`` (a float, "auto" or None) holds out."""
    if validation_fraction is None:
        return np.zeros(len(targets), dtype=bool)
    auto = validation_fraction == "auto"
    if auto:
        validation_fraction = _auto_validation_fraction(targets)
    if min_class_size is None:
        min_class_size = MIN_AUTO_HELD_OUT_CLASS if auto else 1
    return _stratified_hold_out(
        targets, validation_fraction, np.random.RandomState(seed), min_class_size, round_at_random
    )


def _auto_validation_fraction(targets):
    """A tenth, or the smallest larger share (up to ``MAX_AUTO_VALIDATION_FRACTION``) that holds out
    ``MIN_CALIBRATION_SAMPLES`` normal samples from the classes large enough to lose some."""
    values, counts = np.unique(targets, return_counts=True)
    sizes = counts[(values != ANOMALY) & (counts >= MIN_AUTO_HELD_OUT_CLASS)]
    if not len(sizes):
        return AUTO_VALIDATION_FRACTION
    # Rounding down loses less than one sample per class: one more each
    # makes up for it.
    needed = (MIN_CALIBRATION_SAMPLES + len(sizes)) / sizes.sum()
    return min(MAX_AUTO_VALIDATION_FRACTION, max(AUTO_VALIDATION_FRACTION, needed))


def _stratified_hold_out(targets, fraction, rng, min_class_size=1, round_at_random=False):
    """Mask of ``floor(fraction * n)`` random samples of each target value of ``n >= min_class_size`` samples.

    Rounding down keeps small classes whole: a class of fewer than
    ``1 / fraction`` samples, as in few-shot training, is never held out.
    ``round_at_random`` rounds up with a probability of the fraction's
    remainder instead, so that ``fraction * n`` are held out on average.
    """
    held_out = np.zeros(len(targets), dtype=bool)
    for value in np.unique(targets):
        members = np.flatnonzero(targets == value)
        if len(members) >= min_class_size:
            share = fraction * len(members)
            count = int(share) + (round_at_random and rng.uniform() < share - int(share))
            held_out[rng.choice(members, count, replace=False)] = True
    return held_out


def can_calibrate(detector):
    """Whether ``predict_proba`` is available: not yet fitted (so that it
    raises ``NotFittedError``), or fitted with a calibration set.

    ``hasattr(detector, "predict_proba")`` is then False for a detector
    without one, as scikit-learn's tools expect; the AttributeError that
    calling it raises carries the reason as its cause.
    """
    if hasattr(detector, "offset_") and not hasattr(detector, "calibration_scores_"):
        raise AttributeError(uncalibrated_message(detector.validation_fraction))
    return True


def check_calibrated(detector):
    """Raise a ValueError unless ``detector`` holds calibration scores, saying how to get some."""
    if not hasattr(detector, "calibration_scores_"):
        raise ValueError(uncalibrated_message(detector.validation_fraction))


def uncalibrated_message(validation_fraction):
    """Why a fit that held out no normal sample has no p-values, and what to do."""
    return (
        "P-values need normal samples held out of training, and this fit held "
        f"out none (validation_fraction={validation_fraction!r}; a "
        "fraction holds out nothing of a class smaller than 1 / fraction, "
        f"and 'auto' nothing of a class of fewer than {MIN_AUTO_HELD_OUT_CLASS} samples). "
        "Refit with a validation_fraction that holds out samples, e.g. 0.2: "
        "samples the network trained on would make every p-value too large."
    )


# -- the threshold and the scores of the training data ------------------------------


def threshold(contamination, distances, targets, held_out, leave_one_out_distances):
    """The distance beyond which ``predict`` flags a sample.

    Parameters
    ----------
    contamination : "auto" or float
    distances, targets : ndarray of shape (n_samples,)
        Those of every sample ``fit`` got.
    held_out : ndarray of bool of shape (n_samples,)
        The samples the network did not train on.
    leave_one_out_distances : callable
        Returns the distances of the k-NN reference samples, each left out
        of its own neighbours as a new sample would be; or None when the
        score has no reference (the centre distance).
    """
    normal = targets != ANOMALY
    if contamination != "auto":
        # The fraction of the training data to flag, as scikit-learn defines it.
        cut = np.percentile(distances, 100.0 * (1.0 - contamination))
        _warn_if_new_samples_fall_farther(contamination, distances[held_out & normal], cut)
        return cut
    if held_out.any():
        # Held-out normal samples are new to the network: the threshold
        # then allows for how much farther out new samples fall.
        return auto_threshold(distances[held_out & normal])
    left_out = leave_one_out_distances()
    return auto_threshold(distances[normal] if left_out is None else left_out)


def _warn_if_new_samples_fall_farther(contamination, held_out_distances, cut):
    """Warn when far more held-out samples lie beyond ``cut`` than the ``contamination`` share of them would.

    The network trained on the other samples, which then lie closer to the
    normal data than new ones do: a share of the training data flags a
    larger share of new samples, by how much depends on the data.
    """
    n, flagged = len(held_out_distances), int(np.sum(held_out_distances > cut))
    if n < MIN_HELD_OUT_FOR_RATE or binom.sf(flagged - 1, n, contamination) >= NEW_SAMPLES_FARTHER_LEVEL:
        return
    warn_at_caller(ContaminationShareWarning(
        f"contamination={contamination:g} flags that share of the samples fit was given, as scikit-learn "
        f"defines it, but {flagged} of the {n} samples held out of training ({flagged / n:.0%}): new samples "
        "score farther out than the samples training saw. To flag a share of new normal samples, flag "
        f"pvalues(X) <= {contamination:g} instead, or use contamination='auto'.",
        contamination=contamination, flagged=flagged, n_held_out=n,
    ))


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


def fit_scores(distances, targets, held_out, offset):
    """``decision_scores_`` and, when normal samples were held out, ``calibration_scores_``, by name.

    ``distances`` and ``targets`` are those of every sample ``fit`` got, in
    their order; ``held_out`` marks those the network did not train on.
    """
    scores = {"decision_scores_": -distances - offset}
    held_out_normal = distances[held_out & (targets != ANOMALY)]
    if len(held_out_normal):
        scores["calibration_scores_"] = np.sort(held_out_normal)
    return scores


def class_calibration(distances, targets, n_classes):
    """``class_calibration_counts_`` and ``class_calibration_scores_``, by name.

    ``distances`` are the held-out normal samples' squared distances to
    their own class's centre, ``targets`` their classes; the scores are kept
    class by class, in the order of ``classes_``, each class's sorted.
    """
    order = np.lexsort((distances, targets))
    return {
        "class_calibration_counts_": np.bincount(targets, minlength=n_classes).astype(np.int64),
        "class_calibration_scores_": np.asarray(distances, dtype=np.float64)[order],
    }


def pvalues(detector, X, by_class, smoothing, random_state):
    """``IBDeepDescription.pvalues`` of a fitted detector: its arguments checked, then the p-values."""
    check_calibrated(detector)
    for name, value in (("by_class", by_class), ("smoothing", smoothing)):
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameterError(f"{name} must be True or False, got {value!r}.")
    # Checked whether or not it is used, as scikit-learn checks parameters.
    draws = check_random_state(random_state)
    distances = detector.class_distances(X) if by_class else -detector.score_samples(X)
    # One draw per sample, which every class's column shares, as one
    # sample's place among the calibration scores would be drawn once.
    uniforms = draws.uniform(size=len(distances)) if smoothing else None
    if by_class:
        return class_pvalues(detector, distances, uniforms)
    n_calibration = len(detector.calibration_scores_)
    if not smoothing and n_calibration < MIN_CALIBRATION_SAMPLES:
        warn_at_caller(
            f"Only {n_calibration} normal samples were held out: plain p-values are at least 1 / "
            f"{n_calibration + 1} = {1 / (n_calibration + 1):.3g}, so p <= 0.05 flags no sample. Refit with a "
            "larger validation_fraction, or smooth the p-values (smoothing=True).",
            UserWarning,
        )
    return conformal_pvalues(detector.calibration_scores_, distances, uniforms)


def class_pvalues(detector, class_distances, uniforms=None):
    """Conformal p-value of each sample for each class, each class calibrated on its own held-out samples.

    ``uniforms`` smooths them (:func:`conformal_pvalues`). Columns of
    classes without held-out samples are NaN; a warning names them, and
    without smoothing, the classes whose held-out samples are too few for
    ``p <= 0.05`` to flag anything.
    """
    if not hasattr(detector, "class_calibration_counts_"):
        raise ValueError(
            "This detector keeps no calibration scores by class: an earlier version of ibdetect fitted it. "
            "Refit it to get pvalues(X, by_class=True)."
        )
    counts = detector.class_calibration_counts_
    bounds = np.concatenate([[0], np.cumsum(counts)])
    columns = np.full(class_distances.shape, np.nan)
    for c in np.flatnonzero(counts):
        scores = detector.class_calibration_scores_[bounds[c]:bounds[c + 1]]
        columns[:, c] = conformal_pvalues(scores, class_distances[:, c], uniforms)
    _warn_of_few_held_out(detector.classes_, counts, smoothed=uniforms is not None)
    return columns


def _warn_of_few_held_out(classes, counts, smoothed):
    """Warn of the classes whose p-values cannot flag a new row at 0.05: none held out, or (plain) too few."""
    few = counts == 0 if smoothed else counts < MIN_CALIBRATION_SAMPLES
    if not few.any():
        return
    listed = ", ".join(f"{label} ({count})" for label, count in zip(classes[few], counts[few]))
    if smoothed:
        remedy = "they have NaN p-values; refit with a larger validation_fraction to calibrate them."
    else:
        remedy = (
            "a class of n held-out samples has p-values of at least 1 / (n + 1), so p <= 0.05 flags none of its "
            "rows (and a class of none has NaN p-values); refit with a larger validation_fraction to calibrate "
            "them, or smooth the p-values of the classes with some (smoothing=True)."
        )
    warn_at_caller(
        f"Classes with {'no' if smoothed else f'fewer than {MIN_CALIBRATION_SAMPLES}'} held-out samples: "
        f"{listed}; {remedy}",
        UserWarning,
    )


def conformal_pvalues(calibration_scores, scores, uniforms=None):
    """Conformal p-value of each score against the calibration scores.

    ``p = (1 + #{calibration scores >= score}) / (1 + n_calibration)``, where
    a higher score is more anomalous. When the calibration samples and a new
    normal sample are exchangeable, ``P(p <= alpha) <= alpha`` for every
    ``alpha``: the p-value of a normal sample is (super-)uniform.

    Smoothed (with ``uniforms``), the sample counts as one more among the
    calibration scores equal to its own, and its place among them is drawn:
    ``p = (#{calibration scores > score} + U (1 + #{= score})) / (1 + n_calibration)``
    with ``U`` uniform on [0, 1) and independent of the scores. Then
    ``P(p <= alpha) = alpha`` exactly, whatever the number of calibration
    samples (Vovk, Gammerman and Shafer, "Algorithmic learning in a random
    world"), where the plain p-value steps by ``1 / (1 + n_calibration)``
    and is conservative between the steps.

    Parameters
    ----------
    calibration_scores : array-like of shape (n_calibration,)
        Anomaly scores of normal samples the model never trained on, in any
        order.
    scores : array-like of shape (n_samples,)
        Anomaly scores to turn into p-values.
    uniforms : array-like of shape (n_samples,), default=None
        Each sample's ``U``, for smoothed p-values; None gives the plain ones.

    Returns
    -------
    pvalues : ndarray of float64 of shape (n_samples,)
        Plain, in ``[1 / (n_calibration + 1), 1]``; smoothed, in ``[0, 1)``
        and below the plain ones. Smaller is more anomalous.
    """
    calibration = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    scores = np.asarray(scores, dtype=np.float64)
    # Calibration scores below each score; the rest are at least as anomalous.
    below = np.searchsorted(calibration, scores, side="left")
    if uniforms is None:
        return (1.0 + len(calibration) - below) / (1.0 + len(calibration))
    ties = np.searchsorted(calibration, scores, side="right") - below
    above = len(calibration) - below - ties
    return (above + np.asarray(uniforms, dtype=np.float64) * (1.0 + ties)) / (1.0 + len(calibration))
