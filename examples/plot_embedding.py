"""
The learned embedding next to the raw features
==============================================

What does training do to the data? Both panels project the same test digits
onto their first two principal components: on the left the 64 raw pixel
values, on the right the embedding ``detector.transform(X)``, with the class
centres as stars. Known digits are coloured by class; unseen digits (6-9,
label ``-1``) are grey crosses.
"""

import os

import matplotlib.pyplot as plt

from ibdetect import IBDeepDescription
from ibdetect.demo import digits_split
from ibdetect.plotting import plot_embedding_comparison

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

X_train, y_train, X_test, y_test = digits_split(random_state=0)
detector = IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {}))
detector.fit(X_train, y_train)

# %%
# In the raw features the known classes overlap with each other and with the
# unseen digits. In the embedding each known class gathers around its centre,
# apart from the others, and the unseen digits fall outside these groups,
# many of them in the space between the centres: a single sphere around all
# known data would not exclude them. Two principal components show only part
# of the embedding, so some overlap in the picture is not overlap in the
# embedding itself.
plot_embedding_comparison(detector, X_test, y_test)
plt.show()
