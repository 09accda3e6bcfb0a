"""Metrics and scorers for detectors evaluated on class labels with anomalies marked -1.

scikit-learn's own ``roc_auc`` scorer works when ``y`` is +1 (normal) / -1
(anomaly). When ``y`` holds the labels of the known normal classes, as
:meth:`IBDeepDescription.fit <ibdetect.IBDeepDescription.fit>` takes them, plus
-1 for anomalies, use the scorers here: they treat every label other than -1 as
normal and rank anomalies (the positives) by ``-decision_function``.

Examples
--------
>>> import numpy as np
>>> from ibdetect.metrics import anomaly_roc_auc_score
>>> y_true = np.array(["cat", "dog", -1, "cat"], dtype=object)
>>> normality = np.array([0.9, 0.8, -0.5, 0.1])
>>> anomaly_roc_auc_score(y_true, normality)
1.0
"""

import numpy as np
from sklearn.metrics import average_precision_score, make_scorer, roc_auc_score

from .losses import ANOMALY

__all__ = [
    "anomaly_average_precision_score",
    "anomaly_average_precision_scorer",
    "anomaly_roc_auc_score",
    "anomaly_roc_auc_scorer",
    "is_anomaly",
]


def is_anomaly(y):
    """Boolean mask of the labels that mark a known anomaly: -1, or the text ``"-1"``.

    Among string labels, such as a column read from a CSV file, the anomaly
    marker arrives as the text ``"-1"``; it counts as the number -1.

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
    >>> is_anomaly(["cat", "-1", -1]).tolist()
    [False, True, True]
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == ANOMALY
    # Compare one by one: numpy will not compare a string array with an int.
    markers = (ANOMALY, str(ANOMALY))
    return np.array([label in markers for label in y.ravel()], dtype=bool).reshape(y.shape)


def anomaly_roc_auc_score(y_true, y_score):
    """ROC AUC of detecting the samples labelled -1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels; -1 marks an anomaly, any other value a normal sample.
    y_score : array-like of shape (n_samples,)
        Normality scores, higher for more normal samples, such as
        ``decision_function`` or ``score_samples``.

    Returns
    -------
    auc : float
        1.0 when every anomaly scores below every normal sample, 0.5 at chance.
    """
    return roc_auc_score(is_anomaly(y_true), -np.asarray(y_score))


def anomaly_average_precision_score(y_true, y_score):
    """Average precision of detecting the samples labelled -1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels; -1 marks an anomaly, any other value a normal sample.
    y_score : array-like of shape (n_samples,)
        Normality scores, higher for more normal samples.

    Returns
    -------
    average_precision : float
        The area under the precision-recall curve with anomalies as positives;
        the fraction of anomalies at chance.
    """
    return average_precision_score(is_anomaly(y_true), -np.asarray(y_score))


#: Scorer for ``GridSearchCV(scoring=...)``: :func:`anomaly_roc_auc_score` of
#: ``decision_function``.
anomaly_roc_auc_scorer = make_scorer(anomaly_roc_auc_score, response_method="decision_function")

#: Scorer for ``GridSearchCV(scoring=...)``: :func:`anomaly_average_precision_score`
#: of ``decision_function``.
anomaly_average_precision_scorer = make_scorer(
    anomaly_average_precision_score, response_method="decision_function"
)
