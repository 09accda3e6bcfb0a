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

from ._labels import is_anomaly

__all__ = [
    "anomaly_average_precision_score",
    "anomaly_average_precision_scorer",
    "anomaly_roc_auc_score",
    "anomaly_roc_auc_scorer",
    "is_anomaly",
]


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
