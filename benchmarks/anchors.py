"""Supervised anchors: a cross-entropy classifier on the detector's own encoder.

The classifier is ``IBDeepDescription``'s default encoder (the CNN for images,
the MLP for flat rows, both with a 32-dimensional output) followed by a linear
layer to the known classes, trained with cross-entropy for as many epochs,
with the same batch size, optimiser, learning rate and weight decay as the
detector. Only the loss differs, so the gap between a row of the detector
and a row here measures what the Information-Bottleneck loss adds over plain
classification on the same network.

Four post-hoc scores of the trained classifier make four anchors, each
higher for more normal samples:

* ``"msp"``: the maximum softmax probability (Hendrycks and Gimpel, 2017);
* ``"energy"``: the log-sum-exp of the logits, minus the free energy at
  temperature 1 (Liu et al., 2020);
* ``"mahalanobis"``: minus the smallest squared Mahalanobis distance of the
  encoder's output to a class mean, with one covariance shared by the
  classes (Lee et al., 2018);
* ``"knn"``: minus the distance of the L2-normalised encoder output to the
  k-th nearest normalised training output (Sun et al., 2022).
"""

from contextlib import contextmanager

import numpy as np
import torch
from scipy.special import logsumexp, softmax
from skorch import NeuralNetClassifier
from sklearn.base import BaseEstimator
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, check_memory, check_X_y
from torch import nn

from ibdetect.encoders import CNNEncoder, MLPEncoder

__all__ = ["SCORES", "CrossEntropyAnchor", "anchor_builder", "train_classifier"]

SCORES = ("msp", "energy", "mahalanobis", "knn")

# IBDeepDescription's defaults: the anchors train as the detector does.
EMBEDDING_DIM = 32
BATCH_SIZE = 128
LR = 1e-3
WEIGHT_DECAY = 1e-5

# The detector's own neighbour rank (its n_neighbors) among the training
# samples. Sun et al. take k=50 among CIFAR-10's 50,000 training images, a
# rank of 0.1%; the training sets here hold from 30 (few-shot) to about
# 6,000 rows, where 5 is 0.1% to 17% of them and 50 would exceed the smallest.
N_NEIGHBORS = 5

# Rows per forward pass when embedding: bounds the memory of large inputs.
INFERENCE_BATCH = 1024


class _Classifier(nn.Module):
    """An encoder and a linear layer from its output to the class logits."""

    def __init__(self, encoder, n_classes):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embedding_dim, n_classes)

    def forward(self, X):
        return self.head(self.encoder(X))


def build_encoder(input_shape):
    """The encoder that ``IBDeepDescription(input_shape=...)`` builds with its defaults.

    Its ``encoder="auto"`` is the CNN for a 3-D ``input_shape`` (an image) and
    the MLP otherwise, each with the default widths.
    """
    if len(input_shape) == 3:
        return CNNEncoder(input_shape=input_shape, embedding_dim=EMBEDDING_DIM)
    return MLPEncoder(input_shape=input_shape, embedding_dim=EMBEDDING_DIM)


@contextmanager
def _seeded_torch(seed):
    """Seed torch's CPU generator for the duration of a fit, then restore its state.

    Weights are initialised and batches shuffled on the CPU, whatever the
    device; other generators are left alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def train_classifier(X, targets, input_shape, n_classes, max_epochs, seed):
    """The encoder and its linear head trained with cross-entropy on ``X``, as the detector trains.

    A function of its arguments alone, so that ``joblib.Memory`` can cache it.
    ``seed`` seeds the weights and the batch order.
    """
    with _seeded_torch(seed):
        net = NeuralNetClassifier(
            module=_Classifier,
            module__encoder=build_encoder(input_shape),
            module__n_classes=n_classes,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=LR,
            optimizer__weight_decay=WEIGHT_DECAY,
            max_epochs=max_epochs,
            batch_size=BATCH_SIZE,
            iterator_train__shuffle=True,
            # BatchNorm cannot train on a batch of one sample: skip a trailing
            # one (a different one each epoch, as the order is shuffled).
            iterator_train__drop_last=len(X) % BATCH_SIZE == 1,
            # Nothing is tuned or stopped early: every row trains.
            train_split=None,
            classes=np.arange(n_classes),
            device="cuda" if torch.cuda.is_available() else "cpu",
            verbose=0,
        )
        return net.fit(X, targets)


class CrossEntropyAnchor(BaseEstimator):
    """A softmax classifier on the detector's encoder, scored for normality.

    Parameters
    ----------
    score : {"msp", "energy", "mahalanobis", "knn"}, default="msp"
        What :meth:`score_samples` returns; see the module's description.
    input_shape : tuple of int, default=None
        Shape of one sample, as ``IBDeepDescription``'s: a 3-D shape makes
        the encoder the CNN. None means ``(n_features,)``, the MLP.
    max_epochs : int, default=50
        Passes over the training data.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the batch order.
    memory : str, joblib.Memory or None, default=None
        Caches the trained classifier, as ``Pipeline``'s ``memory`` caches
        fitted transformers: the four scores of the same classifier (same
        rows, labels, shape, epochs and seed) then train it once. The key
        is :func:`train_classifier`'s code and arguments, not the module's
        constants, the encoders' code or torch's version: keep a folder for
        one version of the code (``benchmarks.run`` makes one per run).
        None caches nothing.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``.
    net_ : skorch.NeuralNetClassifier
        The trained classifier; ``net_.module_.encoder`` is the encoder.
    class_means_ : ndarray of shape (n_classes, embedding_dim)
        Mean encoder output of each class (``score="mahalanobis"``).
    precision_ : ndarray of shape (embedding_dim, embedding_dim)
        Inverse of the shared covariance (``score="mahalanobis"``).
    neighbors_ : sklearn.neighbors.NearestNeighbors
        The normalised training outputs (``score="knn"``).
    """

    def __init__(self, score="msp", input_shape=None, max_epochs=50, random_state=None, memory=None):
        self.score = score
        self.input_shape = input_shape
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.memory = memory

    def fit(self, X, y):
        """Train the classifier on ``X`` with the class labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            At least two classes.

        Returns
        -------
        self : CrossEntropyAnchor
        """
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}.")
        X, y = check_X_y(X, y, dtype=np.float32)
        labels = LabelEncoder().fit(y)
        targets = labels.transform(y).astype(np.int64)
        self.classes_ = labels.classes_
        if len(self.classes_) < 2:
            raise ValueError("A classifier needs at least two classes in y.")
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        input_shape = (X.shape[1],) if self.input_shape is None else tuple(self.input_shape)
        train = check_memory(self.memory).cache(train_classifier)
        self.net_ = train(X, targets, input_shape, len(self.classes_), self.max_epochs, seed)
        features = self._forward(X)[0]
        if self.score == "mahalanobis":
            self._fit_mahalanobis(features, targets)
        elif self.score == "knn":
            self.neighbors_ = NearestNeighbors(n_neighbors=N_NEIGHBORS).fit(_unit_rows(features))
        return self

    def _fit_mahalanobis(self, features, targets):
        """Class means and the precision of the covariance the classes share.

        Ledoit-Wolf rather than the empirical covariance: the few-shot splits
        train on fewer rows than the 32 dimensions, where the empirical one is
        singular, and cross-entropy features of well separated classes may lie
        close to a subspace. Its shrinkage vanishes as rows outnumber
        dimensions, leaving Lee et al.'s empirical estimate.
        """
        self.class_means_ = np.stack([features[targets == k].mean(axis=0) for k in range(len(self.classes_))])
        centred = features - self.class_means_[targets]
        self.precision_ = LedoitWolf(assume_centered=True).fit(centred).precision_

    def score_samples(self, X):
        """Normality of each sample: higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "net_")
        features, logits = self._forward(check_array(X, dtype=np.float32))
        if self.score == "msp":
            return softmax(logits, axis=1).max(axis=1)
        if self.score == "energy":
            return logsumexp(logits, axis=1)
        if self.score == "mahalanobis":
            return -self._squared_mahalanobis(features).min(axis=1)
        distances, _ = self.neighbors_.kneighbors(_unit_rows(features))
        return -distances[:, -1]

    def _squared_mahalanobis(self, features):
        """Squared distance of each row to each class mean, shape (n_samples, n_classes).

        Squared as Lee et al. score; the square keeps the ranking of the distance.
        """
        differences = features[:, None, :] - self.class_means_[None, :, :]
        return np.einsum("nkd,de,nke->nk", differences, self.precision_, differences)

    def _forward(self, X):
        """The encoder's outputs and the logits of ``X`` in evaluation mode, as float64 arrays."""
        module = self.net_.module_
        module.eval()
        features, logits = [], []
        with torch.no_grad():
            for batch in torch.split(torch.from_numpy(X), INFERENCE_BATCH):
                embedded = module.encoder(batch.to(self.net_.device))
                features.append(embedded.cpu())
                logits.append(module.head(embedded).cpu())
        return torch.cat(features).double().numpy(), torch.cat(logits).double().numpy()


def _unit_rows(features):
    """Rows scaled to unit Euclidean length; a zero row stays zero."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, np.finfo(features.dtype).tiny)


def anchor_builder(score):
    """``build(dataset, seed)`` of a benchmark method: the anchor told the image shape.

    As the detector's rows are built, a data set of images makes the
    encoder the CNN and a table the MLP.
    """
    return lambda dataset, seed: CrossEntropyAnchor(score=score, input_shape=dataset.image_shape, random_state=seed)
