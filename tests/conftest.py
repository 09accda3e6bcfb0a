import signal
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pytest

# Three well separated normal classes in 6-D and a far-away unseen class.
_BLOB_CENTRES = ((-6, 0, 0, 0, 0, 0), (6, 0, 0, 0, 0, 0), (0, 6, 0, 0, 0, 0))
_UNSEEN_CENTRE = (0, -6, 6, 0, 0, 0)


def _draw_blobs(centres, n_per_class, scale=1.0, seed=0, dtype=np.float64):
    """Samples drawn around each of ``centres``, and their class labels 0, 1, ..."""
    rng = np.random.RandomState(seed)
    centres = np.atleast_2d(np.asarray(centres, dtype=float))
    X = np.vstack([rng.normal(centre, scale, (n_per_class, centres.shape[1])) for centre in centres])
    return X.astype(dtype), np.repeat(np.arange(len(centres)), n_per_class)


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_raises_keyboard_interrupt():
    """SIGINT raises KeyboardInterrupt, as in a terminal, even where the suite started with it ignored.

    A shell without job control starts a background command with SIGINT
    ignored, and Python then leaves it so: the tests that press Ctrl-C
    (``signal.raise_signal``) would see nothing happen.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def fast():
    """Small, quick settings shared by the estimator tests: ``IBDeepDescription(**fast)``.

    Read-only, as every test and the session-wide fixtures share it; a test
    that needs other values builds a new dict, ``{**fast, "max_epochs": 20}``.
    """
    return MappingProxyType({"max_epochs": 5, "hidden_layer_sizes": (32,), "embedding_dim": 8, "random_state": 0})


@pytest.fixture(scope="session")
def make_blobs():
    """The one builder of labelled Gaussian classes for every test module.

    ``make_blobs(centres, n_per_class, scale=1.0, seed=0, dtype=np.float64)``
    returns samples drawn around each of ``centres`` and their class labels
    0, 1, ...
    """
    return _draw_blobs


@pytest.fixture(scope="session")
def blob_centres():
    """The centres of the three normal classes of ``blobs``, to draw more samples of them."""
    return _BLOB_CENTRES


@pytest.fixture
def blobs():
    """Three well separated normal classes in 6-D (40 samples each) and 30 samples of an unseen class."""
    X, y = _draw_blobs(_BLOB_CENTRES, 40)
    X_unseen, _ = _draw_blobs([_UNSEEN_CENTRE], 30, seed=1)
    return X, y, X_unseen


@pytest.fixture(scope="session")
def fitted_blobs(fast):
    """A detector fitted once with the ``fast`` settings on the blobs, for tests that only read it.

    Returns the detector and the blobs; a test must neither refit nor change them.
    """
    from ibdetect import IBDeepDescription

    X, y = _draw_blobs(_BLOB_CENTRES, 40)
    X_unseen, _ = _draw_blobs([_UNSEEN_CENTRE], 30, seed=1)
    return IBDeepDescription(**fast).fit(X, y), (X, y, X_unseen)


@pytest.fixture(scope="session")
def roc_auc():
    """``roc_auc(detector, X_normal, X_unseen)``: how well ``decision_function`` ranks the unseen samples below the normal ones."""
    from ibdetect.metrics import anomaly_roc_auc_score

    def score(detector, X_normal, X_unseen):
        X = np.vstack([X_normal, X_unseen])
        y = np.r_[np.zeros(len(X_normal)), -np.ones(len(X_unseen))]
        return anomaly_roc_auc_score(y, detector.decision_function(X))

    return score


@pytest.fixture(scope="session")
def model_file():
    """A model file taken apart and put together: ``members(file)`` gives its header and
    tensor bytes, ``saved(detector)`` the file, header and tensors by name of a detector,
    ``of(header, tensor_bytes)`` a file of those members."""
    import io
    import json
    import zipfile

    import safetensors.torch

    from ibdetect._model_file import HEADER_MEMBER, TENSORS_MEMBER
    from ibdetect.persistence import save

    def members(file):
        with zipfile.ZipFile(file) as archive:
            return json.loads(archive.read(HEADER_MEMBER)), archive.read(TENSORS_MEMBER)

    def saved(detector):
        file = io.BytesIO()
        save(detector, file)
        header, tensor_bytes = members(file)
        return file, header, safetensors.torch.load(tensor_bytes)

    def of(header, tensor_bytes):
        file = io.BytesIO()
        with zipfile.ZipFile(file, "w") as archive:
            archive.writestr(HEADER_MEMBER, json.dumps(header))
            archive.writestr(TENSORS_MEMBER, tensor_bytes)
        return io.BytesIO(file.getvalue())

    return SimpleNamespace(members=members, saved=saved, of=of)
