"""
A few labelled anomalies
========================

Anomalies are usually rare and varied, but sometimes a handful of them is known.
Label them ``-1`` in ``y``: they form no class and get no centre; training pushes
them away from every centre instead, as Deep SAD does. Here ten images of the
digit 8 are labelled, next to the known digits 0-5.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# Training data with and without ten labelled eights
# --------------------------------------------------
X, digits = load_digits(return_X_y=True)
known = digits < 6
X_train, X_test_known, y_train, y_test_known = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
rng = np.random.RandomState(0)
eights = np.flatnonzero(digits == 8)
labelled = rng.choice(eights, 10, replace=False)
X_with_anomalies = np.vstack([X_train, X[labelled]])
y_with_anomalies = np.r_[y_train, np.full(len(labelled), -1)]

# The test keeps every unseen digit except the ten labelled eights.
test_unseen = np.setdiff1d(np.flatnonzero(~known), labelled)

# The known anomalies are pushed away from the centres, so both detectors
# score by the distance to the nearest centre: the default
# anomaly_score="auto" picks it only for the one trained with anomalies.
params = {"anomaly_score": "distance", "random_state": 0, **({"max_epochs": 10} if QUICK else {})}
detectors = {
    "known classes only": IBDeepDescription(**params).fit(X_train, y_train),
    "with 10 labelled eights": IBDeepDescription(**params).fit(X_with_anomalies, y_with_anomalies),
}
print("classes:", detectors["with 10 labelled eights"].classes_)

# %%
# ROC AUC per unseen digit
# ------------------------
# Each unseen digit is scored against the held-out known digits. The labelled
# eights help most with other eights, but the push away from every centre
# can tighten the known classes for the other digits too.
unseen_digits = [6, 7, 8, 9]
auc = {}
for name, detector in detectors.items():
    known_scores = detector.decision_function(X_test_known)
    unseen_scores = detector.decision_function(X[test_unseen])
    auc[name] = []
    for digit in unseen_digits:
        of_digit = unseen_scores[digits[test_unseen] == digit]
        y_true = np.r_[y_test_known, np.full(len(of_digit), -1)]
        auc[name].append(anomaly_roc_auc_score(y_true, np.r_[known_scores, of_digit]))
    print(f"{name:<25}" + "  ".join(f"{d}: {a:.3f}" for d, a in zip(unseen_digits, auc[name])))

# %%
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
width = 0.4
for offset, (name, values) in zip([-width / 2, width / 2], auc.items()):
    ax.bar(np.arange(len(unseen_digits)) + offset, values, width, label=name)
ax.set(
    xticks=range(len(unseen_digits)),
    xticklabels=unseen_digits,
    xlabel="unseen digit",
    ylabel="ROC AUC",
    ylim=(min(min(v) for v in auc.values()) - 0.02, 1.0),
)
ax.legend(loc="lower right")
plt.show()
