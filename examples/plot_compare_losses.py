"""
ROC curves of the three losses
==============================

The same encoder trained with each of the three losses on the digits task
(known digits 0-5, unseen digits 6-9):

* ``"ib"``: the Information Bottleneck loss, compactness plus ``beta - 1``
  times the separation term;
* ``"mcdd"``: Deep-MCDD, ``mcdd_lambda`` times compactness plus separation;
* ``"svdd"``: one-class Deep SVDD, one fixed centre for all known digits; the
  class labels are not used.

The IB loss divided by ``beta - 1`` is the Deep-MCDD loss with
``mcdd_lambda = 1 / (beta - 1)``: at ``beta=2`` and ``mcdd_lambda=1`` the two
losses are the same function. The estimator's default ``beta`` weighs the
separation term more, as the benchmark favoured.
"""

import os

import matplotlib.pyplot as plt
from sklearn.metrics import roc_auc_score, roc_curve

from ibdetect import IBDeepDescription
from ibdetect.demo import digits_split
from ibdetect.metrics import is_anomaly

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

X_train, y_train, X_test, y_test = digits_split(random_state=0)
params = {"random_state": 0, **({"max_epochs": 10} if QUICK else {})}

# %%
# Anomalies are the positive class of the ROC curve, ranked by
# ``-decision_function``. The Deep-MCDD curve is dashed so that it stays
# visible where it runs along the IB curve.
unseen = is_anomaly(y_test)
fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
for loss, linestyle in [("ib", "-"), ("mcdd", "--"), ("svdd", "-")]:
    detector = IBDeepDescription(loss=loss, **params).fit(X_train, y_train)
    anomaly_score = -detector.decision_function(X_test)
    false_positive_rate, true_positive_rate, _ = roc_curve(unseen, anomaly_score)
    auc = roc_auc_score(unseen, anomaly_score)
    print(f'loss="{loss}": ROC AUC {auc:.3f}')
    ax.plot(
        false_positive_rate,
        true_positive_rate,
        linestyle=linestyle,
        label=f'loss="{loss}" (AUC {auc:.3f})',
    )
ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
ax.set(
    xlabel="known digits flagged (false positive rate)",
    ylabel="unseen digits flagged (true positive rate)",
)
ax.legend(loc="lower right")
plt.show()
