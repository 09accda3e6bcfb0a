"""
Flag at a chosen false-alarm rate
=================================

A detector's threshold decides how many normal samples it flags by mistake.
:meth:`~ibdetect.IBDeepDescription.pvalues` lets you choose that rate:
each sample's p-value is the share of held-out normal samples, which the
network never trained on, that lie at least as far from the normal data.
Flagging the samples with a p-value of at most ``alpha`` flags about a
fraction ``alpha`` of new normal samples, on average, and never more.

This example first tunes ``beta`` and the encoder's size on known digits only,
with :class:`~ibdetect.model_selection.UnseenClassSplit`, then flags test
digits at a chosen rate and measures the rate it gets.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_scorer
from ibdetect.model_selection import UnseenClassSplit

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# Known and unseen digits
# -----------------------
# Digits 0-5 are the normal classes: 60% of them tune and train, the other
# 40% are new normal digits. Digits 6-9 appear only at the end, as anomalies.
X, digits = load_digits(return_X_y=True)
X = X / 16.0
known = digits < 6
X_train, X_new_normal, y_train, _ = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
X_unseen = X[~known]

# %%
# Tune without anomalies
# ----------------------
# Each split of ``UnseenClassSplit`` holds one known digit out of training to
# play an unseen one.
search = GridSearchCV(
    IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {})),
    {"beta": [2.0, 4.0, 16.0], "hidden_layer_sizes": [(64,), (256, 128)]},
    scoring=anomaly_roc_auc_scorer,
    cv=UnseenClassSplit(n_splits=3, random_state=0),
)
search.fit(X_train, y_train)
print("chosen:", search.best_params_)

# %%
# The refit of the chosen setting held out a tenth of each digit
# (``validation_fraction="auto"``, which holds out more of small data sets):
# those samples calibrate the p-values.
detector = search.best_estimator_
n_calibration = len(detector.calibration_scores_)
print(f"{n_calibration} held-out digits; the smallest p-value is 1/{n_calibration + 1}")

# %%
# Flag at a chosen rate
# ---------------------
alpha = 0.05
false_alarms = np.mean(detector.pvalues(X_new_normal) <= alpha)
detected = np.mean(detector.pvalues(X_unseen) <= alpha)
print(f"alpha={alpha}: {false_alarms:.1%} of new normal digits flagged, {detected:.1%} of unseen digits")
print(f"predict: {np.mean(detector.predict(X_new_normal) == -1):.1%} and "
      f"{np.mean(detector.predict(X_unseen) == -1):.1%}")

# %%
# Over a range of rates the false-alarm rate follows ``alpha``, in steps of
# ``1 / (n_calibration + 1)``. It is a guarantee on average over fits: one fit
# on its own lies above or below the diagonal by a few points, the fewer the
# held-out samples, the more (see the user guide's "Calibrated false alarms").
alphas = np.linspace(0.0, 0.3, 61)
pvalues_normal, pvalues_unseen = detector.pvalues(X_new_normal), detector.pvalues(X_unseen)
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(alphas, [np.mean(pvalues_normal <= a) for a in alphas], drawstyle="steps-post",
        label="new normal digits flagged")
ax.plot(alphas, [np.mean(pvalues_unseen <= a) for a in alphas], drawstyle="steps-post",
        label="unseen digits flagged")
ax.plot(alphas, alphas, color="grey", linestyle="--", label="alpha")
ax.set(xlabel="alpha: flag where pvalues(X) <= alpha", ylabel="share flagged", ylim=(0, 1.02))
ax.legend(loc="center right")
plt.show()
