"""The detectors compared, each configured as a user would call it.

Every method is fitted on the training rows (with their class labels when it
can use them) and returns a normality score per test row: higher means more
normal, as scikit-learn's ``score_samples``.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch.nn.functional as F
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.neural_network import MLPClassifier
from sklearn.svm import OneClassSVM
from skorch.callbacks import EarlyStopping, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from ibdetect import IBDeepDescription
from ibdetect.encoders import CNNEncoder, MLPEncoder

from .anchors import anchor_builder


class KNNDistance(BaseEstimator):
    """Normality as minus the distance to the k-th nearest training sample."""

    def __init__(self, n_neighbors=5):
        self.n_neighbors = n_neighbors

    def fit(self, X, y=None):
        self.neighbors_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(X)
        return self

    def score_samples(self, X):
        distances, _ = self.neighbors_.kneighbors(X)
        return -distances[:, -1]


class MaxSoftmaxProbability(BaseEstimator):
    """A softmax classifier's confidence: its maximum class probability."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.classifier_ = MLPClassifier(random_state=self.random_state).fit(X, y)
        return self

    def score_samples(self, X):
        return self.classifier_.predict_proba(X).max(axis=1)


class PyODDetector(BaseEstimator):
    """Adapter for a PyOD detector, whose ``decision_function`` grows with abnormality."""

    def __init__(self, detector):
        self.detector = detector

    def fit(self, X, y=None):
        # A fitted copy, leaving the parameter untouched as scikit-learn asks.
        detector = clone(self.detector)
        if "n_features" in detector.get_params():
            # DeepSVDD builds its network for the rows it is told of; on a
            # table with categories only the fitted preparation knows how
            # many columns its one-hot codes make.
            detector.set_params(n_features=X.shape[1])
        self.detector_ = detector.fit(X)
        return self

    def score_samples(self, X):
        return -self.detector_.decision_function(X)


def _pyod_deep_svdd(dataset, seed):
    from pyod.models.deep_svdd import DeepSVDD

    # verbose=0 only silences the per-epoch log; everything else is PyOD's default.
    return PyODDetector(DeepSVDD(n_features=dataset.X.shape[1], random_state=seed, verbose=0))


def _has_pyod():
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True


class InputDensityMix(BaseEstimator):
    """The embedding's k-NN distance with LocalOutlierFactor's density ratio in input space (experiment).

    As ``"knn+input"``, a geometric mean of two ratios, each over its median
    on the training rows: the detector's distance (``anomaly_score="knn"``),
    and instead of the raw k-th input distance, LocalOutlierFactor's ratio of
    a row's neighbours' local density to its own, which does not grow where
    normal data are merely sparse.
    """

    def __init__(self, detector=None, n_neighbors=20):
        self.detector = detector
        self.n_neighbors = n_neighbors

    def fit(self, X, y=None):
        self.detector_ = clone(self.detector).fit(X, y)
        self.density_ = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, len(X) - 1), novelty=True).fit(X)
        self.scales_ = (
            float(np.median(-self.detector_.score_samples(X))),
            float(np.median(-self.density_.negative_outlier_factor_)),
        )
        return self

    def score_samples(self, X):
        embedding = -self.detector_.score_samples(X) / self.scales_[0]
        density = -self.density_.score_samples(X) / self.scales_[1]
        return -np.sqrt(np.maximum(embedding, 0) * np.maximum(density, 0))


class PeerAverage(BaseEstimator):
    """The four classical peers' scores averaged, each in units of its own spread on the training rows.

    IsolationForest, OneClassSVM, LocalOutlierFactor and the 5-NN distance
    as the benchmark runs them; each score is centred on its median over the
    training rows and divided by their interquartile range, then the four
    are averaged. It asks whether the peers together reach what the best of
    them reaches on each table, where a different peer is best on each.
    The units set how much each peer weighs in the average. A training row
    counts itself among its own neighbours in the 5-NN distance and
    LocalOutlierFactor's ratio, which moves their medians and spreads a
    little. A peer whose scores of the training rows have no interquartile
    range (many duplicate rows) takes their standard deviation, or 1.
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.peers_ = [
            IsolationForest(random_state=self.random_state).fit(X),
            OneClassSVM(gamma="scale").fit(X),
            LocalOutlierFactor(novelty=True).fit(X),
            KNNDistance(n_neighbors=5).fit(X),
        ]
        training = [peer.score_samples(X) for peer in self.peers_]
        self.medians_ = np.array([np.median(scores) for scores in training])
        self.spreads_ = np.array([_spread(scores) for scores in training])
        return self

    def score_samples(self, X):
        scores = np.stack([peer.score_samples(X) for peer in self.peers_], axis=1)
        return np.mean((scores - self.medians_) / self.spreads_, axis=1)


def _spread(scores):
    """The scores' interquartile range, else their standard deviation, else 1: a unit that is never 0."""
    for spread in (np.subtract(*np.percentile(scores, [75, 25])), np.std(scores)):
        if spread > 0:
            return spread
    return 1.0


# The radius of the embeddings on a sphere. The IB loss's logits are minus
# squared distances: between two points of a sphere of radius r, -2 r^2 (1 -
# cos), so r = sqrt(5) would give the cosine logits of temperature 0.1 that
# CIDER and supervised contrastive learning use, were the centres on the
# sphere too (they stay free parameters).
SPHERE_RADIUS = 5**0.5


class _OnSphere:
    """Embeddings L2-normalised, then scaled to ``SPHERE_RADIUS`` (a mixin for the built-in encoders)."""

    def forward(self, x):
        return SPHERE_RADIUS * F.normalize(super().forward(x), dim=1)


# Subclasses rather than a wrapper: precision="auto" trains a CNNEncoder in
# bfloat16 where that is native, and so these as the defaults.
class SphereMLPEncoder(_OnSphere, MLPEncoder):
    """:class:`ibdetect.encoders.MLPEncoder` with embeddings on a sphere."""


class SphereCNNEncoder(_OnSphere, CNNEncoder):
    """:class:`ibdetect.encoders.CNNEncoder` with embeddings on a sphere."""


def _sphere_encoder(input_shape, embedding_dim):
    # As encoder="auto" chooses: a CNN for images of (channels, height, width).
    encoder = SphereCNNEncoder if len(input_shape) == 3 else SphereMLPEncoder
    return encoder(input_shape=input_shape, embedding_dim=embedding_dim)


@dataclass(frozen=True)
class Method:
    """A detector of the benchmark.

    Attributes
    ----------
    name : str
    build : callable
        ``build(dataset, seed)`` returns an unfitted estimator with ``fit`` and
        ``score_samples``.
    uses_labels : bool
        Whether ``fit`` gets the class labels of the training rows.
    needs_classes : int
        The least number of known classes it works with (a classifier needs 2).
    available : callable
        Whether its optional dependencies are installed.
    """

    name: str
    build: Callable
    uses_labels: bool = False
    needs_classes: int = 1
    available: Callable = field(default=lambda: True)


def _cosine_schedule(n_epochs):
    """skorch's callback that anneals the learning rate to 0 along a cosine over ``n_epochs`` epochs."""
    return LRScheduler(policy=CosineAnnealingLR, T_max=n_epochs)


def _ib(**params):
    """IBDeepDescription told the image shape, as a user with images would tell it.

    With the default encoder="auto", that makes it a CNN.
    """
    return lambda dataset, seed: IBDeepDescription(input_shape=dataset.image_shape, random_state=seed, **params)


def _ib_wide_views(transformations, **params):
    """IBDeepDescription with views through the CNN of the default (32, 64) blocks, as it had them before 0.3.

    In batches of 128 images, as then, unless ``params`` say otherwise.
    """
    return _ib(transformations=transformations, hidden_layer_sizes=(32, 64), **{"batch_size": 128, **params})


def _ib_narrow_views(**params):
    """IBDeepDescription with the quarter turns through the (8, 32) blocks, which views had by default in format 6.

    In batches of 128 images, as then, unless ``params`` say otherwise.
    """
    return _ib(transformations="rotations", hidden_layer_sizes=(8, 32), **{"batch_size": 128, **params})


def _ib_flat_rows(dataset, seed):
    """IBDeepDescription on the rows as they are, with nothing said about images: an MLP."""
    return IBDeepDescription(random_state=seed)


METHODS = [
    Method("IsolationForest", lambda dataset, seed: IsolationForest(random_state=seed)),
    Method("OneClassSVM", lambda dataset, seed: OneClassSVM(gamma="scale")),
    Method("LOF", lambda dataset, seed: LocalOutlierFactor(novelty=True)),
    Method("kNN (k=5)", lambda dataset, seed: KNNDistance(n_neighbors=5)),
    # The four above together (PeerAverage): no ibdetect row, a yardstick of
    # the tables' "best peer on every table".
    Method("peers averaged", lambda dataset, seed: PeerAverage(random_state=seed)),
    Method("MSP (MLPClassifier)", lambda dataset, seed: MaxSoftmaxProbability(random_state=seed),
           uses_labels=True, needs_classes=2),
    Method("PyOD DeepSVDD", _pyod_deep_svdd, available=_has_pyod),
    Method("ibdetect svdd", _ib(loss="svdd"), uses_labels=True),
    Method("ibdetect mcdd", _ib(loss="mcdd"), uses_labels=True),
    Method("ibdetect ib", _ib(), uses_labels=True),
    Method("ibdetect ib (flat rows, mlp)", _ib_flat_rows, uses_labels=True),
    # The defaults without views: what "auto" chose for one class of images
    # before it chose the quarter turns.
    Method("ibdetect ib, no views", _ib(transformations="none"), uses_labels=True),
    # Views as measured before the built-in CNN narrowed with views: the
    # (32, 64) blocks.
    Method("ibdetect ib, rotations", _ib_wide_views("rotations"), uses_labels=True),
    Method("ibdetect ib, rotations+flips", _ib_wide_views("rotations+flips"), uses_labels=True),
    Method("ibdetect ib, affine", _ib(transformations="affine"), uses_labels=True),
    # The quarter turns with more weight on telling them apart.
    Method("ibdetect ib, rotations, beta=16", _ib_wide_views("rotations", beta=16.0), uses_labels=True),
    # The same, with the learning rate annealed to 0 over the 50 epochs along
    # a cosine, where training for longer had helped (150 epochs).
    Method("ibdetect ib, rotations, beta=16, cosine",
           _ib_wide_views("rotations", beta=16.0, callbacks=[("cosine", _cosine_schedule(50))]),
           uses_labels=True),
    # The same optimiser steps as 140 epochs of the default batches, which
    # longer training suggested, for about 70% of the quarter turns' fit.
    Method("ibdetect ib, rotations, beta=16, batch 32, 35 epochs",
           _ib_wide_views("rotations", beta=16.0, batch_size=32, max_epochs=35), uses_labels=True),
    # The narrower blocks that views got by default in format 6, whose four
    # passes cost about one of the (32, 64) blocks': in batches of 32
    # images, with beta=16 for longer, and with wider first blocks.
    Method("ibdetect ib, rotations, beta=16, CNN (8, 32)", _ib_narrow_views(beta=16.0), uses_labels=True),
    Method("ibdetect ib, rotations, batch 32, CNN (8, 32)", _ib_narrow_views(batch_size=32), uses_labels=True),
    # Blocks of 16 and 32 channels, which the CNN's faster evaluation lets
    # four views score in about the time one image took through the (32, 64)
    # blocks before it, trained for longer or in smaller batches; and
    # training stopped where the held-out normal samples' loss stops falling.
    *(
        Method(f"ibdetect ib, rotations, {epochs} epochs, CNN (16, 32)",
               _ib(transformations="rotations", hidden_layer_sizes=(16, 32), batch_size=128, max_epochs=epochs),
               uses_labels=True)
        for epochs in (50, 100)
    ),
    *(
        Method(f"ibdetect ib, rotations, batch {batch}, {epochs} epochs, CNN (16, 32)",
               _ib(transformations="rotations", hidden_layer_sizes=(16, 32), batch_size=batch, max_epochs=epochs),
               uses_labels=True)
        for batch, epochs in [(64, 50), (32, 35), (32, 50)]
    ),
    *(
        Method(f"ibdetect ib, rotations, batch {batch}, early stopping",
               _ib_narrow_views(batch_size=batch, max_epochs=200,
                   callbacks=[("early_stopping", EarlyStopping(patience=10, load_best=True, sink=lambda *_: None))]),
               uses_labels=True)
        for batch in (128, 32)
    ),
    *(
        Method(f"ibdetect ib, rotations, beta=16, batch 32, {epochs} epochs, CNN {channels}",
               _ib(transformations="rotations", hidden_layer_sizes=channels, beta=16.0, batch_size=32,
                   max_epochs=epochs),
               uses_labels=True)
        for channels, epochs in [((8, 32), 35), ((8, 32), 50), ((8, 32), 70), ((16, 32), 35)]
    ),
    # The IB loss's own levers, one at a time from the defaults: how much of
    # the result the default beta (4), margin (0), k-NN score and rank hold.
    # beta near 1 leaves compactness alone; a large one makes the
    # cross-entropy between centres dominate, as a classifier's loss.
    Method("ibdetect ib, beta=1.1", _ib(beta=1.1), uses_labels=True),
    Method("ibdetect ib, beta=16", _ib(beta=16.0), uses_labels=True),
    Method("ibdetect ib, beta=64", _ib(beta=64.0), uses_labels=True),
    Method("ibdetect ib, margin=1", _ib(margin=1.0), uses_labels=True),
    Method("ibdetect ib, centre distance", _ib(anomaly_score="distance"), uses_labels=True),
    Method("ibdetect ib, k=1", _ib(n_neighbors=1), uses_labels=True),
    Method("ibdetect ib, k=20", _ib(n_neighbors=20), uses_labels=True),
    # Every normal training sample as a k-NN reference, not 1,000 of them.
    Method("ibdetect ib, all references", _ib(max_references=1.0), uses_labels=True),
    # Embeddings on a hypersphere, as the normalised features of the CE + kNN
    # anchor and CIDER's: the default encoder, normalised.
    Method("ibdetect ib, hypersphere", _ib(encoder=_sphere_encoder), uses_labels=True),
    # The embedding's k-NN distance alone, without the raw pixels' beside it:
    # the default on images before version 0.3.
    Method("ibdetect ib, knn", _ib(anomaly_score="knn"), uses_labels=True),
    # The input's raw k-th distance beside the embedding's, the default on
    # images before "knn+density"; and "knn+density" for tables, whose
    # default is "knn+input".
    Method("ibdetect ib, knn+input", _ib(anomaly_score="knn+input"), uses_labels=True),
    Method("ibdetect ib, knn+density", _ib(anomaly_score="knn+density"), uses_labels=True),
    # LocalOutlierFactor's own ratio (20 neighbours, reachability distances)
    # on the raw pixels in place of their k-th distance (levers.py's
    # "knn+LOF" on tables).
    Method(
        "ibdetect ib, knn+LOF",
        lambda dataset, seed: InputDensityMix(_ib(anomaly_score="knn")(dataset, seed)),
        uses_labels=True,
    ),
    # Supervised anchors: cross-entropy on the detector's encoder (anchors.py).
    Method("CE + MSP", anchor_builder("msp"), uses_labels=True, needs_classes=2),
    Method("CE + energy", anchor_builder("energy"), uses_labels=True, needs_classes=2),
    Method("CE + Mahalanobis", anchor_builder("mahalanobis"), uses_labels=True, needs_classes=2),
    Method("CE + kNN", anchor_builder("knn"), uses_labels=True, needs_classes=2),
]
