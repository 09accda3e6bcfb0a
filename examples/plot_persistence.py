"""
Save and load a fitted detector
===============================

:func:`ibdetect.persistence.save` writes a fitted ``IBDeepDescription`` to a
file that :func:`ibdetect.persistence.load` reads back without running any
code from it: the network's weights go in as safetensors (numbers only), the
parameters, fitted attributes and training history as JSON. Loading rebuilds
the network from the parameters and gives it the weights.

Pickles, written with :func:`joblib.dump`, work too.

.. warning::

   Loading a pickle runs code that the file chooses. Load only pickles you
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
from ibdetect.persistence import load, read_info, save

# IBDETECT_EXAMPLE_QUICK=1 trades accuracy for a faster run.
QUICK = os.environ.get("IBDETECT_EXAMPLE_QUICK", "0") != "0"

X_train, y_train, X_test, y_test = digits_split(random_state=0)
detector = IBDeepDescription(random_state=0, **({"max_epochs": 10} if QUICK else {}))
detector.fit(X_train, y_train)

# %%
# Save and load
# -------------
# The loaded detector gives exactly the same scores. It runs on the CPU
# whatever device it was fitted on (``load(path, device="cuda")`` puts it on a
# GPU), and ``device_`` says so. The file also records the versions that saved
# it and any metadata given to ``save``.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "detector.ibdetect"
    save(detector, path, metadata={"data": "digits 0-5"})
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
    loaded = load(path)
    info = read_info(path)

same = np.array_equal(loaded.decision_function(X_test), detector.decision_function(X_test))
print(f"identical scores after loading: {same}")
print(f"runs on: {loaded.device_}; classes: {loaded.classes_}")
print(f"saved with: {info.versions}; metadata: {info.metadata}")

# %%
# A loaded detector is still a scikit-learn estimator: ``get_params`` returns
# the settings it was fitted with, it can be refitted or cloned, and with
# ``warm_start=True`` its network trains on from where it stopped.
print(loaded.get_params() == detector.get_params())
loaded.set_params(warm_start=True, max_epochs=2).fit(X_train, y_train)
print(f"epochs trained: {len(loaded.net_.history)}")

# %%
# Pickles
# -------
# ``joblib`` keeps the whole object, callbacks included, which a model file
# cannot. Loading it runs whatever code the file names: only for trusted files.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "detector.joblib"
    joblib.dump(detector, path)
    unpickled = joblib.load(path)
print(np.array_equal(unpickled.decision_function(X_test), detector.decision_function(X_test)))
