"""Metrics and scorers for detectors evaluated on class labels with anomalies marked -1.

scikit-learn's own ``roc_auc`` scorer works when ``y`` is +1 (normal) / -1
(anomaly). When ``y`` holds the labels of the known normal classes, as
:meth:`IBDeepDescription.fit <ibdetect.IBDeepDescription.fit>` takes them, plus
-1 for anomalies, use the metrics and scorers here. They rank anomalies (the
positives) by ``-decision_function``. The metrics count the rows labelled -1
as anomalies, and with ``known_classes`` also the rows of any other class. The
scorers pass the labels the fitted model trained on (``normal_labels_`` of
an :class:`~ibdetect.IBDeepDescription`, else ``classes_``), so that a
test row of a class the model never trained on counts as an anomaly: the test
folds of :class:`ibdetect.model_selection.UnseenClassSplit` score as they are.

Examples
--------
>>> import numpy as np
>>> from ibdetect.metrics import anomaly_roc_auc_score
>>> y_true = np.array(["cat", "dog", -1, "cat"], dtype=object)
>>> normality = np.array([0.9, 0.8, -0.5, 0.1])
>>> anomaly_roc_auc_score(y_true, normality)
1.0
>>> anomaly_roc_auc_score(y_true, normality, known_classes=["cat"])
0.75
"""

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils.validation import check_is_fitted

from ._labels import is_anomaly
from ._pipelines import final_step

__all__ = [
    "anomaly_average_precision_score",
    "anomaly_average_precision_scorer",
    "anomaly_roc_auc_score",
    "anomaly_roc_auc_scorer",
    "is_anomaly",
]


def anomaly_roc_auc_score(y_true, y_score, *, known_classes=None):
    """ROC AUC of detecting the samples labelled -1, or of no known class.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels; -1 marks an anomaly. Any other value is normal, unless
        ``known_classes`` leaves it out.
    y_score : array-like of shape (n_samples,)
        Normality scores, higher for more normal samples, such as
        ``decision_function`` or ``score_samples``.
    known_classes : array-like, default=None
        The normal classes, such as the ``classes_`` of a fitted detector: a
        sample of any other class is an anomaly too. None: every label other
        than -1 is normal.

    Returns
    -------
    auc : float
        1.0 when every anomaly scores below every normal sample, 0.5 at chance.
    """
    return roc_auc_score(_anomalies(y_true, known_classes), -np.asarray(y_score))


def anomaly_average_precision_score(y_true, y_score, *, known_classes=None):
    """Average precision of detecting the samples labelled -1, or of no known class.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels; -1 marks an anomaly. Any other value is normal, unless
        ``known_classes`` leaves it out.
    y_score : array-like of shape (n_samples,)
        Normality scores, higher for more normal samples.
    known_classes : array-like, default=None
        The normal classes: a sample of any other class is an anomaly too.
        None: every label other than -1 is normal.

    Returns
    -------
    average_precision : float
        The area under the precision-recall curve with anomalies as positives;
        the fraction of anomalies at chance.
    """
    return average_precision_score(_anomalies(y_true, known_classes), -np.asarray(y_score))


def _anomalies(y_true, known_classes):
    """Mask of the samples that count as anomalies: -1, or a class not in ``known_classes``."""
    anomaly = is_anomaly(y_true)
    if known_classes is None:
        return anomaly
    # Membership through a set: labels may mix strings with the int -1, which
    # numpy can neither compare nor sort together.
    known = set(np.asarray(known_classes).tolist())
    return anomaly | np.array([label not in known for label in np.asarray(y_true).tolist()], dtype=bool)


class _AnomalyScorer:
    """A metric of this module as a scorer ``scorer(estimator, X, y)``.

    The labels the fitted estimator trained on (its last step's, for a
    pipeline: ``normal_labels_``, else ``classes_``) are
    the known classes; rows of any other class count as anomalies.
    """

    def __init__(self, metric, name):
        self._metric = metric
        self._name = name

    def __call__(self, estimator, X, y_true):
        # Unfitted, it names no classes: say so, not that the labels are wrong.
        check_is_fitted(final_step(estimator))
        known_classes = _known_classes(estimator)
        _check_both_kinds(_anomalies(y_true, known_classes), known_classes)
        return self._metric(y_true, estimator.decision_function(X), known_classes=known_classes)

    def __repr__(self):
        return self._name


def _known_classes(estimator):
    """The normal labels the fitted estimator trained on, or None when it does not record them.

    ``IBDeepDescription`` records them as ``normal_labels_``; other
    detectors that name classes, as ``classes_``.
    """
    final = final_step(estimator)
    if hasattr(final, "normal_labels_"):
        return final.normal_labels_
    return getattr(final, "classes_", None)


def _check_both_kinds(anomaly, known_classes):
    """A test fold needs anomalies and normal samples, or the score means nothing."""
    if known_classes is None:
        known = (
            "the model does not name the classes it trained on (it was fitted "
            "without labels, or has no classes_), so only -1 counts"
        )
    else:
        known = f"the model knows the classes {np.asarray(known_classes).tolist()}"
    if not anomaly.any():
        raise ValueError(
            f"No test sample is an anomaly: none is labelled -1, and {known}. "
            "Cross-validate with ibdetect.model_selection.UnseenClassSplit, whose "
            "test folds hold whole classes out of training."
        )
    if anomaly.all():
        raise ValueError(
            f"No test sample is normal: {known}, and the test fold holds none of "
            "them. Cross-validate with ibdetect.model_selection.UnseenClassSplit, "
            "whose test folds keep rows of the classes that trained."
        )


#: Scorer for ``GridSearchCV(scoring=...)``: :func:`anomaly_roc_auc_score` of
#: ``decision_function``, with the labels the fitted model trained on as the known
#: classes. A test fold without anomalies or without normal samples is a
#: ``ValueError``.
anomaly_roc_auc_scorer = _AnomalyScorer(anomaly_roc_auc_score, "anomaly_roc_auc_scorer")

#: Scorer for ``GridSearchCV(scoring=...)``: :func:`anomaly_average_precision_score`
#: of ``decision_function``, with the labels the fitted model trained on as the known
#: classes. A test fold without anomalies or without normal samples is a
#: ``ValueError``.
anomaly_average_precision_scorer = _AnomalyScorer(
    anomaly_average_precision_score, "anomaly_average_precision_scorer"
)
