"""
Tune ``beta`` with a pipeline and a grid search
===============================================

``IBDeepDescription`` is a regular scikit-learn estimator, so it goes into a
:class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.model_selection.GridSearchCV`. The data hold no anomaly to
tune on, only known digits: :class:`~ibdetect.model_selection.UnseenClassSplit`
holds one known digit out of each training fold, to stand in for an unseen
digit in the test fold, and ``ibdetect.metrics.anomaly_roc_auc_scorer``
counts a test digit the fitted model does not know as an anomaly. The final
test uses digits nobody tuned for (6-9), so it says how well the chosen
setting carries over to anomalies of another kind.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score, anomaly_roc_auc_scorer
from ibdetect.model_selection import UnseenClassSplit

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# Known and unseen digits
# -----------------------
# Known digits 0-5 split into a tuning part and a test part; digits 6-9 are
# the anomalies of the test only.
X, digits = load_digits(return_X_y=True)
known = digits < 6
X_tune, X_test_known, y_tune, y_test_known = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
X_test_anomalies = X[~known]

# %%
# Folds that hold a known digit out
# ---------------------------------
# Each of the six splits holds out one of the six digits, every digit once:
# all its rows go to the test fold, together with a fifth of each other digit.
cv = UnseenClassSplit(n_splits=6, n_unseen_classes=1, test_size=0.2, random_state=0)
for train, test in list(cv.split(X_tune, y_tune))[:2]:
    print("trains on", np.unique(y_tune[train]), "tests on", np.unique(y_tune[test]))

# %%
# The search
# ----------
# With the default ``refit=True`` the best setting is then fitted on all of
# the tuning digits.
pipeline = make_pipeline(
    StandardScaler(),
    IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {})),
)
search = GridSearchCV(
    pipeline,
    {"ibdeepdescription__beta": [1.25, 2.0, 4.0, 16.0]},
    scoring=anomaly_roc_auc_scorer,
    cv=cv,
)
search.fit(X_tune, y_tune)
betas = search.cv_results_["param_ibdeepdescription__beta"]
for beta, mean, std in zip(
    betas, search.cv_results_["mean_test_score"], search.cv_results_["std_test_score"]
):
    print(f"beta={beta:<5}  validation ROC AUC {mean:.3f} +- {std:.3f}")
print("best:", search.best_params_)

# %%
# Test on anomalies the search never saw
# --------------------------------------
X_test = np.vstack([X_test_known, X_test_anomalies])
y_test = np.r_[y_test_known, np.full(len(X_test_anomalies), -1)]
test_auc = anomaly_roc_auc_score(y_test, search.best_estimator_.decision_function(X_test))
print(f"test ROC AUC on digits 6-9: {test_auc:.3f}")

# %%
# ``beta`` weighs separation against compactness. Near 1 the classes are
# compacted but hardly pushed apart; as ``beta`` grows the loss tends to a
# softmax classifier over the centres, which separates the known classes
# without keeping each of them compact, so unseen digits can score as
# normal. Feature scaling matters too: with weight decay pinning the scale of
# the embedding, the best ``beta`` for standardised features need not be the
# best for raw pixel values.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
beta_values = np.asarray(betas, dtype=float)
ax.errorbar(
    beta_values,
    search.cv_results_["mean_test_score"],
    yerr=search.cv_results_["std_test_score"],
    marker="o",
    capsize=4,
)
ax.set(xscale="log", xlabel="beta", ylabel="validation ROC AUC (held-out digits)")
ax.set_xticks(beta_values, [f"{beta:g}" for beta in beta_values])
ax.minorticks_off()
plt.show()
