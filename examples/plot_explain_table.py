"""
Why is this wine flagged? Explaining a score
============================================

:meth:`~ibdetect.IBDeepDescription.explain` splits a sample's anomaly
distance, ``-score_samples``, between its features, and names the normal
training row it was compared with.
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
# features not drawn, so all bars add up to the distance in the title. Red
# bars add to the distance, blue ones take from it. Only the embedding's half
# can be negative: in the feature space each feature adds its squared
# difference to the reference. With ``X``, the labels give the wine's value
# and the reference wine's, in standard deviations of the training wines. A
# shared axis shows how much less the typical wine has to explain.
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 7), layout="constrained")
for index, (ax, name) in enumerate(zip(axes, ("Unseen", "Known"))):
    title = f"{name} cultivar: distance {explanation.distances[index]:.3g}, p-value {explanation.pvalues[index]:.2g}"
    plot_contributions(explanation, index, X=rows, top=6, ax=ax, title=title)
plt.show()

# %%
# Side by side with the reference wine
# ------------------------------------
# In this score the distance is read in two spaces, each for half of it: the
# learned embedding and the standardised features themselves. Both halves
# compare the wine with one reference, ``nearest_normal``: its
# ``n_neighbors_``-th nearest normal training wine in the features. Its
# values, back in the table's units, show what "normal" means for each top
# feature.
reference = pipeline[0].inverse_transform(explanation.nearest_normal[:1])[0]
top = np.argsort(-np.abs(explanation.contributions[0]))[:6]
print(f"{'feature':<30}{'this wine':>11}{'reference':>11}{'contribution':>14}")
for feature in top:
    print(f"{explanation.feature_names[feature]:<30}{unusual[0, feature]:>11.4g}{reference[feature]:>11.4g}"
          f"{explanation.contributions[0, feature]:>14.2f}")

# %%
# What the numbers say, and what they do not
# ------------------------------------------
# The contributions are an exact bookkeeping of one comparison: they add up
# to the distance, and each says how much of the gap between this wine and
# its reference wine, in the embedding and in the features, goes through
# that feature. A large one points at the measurements to check
# first.
#
# They do not promise more. They are not causes: setting a feature to the
# reference's value would not lower the distance by its contribution, since
# the network is not additive and another normal wine could then become the
# reference. Correlated features, such as the phenol measurements, share the
# credit in a way that depends on the network's training. And they are only
# relative to the normal wines seen in training; a contribution that is
# small says the feature looks like the reference's, not that it is normal
# for this wine's own, unseen cultivar.
