"""
Which pixels make a digit unusual? Explaining images
====================================================

For images, :meth:`~ibdetect.IBDeepDescription.explain` gives each pixel's
share of the anomaly distance, and
:func:`~ibdetect.plotting.plot_contribution_map` lays the shares out as a
heat map of the image.

As in the quick start, a convolutional detector learns the handwritten digits
0-5 of scikit-learn's digits data with their labels; the digits 6-9 are
unseen. We explain the scores of one digit of each unseen kind, and of a
known digit for contrast.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ibdetect import IBDeepDescription
from ibdetect.plotting import plot_contribution_map

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

# %%
# Fit on the known digits
# -----------------------
# Pixels scaled to [0, 1]; ``input_shape`` makes the encoder a convolutional
# network. The score is the distance to the k-th nearest normal training
# digit, in the embedding and in pixels (the geometric mean of the two; in
# pixels, relative to how far the nearest training digits lie from theirs).
X, digits = load_digits(return_X_y=True)
X = X / 16.0
known = digits < 6
X_train, X_known_test, y_train, y_known_test = train_test_split(
    X[known], digits[known], test_size=0.4, stratify=digits[known], random_state=0
)
detector = IBDeepDescription(input_shape=(1, 8, 8), random_state=0, **({"max_epochs": 10} if QUICK else {}))
detector.fit(X_train, y_train)
print(f"score: {detector.anomaly_score_}, k = {detector.n_neighbors_}")

# %%
# Explain five digits
# -------------------
# The first 6, 7, 8 and 9 of the data set, and the first held-out 3. Not
# every unseen digit need lie beyond the threshold: one that resembles a
# known digit can score as normal, and its map still shows what sets it
# apart.
unseen = [np.flatnonzero(digits == digit)[0] for digit in (6, 7, 8, 9)]
rows = np.vstack([X[unseen], X_known_test[[np.flatnonzero(y_known_test == 3)[0]]]])
names = ["6", "7", "8", "9", "3 (known)"]
explanation = detector.explain(rows)
for name, distance, pvalue in zip(names, explanation.distances, explanation.pvalues):
    print(f"digit {name}: distance {distance:.3g} (threshold {detector.threshold_:.3g}), p-value {pvalue:.3f}")

# %%
# Heat maps beside the images
# ---------------------------
# Top, each digit; middle, the normal training digit it was compared with,
# ``nearest_normal``; bottom, the heat map of its contributions, with the
# digit's outline. The default score is half the embedding's distance and
# half the pixels'. The embedding's half of a map comes from integrated
# gradients along the straight path from the reference digit to the digit,
# the pixels' half from their squared differences, so a pixel that the two
# share contributes nothing: the map shows where the digit differs from its
# reference, weighted by how much the network notices it, often a stroke
# that one of them has and the other lacks. No pixel takes from the
# distance; each map has its own colour scale, and its pixels add up to the
# distance in its title.
fig, axes = plt.subplots(3, len(rows), figsize=(12, 7.5), layout="constrained")
for column, name in enumerate(names):
    axes[0, column].imshow(rows[column].reshape(8, 8), cmap="gray_r")
    axes[0, column].set_title(f"digit {name}\nnearest class {explanation.nearest_class[column]}")
    axes[1, column].imshow(explanation.nearest_normal[column].reshape(8, 8), cmap="gray_r")
    axes[1, column].set_title("reference")
    plot_contribution_map(
        explanation, detector.input_shape, column, X=rows, ax=axes[2, column],
        title=f"distance {explanation.distances[column]:.3g}",
    )
for ax in axes[:2].ravel():
    ax.set(xticks=[], yticks=[])
plt.show()

# %%
# Reading the maps
# ----------------
# A map accounts for one comparison, with one normal digit, exactly: its
# pixels add up to the distance. It is no segmentation of "the anomalous
# part" of a digit. Against another reference, or after another training
# run, the same digit gets another map, and since the network is not
# additive, blanking a red pixel would not lower the distance by its value.
# Mind the colour bars, too: each map has its own scale. The known 3 has
# little to explain, a distance several times smaller than the unseen
# digits', and its map shares out that little.
