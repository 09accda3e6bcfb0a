"""Conformal p-values: how unusual a score is among the scores of held-out normal samples."""

import numpy as np

__all__ = ["conformal_pvalues"]


def conformal_pvalues(calibration_scores, scores):
    """Conformal p-value of each score against the calibration scores.

    ``p = (1 + #{calibration scores >= score}) / (1 + n_calibration)``, where
    a higher score is more anomalous. When the calibration samples and a new
    normal sample are exchangeable, ``P(p <= alpha) <= alpha`` for every
    ``alpha``: the p-value of a normal sample is (super-)uniform.

    Parameters
    ----------
    calibration_scores : array-like of shape (n_calibration,)
        Anomaly scores of normal samples the model never trained on, in any
        order.
    scores : array-like of shape (n_samples,)
        Anomaly scores to turn into p-values.

    Returns
    -------
    pvalues : ndarray of float64 of shape (n_samples,)
        In ``[1 / (n_calibration + 1), 1]``; smaller is more anomalous.
    """
    calibration = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    # Calibration scores below each score; the rest are at least as anomalous.
    below = np.searchsorted(calibration, np.asarray(scores, dtype=np.float64), side="left")
    return (1.0 + len(calibration) - below) / (1.0 + len(calibration))
