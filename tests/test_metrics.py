import numpy as np
import pytest

from ibdetect.metrics import anomaly_average_precision_score, anomaly_roc_auc_score, is_anomaly


@pytest.mark.parametrize("y, expected", [
    (np.array([0, -1, 3, -1]), [False, True, False, True]),
    (np.array([1.0, -1.0]), [False, True]),
    (np.array(["a", "b"]), [False, False]),
    (np.array(["a", -1, "b"], dtype=object), [False, True, False]),
    # A label column read from a CSV file holds the marker as text.
    (np.array(["a", "-1", "b"]), [False, True, False]),
    # So does one written as a float or with blanks around it.
    (np.array(["-1.0", "1", " -1", "-1.5"]), [True, False, True, False]),
    (np.array([b"-1", b"a"], dtype=object), [True, False]),
    (np.array([True, False]), [False, False]),
])
def test_is_anomaly_for_every_label_type(y, expected):
    assert is_anomaly(y).tolist() == expected


def test_scores_treat_high_normality_as_normal():
    y = np.array([0, 1, 2, -1, -1])
    perfect = np.array([3.0, 2.0, 1.0, -1.0, -2.0])
    assert anomaly_roc_auc_score(y, perfect) == 1.0
    assert anomaly_roc_auc_score(y, -perfect) == 0.0
    assert anomaly_average_precision_score(y, perfect) == 1.0
    assert anomaly_average_precision_score(y, -perfect) < 0.5
