"""
Save and load a fitted detector
===============================

A fitted ``IBDeepDescription`` is pickled whole, network and centres included,
with :func:`joblib.dump`, and restored with :func:`joblib.load`.

.. warning::

   Loading a pickle runs code that the file chooses. Load only files you
   trust, such as files you wrote yourself or that come from a source you
   trust, and never one received from an unknown sender.
"""

import os
import tempfile
from pathlib import Path

import joblib
import numpy as np

from ibdetect import IBDeepDescription
from ibdetect.demo import digits_split

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

X_train, y_train, X_test, y_test = digits_split(random_state=0)
detector = IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {}))
detector.fit(X_train, y_train)

# %%
# Dump and load
# -------------
# The loaded detector gives exactly the same scores. A detector fitted on a
# GPU loads on a machine without one: it then runs on the CPU, and
# ``device_`` says so.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "detector.joblib"
    joblib.dump(detector, path)
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
    loaded = joblib.load(path)

same = np.array_equal(loaded.decision_function(X_test), detector.decision_function(X_test))
print(f"identical scores after loading: {same}")
print(f"runs on: {loaded.device_}; classes: {loaded.classes_}")

# %%
# A loaded detector is still a scikit-learn estimator: ``get_params`` returns
# the settings it was fitted with, and it can be refitted or cloned.
print(loaded.get_params() == detector.get_params())
