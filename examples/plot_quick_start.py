"""
Quick start: detect digits never seen in training
=================================================

The detector learns the handwritten digits 0-5 from scikit-learn's bundled
digits data set, with their labels. Digits 6-9 never appear in training, so at
test time every one of them is an anomaly: an unseen class, which may well lie
*between* the known ones.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from ibdetect import IBDeepDescription
from ibdetect.demo import digits_split
from ibdetect.metrics import anomaly_roc_auc_score
from ibdetect.plotting import plot_score_histograms, plot_training_curves

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# The data
# --------
# ``digits_split`` trains on 60% of the digits 0-5. The test set holds the
# other 40% with their labels, and every digit 6-9 labelled ``-1``, the
# anomaly label of scikit-learn and of this package.
X_train, y_train, X_test, y_test = digits_split(random_state=0)
print(f"training: {len(X_train)} samples of digits {np.unique(y_train)}")
print(f"test: {(y_test != -1).sum()} known digits, {(y_test == -1).sum()} unseen digits")

# %%
# Fit
# ---
# ``fit(X, y)`` places one centre per known class. The rows are 8x8 images,
# and ``input_shape`` says so: the encoder is then a convolutional network. A
# tenth of each class is held out to follow a validation loss during training
# and to set the threshold of ``predict``.
detector = IBDeepDescription(
    input_shape=(1, 8, 8), random_state=0, **({"max_epochs": 10} if QUICK else {})
)
detector.fit(X_train, y_train)

# %%
# Score and predict
# -----------------
# ``decision_function`` is negative for samples the detector calls anomalous,
# ``predict`` turns that into -1 / +1, and ``predict_class`` names the nearest
# known class. The ROC AUC needs no threshold: it is the probability that an
# unseen digit scores below a known one.
scores = detector.decision_function(X_test)
flagged = detector.predict(X_test) == -1
unseen = y_test == -1
print(f"ROC AUC: {anomaly_roc_auc_score(y_test, scores):.3f}")
print(f"flagged: {flagged[~unseen].mean():.1%} of known digits, {flagged[unseen].mean():.1%} of unseen ones")
known_correct = detector.predict_class(X_test[~unseen]) == y_test[~unseen]
print(f"nearest centre is the true class for {known_correct.mean():.1%} of known digits")

# %%
# Look at the scores and the training
# -----------------------------------
# Left, the scores of known and unseen digits with the threshold of
# ``predict``; right, the loss with its compactness and separation parts per
# epoch, from ``detector.net_.history``.
fig, (scores_ax, curves_ax) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_score_histograms(detector, X_test, y_test, ax=scores_ax)
plot_training_curves(detector, ax=curves_ax)
plt.show()
