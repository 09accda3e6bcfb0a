"""
Why is this wine flagged? Explaining a score
============================================

:meth:`~ibdetect.IBDeepDescription.explain` splits a sample's anomaly
distance, ``-score_samples``, between its features, and gives the values
each feature was compared with.
:func:`~ibdetect.plotting.plot_contributions` draws the split as a bar chart.

The detector learns two of the three cultivars of scikit-learn's wine table
(13 chemical measurements per wine) with their labels; wines of the third
cultivar never appear in training. This example explains why the most
unusual of them is flagged, and, for contrast, the score of a wine of a known
cultivar.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ibdetect import IBDeepDescription
from ibdetect.plotting import plot_contributions

# %%
# Two known cultivars, one unseen
# -------------------------------
# The k-NN scores compare distances across features, so the features are
# standardised first; the pipeline learns the scaling from the training
# wines only. The table trains in well under a second, so this example needs
# no quick setting.
wine = load_wine()
X, cultivar = wine.data, wine.target
known = cultivar < 2
X_train, X_known_test, y_train, _ = train_test_split(
    X[known], cultivar[known], test_size=0.3, stratify=cultivar[known], random_state=0
)
X_unseen = X[~known]
pipeline = make_pipeline(StandardScaler(), IBDeepDescription(random_state=0)).fit(X_train, y_train)
detector = pipeline[-1]
print(f"score: {detector.anomaly_score_}, against the k-th nearest normal wine, k = {detector.n_neighbors_}")
print(f"flagged: {(pipeline.predict(X_known_test) == -1).mean():.0%} of known test wines, "
      f"{(pipeline.predict(X_unseen) == -1).mean():.0%} of unseen ones")

# %%
# Explain two wines
# -----------------
# The unseen wine that lies farthest from the normal data, and a known test
# wine of median distance. ``explain`` takes the rows as the detector sees
# them: scaled by the pipeline's earlier steps. Its p-values rank the
# distances among normal wines held out of training; with this few of them
# they are coarse.
#
# The detector was fitted on a plain array, so it calls the features ``x0``,
# ``x1``, ...; the explanation is a Bunch, and takes the table's names.
unusual = X_unseen[[pipeline.score_samples(X_unseen).argmin()]]
known_scores = pipeline.score_samples(X_known_test)
typical = X_known_test[[np.argsort(known_scores)[len(known_scores) // 2]]]
rows = pipeline[:-1].transform(np.vstack([unusual, typical]))
explanation = detector.explain(rows)
explanation.feature_names = np.asarray(wine.feature_names)

for name, index in (("unseen", 0), ("known", 1)):
    pvalue = explanation.pvalues[index]
    print(f"{name} wine: distance {explanation.distances[index]:.2f} (threshold {detector.threshold_:.2f}), "
          f"p-value {pvalue:.3f}, nearest cultivar {explanation.nearest_class[index]}")
print("contributions add up to the distances:",
      np.allclose(explanation.contributions.sum(axis=1), -detector.score_samples(rows)))

# %%
# The bar charts
# --------------
# Each bar is one feature's share of the distance; the grey bar sums the
# features not drawn, so all bars add up to the distance in the title. No
# contribution is negative: a feature that brought the embedding closer to
# that of the wine it likely was gets none, and in the feature space the
# features share their half of the distance in proportion to each one's
# squared distance from its expected value, in spreads, times how likely
# its value came from another wine (``out_of_place``). With ``X``, the
# labels give the wine's value and its expected value, give or take its
# spread, in standard deviations of the training wines, and how likely the
# value came from another wine. A shared axis shows
# how much less the typical wine has to explain.
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 7), layout="constrained")
for index, (ax, name) in enumerate(zip(axes, ("Unseen", "Known"))):
    title = f"{name} cultivar: distance {explanation.distances[index]:.3g}, p-value {explanation.pvalues[index]:.2g}"
    plot_contributions(explanation, index, X=rows, top=6, ax=ax, title=title)
plt.show()

# %%
# Side by side with the expected values
# -------------------------------------
# Each feature is compared with the value it would be expected to have,
# given the wine's other measurements: what they predict for it under a
# Gaussian fitted to the normal training wines, give or take its spread
# (the prediction's standard deviation). The score is read in two spaces,
# each for half of it: in the standardised features, a feature's part is
# its squared distance from the expected value, in spreads, times the
# probability that the value does not belong with the rest of the wine
# (``out_of_place``: the posterior weight, under the same Gaussian, of the
# sets of up to three values that, taken from another wine, would account
# for this one); in the learned
# embedding, its integrated gradient: how far, on the straight path to the
# wine from the wine it likely was before any value came from elsewhere
# (each value moved toward its expected value by its ``out_of_place``
# probability, and by 0.1 at least), that feature moved the wine's
# embedding away from that one's. Back in the table's units, the
# expected values show what "normal" means for each top feature.
expected = pipeline[0].inverse_transform(explanation.expected[:1])[0]
spread = explanation.expected_spread[0] * pipeline[0].scale_
top = np.argsort(-np.abs(explanation.contributions[0]))[:6]
print(f"{'feature':<30}{'this wine':>11}{'expected':>11}{'spread':>9}{'out of place':>14}{'contribution':>14}")
for feature in top:
    print(f"{explanation.feature_names[feature]:<30}{unusual[0, feature]:>11.4g}{expected[feature]:>11.4g}"
          f"{spread[feature]:>9.3g}{explanation.out_of_place[0, feature]:>14.2f}"
          f"{explanation.contributions[0, feature]:>14.2f}")

# %%
# What the numbers say, and what they do not
# ------------------------------------------
# The contributions share the distance out: they add up to it, and each
# says how much of it goes through that feature, measured against its
# expected value. A large one points at the measurements to check first.
#
# They do not promise more. They are not causes: the network is not
# additive, so setting a feature to its expected value need not lower the
# embedding's half by that feature's part, and setting two features at once
# can do more or less than the two parts together. Correlated features, such as the phenol
# measurements, predict each other's expected values, so that a wrong one
# among them stands out, while a group wrong together can hide; and the
# Gaussian reads straight-line relations only. ``out_of_place`` reads a
# wine as a normal one with a few values from elsewhere: at or below 0.1,
# its prior, it says nothing against a value, and on a wine unusual in
# most of its measurements the distances from the expected values say
# more. And they
# are only relative to the normal wines seen in training; a small
# contribution says the feature fits the rest of the wine as normal wines
# go, not that it is normal for this wine's own, unseen cultivar.
