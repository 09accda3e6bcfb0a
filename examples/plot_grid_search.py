"""
Tune ``beta`` with a pipeline and a grid search
===============================================

``IBDeepDescription`` is a regular scikit-learn estimator, so it goes into a
:class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.model_selection.GridSearchCV`. The scorer
``ibdetect.metrics.anomaly_roc_auc_scorer`` reads labels the way ``fit`` takes
them: the known classes, and ``-1`` for anomalies.

An anomaly detector must not train on the anomalies it is judged on, so the
folds are built by hand: every fold trains on known digits only and is scored
on held-out known digits together with unseen ones. The unseen digits used for
tuning (6 and 7) differ from those of the final test (8 and 9), so the test
says how well the chosen setting carries over to anomalies nobody tuned for.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.metrics import anomaly_roc_auc_score, anomaly_roc_auc_scorer

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# Three groups of data
# --------------------
# Known digits 0-5 split into a tuning part and a test part; digits 6 and 7
# serve as the anomalies of the tuning folds, 8 and 9 as those of the test.
X, digits = load_digits(return_X_y=True)
known = digits < 6
X_tune, X_test_known, y_tune, y_test_known = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
X_tune_anomalies = X[np.isin(digits, [6, 7])]
X_test_anomalies = X[np.isin(digits, [8, 9])]

# %%
# Folds that keep anomalies out of training
# -----------------------------------------
# Rows of ``X_search`` are the known tuning digits followed by the tuning
# anomalies. Each fold fits on two thirds of the known rows and scores the
# remaining third plus all anomaly rows.
X_search = np.vstack([X_tune, X_tune_anomalies])
y_search = np.r_[y_tune, np.full(len(X_tune_anomalies), -1)]
anomaly_rows = np.arange(len(X_tune), len(X_search))
folds = [
    (train, np.r_[test, anomaly_rows])
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X_tune, y_tune)
]

# %%
# The search
# ----------
# ``refit=False``: refitting on all of ``X_search`` would train on the anomaly
# rows (as labelled anomalies). The chosen setting is fitted below on the known
# digits only.
pipeline = make_pipeline(
    StandardScaler(),
    IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {})),
)
search = GridSearchCV(
    pipeline,
    {"ibdeepdescription__beta": [1.25, 2.0, 4.0, 16.0]},
    scoring=anomaly_roc_auc_scorer,
    cv=folds,
    refit=False,
)
search.fit(X_search, y_search)
betas = search.cv_results_["param_ibdeepdescription__beta"]
for beta, mean, std in zip(
    betas, search.cv_results_["mean_test_score"], search.cv_results_["std_test_score"]
):
    print(f"beta={beta:<5}  validation ROC AUC {mean:.3f} +- {std:.3f}")
print("best:", search.best_params_)

# %%
# Test on anomalies the search never saw
# --------------------------------------
best = pipeline.set_params(**search.best_params_).fit(X_tune, y_tune)
X_test = np.vstack([X_test_known, X_test_anomalies])
y_test = np.r_[y_test_known, np.full(len(X_test_anomalies), -1)]
print(f"test ROC AUC on digits 8 and 9: {anomaly_roc_auc_score(y_test, best.decision_function(X_test)):.3f}")

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
ax.set(xscale="log", xlabel="beta", ylabel="validation ROC AUC (digits 6, 7)")
ax.set_xticks(beta_values, [f"{beta:g}" for beta in beta_values])
ax.minorticks_off()
plt.show()
