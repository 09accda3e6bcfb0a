"""
Images: a convolutional encoder on MNIST
========================================

Each image stays one flat row of ``X``, so scalers, pipelines and
cross-validation work as for any table. ``input_shape=(1, 28, 28)`` reshapes
the rows to one-channel 28x28 images, and makes the default
``encoder="auto"`` a LeNet-type convolutional network.

The example trains on the 10,000 MNIST digits that ship with the package
(:func:`~ibdetect.datasets.load_mnist_sample`). To use the full MNIST, or
Fashion-MNIST, from files you have, point the environment variable
``IBDETECT_MNIST`` at them: a folder of the original IDX files or an ``.npz``,
anything :func:`~ibdetect.datasets.load_mnist` reads.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from ibdetect import IBDeepDescription
from ibdetect.datasets import load_mnist, load_mnist_sample
from ibdetect.metrics import anomaly_roc_auc_score
from ibdetect.plotting import plot_score_histograms

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

mnist_path = os.environ.get("IBDETECT_MNIST")
mnist = load_mnist(mnist_path) if mnist_path else load_mnist_sample()
# Pixels scaled to [0, 1], one flat row per image.
X = mnist.data.astype(np.float32) / 255
digits = mnist.target
print(f"{len(X)} images of {X.shape[1]} pixels")

# %%
# Known digits 0-5, unseen digits 6-9
# -----------------------------------
# As in the quick start: training on 60% of the known digits, testing on the
# rest of them and on every unseen digit (label ``-1``).
known = digits < 6
X_train, X_test_known, y_train, y_test_known = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
if QUICK:
    X_train, y_train = X_train[:2000], y_train[:2000]
X_test = np.vstack([X_test_known, X[~known]])
y_test = np.r_[y_test_known, np.full((~known).sum(), -1)]

# input_shape makes the default encoder="auto" a convolutional network.
detector = IBDeepDescription(input_shape=(1, 28, 28), max_epochs=5 if QUICK else 20, random_state=0)
detector.fit(X_train, y_train)
scores = detector.decision_function(X_test)
print(f"trained on {len(X_train)} images for {detector.max_epochs} epochs on {detector.device_}")
print(f"ROC AUC on unseen digits: {anomaly_roc_auc_score(y_test, scores):.3f}")
flagged, unseen = detector.predict(X_test) == -1, y_test == -1
print(f"flagged: {flagged[~unseen].mean():.1%} of known digits, {flagged[unseen].mean():.1%} of unseen ones")

# %%
# The scores
# ----------
# The ROC AUC judges only the ranking. How many samples of each group are
# flagged depends on the threshold at 0, which ``contamination`` places (as
# ``offset_``) from the normal samples that ``validation_fraction`` held out
# of training. Where the histograms show a gap that the threshold misses, set
# ``contamination`` instead.
plot_score_histograms(detector, X_test, y_test)
plt.show()
