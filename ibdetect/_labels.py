"""The one rule for labels: which label marks a known anomaly, and how labels become targets.

The Python API, the scorers and the command line all read labels through
these functions, so that a label means the same wherever it is given.
"""

from numbers import Real

import numpy as np
from sklearn.base import OutlierMixin
from sklearn.utils.multiclass import check_classification_targets

#: The label, and the training target, of a known anomaly: scikit-learn's
#: outlier label.
ANOMALY = -1

#: The label of the single centre when normal samples carry no class labels,
#: or all share one: scikit-learn's inlier label.
INLIER = 1


def has_known_anomalies(targets):
    """Whether training targets (class indices, ``ANOMALY`` for a known anomaly) hold a known anomaly."""
    return bool(np.any(targets == ANOMALY))


def is_anomaly(y):
    """Boolean mask of the labels that mark a known anomaly.

    The marker is the number -1, whatever its type (``-1``, ``-1.0``,
    ``np.int8(-1)``), or a text that reads as that number once stripped of
    surrounding blanks (``"-1"``, ``" -1"``, ``"-1.0"``), as labels read from a
    text file often are. No other label is an anomaly.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    mask : ndarray of bool of shape (n_samples,)

    Examples
    --------
    >>> from ibdetect.metrics import is_anomaly
    >>> is_anomaly([0, -1, 2]).tolist()
    [False, True, False]
    >>> is_anomaly(["cat", "-1", " -1.0", -1]).tolist()
    [False, True, True, True]
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == ANOMALY
    if y.dtype.kind == "b":
        return np.zeros(y.shape, dtype=bool)
    flags = [_is_marker(label) for label in y.ravel()]
    return np.array(flags, dtype=bool).reshape(y.shape)


def _is_marker(label):
    if isinstance(label, (bytes, str)):
        try:
            return float(label.strip()) == ANOMALY
        except ValueError:
            return False
    return isinstance(label, Real) and not isinstance(label, bool) and label == ANOMALY


def encode_labels(y, one_class=False, anomalies_only=False):
    """The known classes in ``y`` and each sample's target.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels of the known normal classes; the anomaly marker (see
        :func:`is_anomaly`) for known anomalies.
    one_class : bool, default=False
        Whether every normal sample belongs to one class, whatever its label.
    anomalies_only : bool, default=False
        Whether every label may mark an anomaly (a batch of a stream whose
        earlier batches brought the normal classes); ``classes`` is then
        empty (``[1]`` with ``one_class``).

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The sorted normal labels, or ``[1]`` (scikit-learn's inlier label)
        with ``one_class``.
    targets : ndarray of int64 of shape (n_samples,)
        The index of each sample's class in ``classes``, or ``ANOMALY``.

    Raises
    ------
    ValueError
        Every label marks an anomaly (unless ``anomalies_only``), or the
        normal labels are not class labels.
    """
    anomalous = is_anomaly(y)
    if anomalous.all() and not anomalies_only:
        raise ValueError(
            f"y marks all samples as known anomalies ({ANOMALY}); at least one sample must be normal."
        )
    targets = np.full(len(y), ANOMALY, dtype=np.int64)
    if one_class:
        targets[~anomalous] = 0
        return np.array([INLIER]), targets
    # Checked without the anomaly markers, which may sit among string labels.
    check_classification_targets(y[~anomalous])
    classes, targets[~anomalous] = np.unique(y[~anomalous], return_inverse=True)
    return classes, targets


def training_classes(y, n_samples, one_class=False, anomalies_only=False):
    """A detector's ``classes_`` and ``normal_labels_`` from the labels ``y``, and each sample's target.

    As :func:`encode_labels`; with ``one_class``, every normal label shares
    the one centre, so ``classes_`` no longer says which labels were normal
    in training, which scorers need to know: ``normal_labels_`` does.
    Without labels (``y=None``) the ``n_samples`` samples are normal, of one
    class, and no label was seen. ``anomalies_only`` lets every label mark an
    anomaly, as :func:`encode_labels` takes it.
    """
    if y is None:
        return np.array([INLIER]), None, np.zeros(n_samples, dtype=np.int64)
    classes, targets = encode_labels(y, one_class=one_class, anomalies_only=anomalies_only)
    return classes, (np.unique(y[targets != ANOMALY]) if one_class else classes), targets


def outlier_labels(decision):
    """scikit-learn's outlier labels of decision scores: -1 (anomaly) where negative, +1 elsewhere.

    The one place of the rule "a score below 0 is an anomaly", which
    ``predict``, ``labels_``, the command line and the demo all follow.
    """
    return np.where(np.asarray(decision) < 0, ANOMALY, INLIER)


class LabelledOutlierMixin(OutlierMixin):
    """scikit-learn's OutlierMixin, whose ``fit_predict`` gives ``fit`` the labels too.

    OutlierMixin's ``fit_predict(X, y)`` ignores ``y``, as an unsupervised
    detector may: this detector's labels name the known classes and the
    known anomalies, which ``fit_predict(X, y)`` without them would train
    as normal data of one class.
    """

    def fit_predict(self, X, y=None, **kwargs):
        """Fit on ``X`` and its labels ``y`` (as ``fit`` reads them), then return ``predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training samples, which are then labelled.
        y : array-like of shape (n_samples,), default=None
            Their classes, ``-1`` for a known anomaly; None for one normal class.
        **kwargs
            Passed on to ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 for anomalies, 1 for normal samples.
        """
        return self.fit(X, y, **kwargs).predict(X)
