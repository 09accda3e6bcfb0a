"""The scikit-learn estimator: multi-class deep data description with the IB loss."""

import copy
import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OutlierMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from torch import nn
from torch.utils.data import Subset

from ._labels import ANOMALY, encode_labels
from ._net import (
    AcceleratedDeepDescriptionNet,
    Autoencoder,
    AutoencoderNet,
    DeepDescriptionModule,
    DeepDescriptionNet,
    _TensorDataset,
)
from ._scoring import auto_threshold, center_distances, kth_neighbor_distances, nearest_center_distances
from .encoders import CNNEncoder, MLPEncoder
from .losses import DeepMCDDLoss, DeepSVDDLoss, IBLoss

__all__ = ["EmbeddingCollapseWarning", "IBDeepDescription"]

# The label of the single centre when normal samples carry no class labels:
# scikit-learn's inlier label.
INLIER = 1

# The "knn" score keeps the embeddings of at most this many normal training
# samples (a random subset of larger training sets). Scoring time grows with
# it; ranking quality did not: on the MNIST sample, 250 to all 3,200
# references gave the same ROC AUC to 0.001 (benchmarks/reference_size.py).
MAX_REFERENCE_SAMPLES = 1_000


class EmbeddingCollapseWarning(UserWarning):
    """The network maps all training samples to (almost) the same point."""


class IBDeepDescription(ClassNamePrefixFeaturesOutMixin, TransformerMixin, OutlierMixin, BaseEstimator):
    """Anomaly detector that describes each known normal class by a compact region.

    A neural encoder maps samples to an embedding where every known normal class
    has a centre. Training with the Information Bottleneck (IB) loss pulls each
    sample to its own centre (compactness) and, through a softmax over the
    distances to all centres, away from the others (separation). A sample that
    lands far from these compact regions, such as one of a class never seen in
    training, is an anomaly: by default its distance to its nearest training
    embeddings measures how far.

    Parameters
    ----------
    encoder : {"auto", "mlp", "cnn"}, callable or torch.nn.Module, default="auto"
        The network. ``"mlp"`` is a fully connected network for tabular rows,
        ``"cnn"`` a LeNet-type convolutional network for images (needs
        ``input_shape``); ``"auto"`` picks ``"cnn"`` when ``input_shape`` has
        three dimensions (channels, height, width) and ``"mlp"`` otherwise.

        A callable (e.g. an ``nn.Module`` subclass) is called as
        ``encoder(input_shape=..., embedding_dim=...)`` and must return a
        module mapping a batch to ``(n, embedding_dim)``. A module instance is
        copied in ``fit``, never trained in place. Avoid biases and affine
        normalisation in your own encoder when ``y`` has a single class.
    hidden_layer_sizes : tuple of int, default=None
        Width of each hidden layer for ``"mlp"`` (None: ``(256, 128)``), or
        output channels of each convolutional block for ``"cnn"``
        (None: ``(32, 64)``). For ``"mlp"``, an empty tuple leaves only the
        final linear layer; ``"cnn"`` needs at least one block. Ignored for
        other encoders.
    embedding_dim : int, default=32
        Size of the embedding. Ignored for a module instance.
    input_shape : tuple of int, default=None
        Shape of one sample, e.g. ``(1, 28, 28)``. Rows of ``X`` (which stays
        2-D, so that scalers and pipelines work) are reshaped to it before the
        encoder. None means ``(n_features,)``.
    loss : {"ib", "mcdd", "svdd"}, default="ib"
        ``"ib"``: the IB loss ``d_y/(2 s^2) + (beta - 1) CE``. ``"mcdd"``:
        Deep-MCDD's ``mcdd_lambda * d_y/(2 s^2) + CE``. ``"svdd"``: one-class
        Deep SVDD with one fixed centre; class labels are ignored.
    beta : float, default=4.0
        IB trade-off between separation and compactness, > 1. Used by ``"ib"``.
        The default, chosen on the benchmark, weighs separation three times as
        much as compactness; ``beta=2`` is the Deep-MCDD loss with
        ``mcdd_lambda=1``.
    margin : float, default=0.0
        Margin, in squared embedding distance, by which a sample's own centre
        must beat the others in the separation term. Used by ``"ib"``.
    mcdd_lambda : float, default=1.0
        Weight of the compactness term of ``"mcdd"``.
    anomaly_weight : float, default=1.0
        Weight of the term pushing known anomalies (label ``-1``) away from all
        centres.
    priors : array-like of shape (n_classes,), default=None
        Prior probability of each known class, in the order of ``classes_``;
        None uses the class frequencies in ``y``.
    max_epochs : int, default=50
        Number of passes over the training data.
    pretrain_epochs : int, default=0
        Epochs of autoencoder pretraining before the centres are placed: the
        encoder is trained with a mirrored decoder to reconstruct the normal
        training samples, as Deep SVDD does. 0 skips it. Needs an encoder with
        a ``decoder()`` method, as the built-in ones have.
    batch_size : int, default=128
        Samples per training step. Inference and distances run in blocks
        of a few MiB, within scikit-learn's ``working_memory``, whatever
        the batch size.
    lr : float, default=1e-3
        Learning rate of the Adam optimiser.
    weight_decay : float, default=1e-5
        L2 penalty on the encoder's weights (not on the centres). It pins the
        scale of the embedding.
    validation_fraction : float or None, default=0.1
        Fraction of each class held out from training (rounded down, so
        classes of fewer than ``1 / validation_fraction`` samples are kept
        whole). The network never trains on it: it reports a validation loss
        each epoch (e.g. for a skorch ``EarlyStopping`` callback), and
        ``contamination="auto"`` sets the threshold on its normal samples, so
        that new normal samples are flagged at about the intended rate. None
        trains on everything. When no class is large enough to lose a
        sample, as with a few labelled samples per class, nothing is held
        out and the threshold is set on the training samples.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks, e.g. ``EarlyStopping`` or ``LRScheduler``.
    anomaly_score : {"auto", "knn", "distance"}, default="auto"
        How far a sample lies from the normal data. ``"distance"``: the
        squared distance of its embedding to the nearest class centre.
        ``"knn"``: the squared distance to its ``n_neighbors``-th nearest
        training embedding, which follows the shape of each class rather than
        a sphere around its centre; the model then keeps the embeddings of up
        to 1,000 normal training samples. ``"auto"`` is ``"distance"`` when
        ``y`` holds known anomalies (``-1``), which training pushes away from
        the centres, and ``"knn"`` otherwise.
    n_neighbors : int, default=5
        Neighbour rank used by ``anomaly_score="knn"``.
    contamination : "auto" or float, default="auto"
        Sets ``offset_``, the threshold of ``predict``. A float in (0, 0.5] is
        the expected fraction of anomalies in the training data. ``"auto"``
        puts Tukey's fence on the logarithm of the distances (as
        ``anomaly_score`` measures them) of the normal training samples: a
        sample is anomalous when its log distance exceeds ``Q3 + 1.5 IQR``, or
        the 99th percentile when that is lower. The distances are those of the
        held-out samples when ``validation_fraction`` is set; otherwise those
        of the training samples, each measured without itself among the
        references. New samples lie farther out than training samples, so
        without a held-out part expect new normal samples to be flagged
        several times more often (on the digits demo: 23% instead of 1.6%).
    device : str, default="auto"
        Torch device to train and infer on. ``"auto"`` picks ``"cuda"`` when
        available, else ``"cpu"``. The chosen one is ``device_``.
    accelerator : accelerate.Accelerator, default=None
        Train through Hugging Face accelerate (with skorch's
        ``AccelerateMixin``): data parallel over several GPUs or machines,
        launched with ``accelerate launch``, or mixed precision. It overrides
        ``device``: the network trains on ``accelerator.device``. Autoencoder
        pretraining does not go through it. Needs the ``accelerate`` package.
    n_jobs : int, default=None
        CPU threads torch may use while fitting and scoring; its own setting
        is restored afterwards. None means 1 (unless in a
        ``joblib.parallel_config`` context), -1 all processors. One thread is
        the default because the networks are small: a second one made fits
        slower even on idle cores, and on cores busy with other work threads
        that wait for each other slowed torch down 3 to 7 times
        (measurements on the "Scaling up" page).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and batch order. With an int, refitting on
        the CPU gives bit-identical results. torch's global random state is left
        untouched.
    verbose : int, default=0
        0 prints nothing; 1 prints one line per epoch with the loss and its
        parts.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Label of each centre: the known normal classes in ``y``, or ``[1]``
        when fitted without labels (``y=None`` or ``loss="svdd"``).
    centers_ : ndarray of shape (n_classes, embedding_dim)
        The class centres in the embedding.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit``, when ``X`` has string column
        names.
    anomaly_score_ : str
        The anomaly score in use, ``"distance"`` or ``"knn"``: ``anomaly_score``
        with ``"auto"`` resolved.
    reference_embeddings_ : ndarray of shape (n_reference, embedding_dim)
        Embeddings of (at most 1,000 of) the normal training samples, the
        neighbours of the ``"knn"`` score; only when ``anomaly_score_`` is
        ``"knn"``.
    net_ : DeepDescriptionNet
        The fitted skorch net; its ``history`` holds the training curves.
    pretrain_history_ : skorch.History
        Reconstruction loss per epoch of the autoencoder pretraining; only when
        ``pretrain_epochs > 0``.
    device_ : str
        Device of the fitted network.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based unsupervised detector.
    sklearn.neighbors.LocalOutlierFactor : Density-based detector.

    Notes
    -----
    With one class the IB loss is exactly Deep SVDD's; divided by
    ``beta - 1`` it is Deep-MCDD's with ``mcdd_lambda = 1 / (beta - 1)``.

    References
    ----------
    .. [1] S. Ando and A. Yamamoto, "Anomaly Detection via Few-Shot Learning on
       Normality", ECML PKDD 2022.
    .. [2] L. Ruff et al., "Deep One-Class Classification", ICML 2018.
    .. [3] D. Lee et al., "Multi-class Data Description for Out-of-distribution
       Detection", KDD 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect import IBDeepDescription
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-3, 1, (100, 4)), rng.normal(3, 1, (100, 4))])
    >>> y = np.repeat([0, 1], 100)
    >>> detector = IBDeepDescription(max_epochs=20, random_state=0).fit(X, y)
    >>> detector.classes_
    array([0, 1])
    >>> detector.predict([[-3, -3, -3, -3], [30, -30, 30, -30]])
    array([ 1, -1])
    """

    _parameter_constraints = {
        "encoder": [StrOptions({"auto", "mlp", "cnn"}), callable],
        "hidden_layer_sizes": ["array-like", None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "input_shape": ["array-like", None],
        "loss": [StrOptions({"ib", "mcdd", "svdd"})],
        "beta": [Interval(Real, 1, None, closed="neither")],
        "margin": [Interval(Real, 0, None, closed="left")],
        "mcdd_lambda": [Interval(Real, 0, None, closed="neither")],
        "anomaly_weight": [Interval(Real, 0, None, closed="left")],
        "priors": ["array-like", None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "anomaly_score": [StrOptions({"auto", "distance", "knn"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "device": [str],
        "accelerator": [HasMethods(["prepare", "backward"]), None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        encoder="auto",
        hidden_layer_sizes=None,
        embedding_dim=32,
        input_shape=None,
        loss="ib",
        beta=4.0,
        margin=0.0,
        mcdd_lambda=1.0,
        anomaly_weight=1.0,
        priors=None,
        max_epochs=50,
        pretrain_epochs=0,
        batch_size=128,
        lr=1e-3,
        weight_decay=1e-5,
        validation_fraction=0.1,
        callbacks=None,
        anomaly_score="auto",
        n_neighbors=5,
        contamination="auto",
        device="auto",
        accelerator=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.encoder = encoder
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embedding_dim = embedding_dim
        self.input_shape = input_shape
        self.loss = loss
        self.beta = beta
        self.margin = margin
        self.mcdd_lambda = mcdd_lambda
        self.anomaly_weight = anomaly_weight
        self.priors = priors
        self.max_epochs = max_epochs
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.anomaly_score = anomaly_score
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.device = device
        self.accelerator = accelerator
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the encoder and centres on normal data.

        A fit that raises leaves the detector as it was: a fitted detector
        keeps its previous model, an unfitted one stays unfitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples, mostly or only normal.
        y : array-like of shape (n_samples,), default=None
            Labels of the known normal classes (ints or strings), one centre
            each; ``-1`` marks a known anomaly, pushed away from all centres.
            None means every sample is normal and unlabelled: one centre, as in
            Deep SVDD.

        Returns
        -------
        self : IBDeepDescription
            The fitted detector.
        """
        with _all_or_nothing(self), _torch_threads(self.n_jobs):
            return self._fit(X, y)

    def _fit(self, X, y):
        # Data checks first: nothing here needs a trained network.
        X, targets = self._validate_training_data(X, y)
        input_shape = self._check_input_shape()
        device = _resolve_device(self.device) if self.accelerator is None else str(self.accelerator.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        anomaly_score = self._resolve_anomaly_score(targets)
        # Samples are picked by index, never copied: X may be larger than memory.
        held_out = self._hold_out(targets, seed)
        train = np.flatnonzero(~held_out)
        self._check_n_neighbors(anomaly_score, targets[train])

        normal_train = train[targets[train] != ANOMALY]
        with _seeded_torch(seed, device):
            encoder = self._build_encoder(input_shape)
            if self.pretrain_epochs:
                self.pretrain_history_ = self._pretrain(encoder, Subset(_TensorDataset(X), normal_train), device)
            # The net validates on the held-out samples, which it draws again.
            split = _StratifiedHoldOut(self.validation_fraction, seed) if held_out.any() else None
            self.net_ = self._build_net(encoder, X, targets[train], split, device)
            self.net_.fit(X, targets)
        self.centers_ = self.net_.module_.centers.detach().cpu().numpy().astype(np.float64)
        self.anomaly_score_ = anomaly_score

        # The only pass of the trained encoder over the training data: the
        # collapse check, the k-NN reference and the threshold all read it.
        embeddings = self.net_.embed(X)
        _warn_if_collapsed(nearest_center_distances(embeddings[normal_train], self.centers_))
        if anomaly_score == "knn":
            self.reference_embeddings_ = _subsample(embeddings[normal_train], MAX_REFERENCE_SAMPLES, seed)
        self.offset_ = -self._fit_threshold(embeddings, targets, held_out)
        return self

    def score_samples(self, X):
        """Normality of each sample: minus its squared distance to the normal data.

        The distance is to the nearest class centre, or to the
        ``n_neighbors``-th nearest training embedding with
        ``anomaly_score="knn"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal.
        """
        with _torch_threads(self.n_jobs):
            return -self._distances_to_normal(self.transform(X))

    def decision_function(self, X):
        """Normality score shifted so that anomalies are negative.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``: negative for anomalies, positive
            for normal samples.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample as normal (+1) or anomalous (-1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 for normal samples, -1 for anomalies.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def predict_class(self, X):
        """Known class of the nearest centre, whether the sample is normal or not.

        Combine with :meth:`predict` to tell "normal, of class k" from "anomaly".

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        classes : ndarray of shape (n_samples,)
            An element of ``classes_`` for each sample.
        """
        return self.classes_[self.class_distances(X).argmin(axis=1)]

    def class_distances(self, X):
        """Squared distance of each sample's embedding to each class centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        with _torch_threads(self.n_jobs):
            return center_distances(self.transform(X), self.centers_)

    def transform(self, X):
        """Embed samples, e.g. to plot them or to feed another estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        embeddings : ndarray of shape (n_samples, embedding_dim)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        with _torch_threads(self.n_jobs):
            return self.net_.embed(X)

    @property
    def device_(self):
        """Device of the fitted network, e.g. ``"cpu"`` or ``"cuda"``.

        A model fitted on a GPU and loaded where there is none reports ``"cpu"``.
        """
        check_is_fitted(self)
        return str(self.net_.device)

    @property
    def _n_features_out(self):
        return self.centers_.shape[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The network computes in float32 whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- fitting, step by step -------------------------------------------------

    def _validate_training_data(self, X, y):
        """Check X and y; set ``classes_``; return X and integer targets.

        Targets are the index of each sample's class in ``classes_``, or -1 for
        a known anomaly.
        """
        if y is None:
            X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
            self.classes_ = np.array([INLIER])
            return X, np.zeros(len(X), dtype=np.int64)
        X, y = validate_data(self, X, y, dtype=np.float32, ensure_min_samples=2)
        self.classes_, targets = encode_labels(column_or_1d(y), one_class=self.loss == "svdd")
        return X, targets

    def _resolve_anomaly_score(self, targets):
        if self.anomaly_score != "auto":
            return self.anomaly_score
        # The known-anomaly term acts on the distances to the centres, which
        # the "distance" score reads directly; "knn" gains much less from it.
        return "distance" if np.any(targets == ANOMALY) else "knn"

    def _check_n_neighbors(self, anomaly_score, train_targets):
        n_normal = int(np.sum(train_targets != ANOMALY))
        if anomaly_score == "knn" and n_normal <= self.n_neighbors:
            raise ValueError(
                f"anomaly_score='knn' with n_neighbors={self.n_neighbors} needs more than "
                f"{self.n_neighbors} normal training samples, got {n_normal}; lower "
                "n_neighbors or use anomaly_score='distance'."
            )

    def _check_input_shape(self):
        if self.input_shape is None:
            if self.encoder == "cnn":
                raise ValueError(
                    "encoder='cnn' needs input_shape=(channels, height, width), e.g. "
                    "(1, 28, 28) for MNIST rows of 784 pixels."
                )
            return (self.n_features_in_,)
        input_shape = _positive_ints(self.input_shape, "input_shape")
        if not input_shape:
            raise ValueError("input_shape must hold at least one dimension.")
        if math.prod(input_shape) != self.n_features_in_:
            raise ValueError(
                f"input_shape={input_shape} holds {math.prod(input_shape)} values, but X "
                f"has {self.n_features_in_} features per sample."
            )
        return input_shape

    def _pretrain(self, encoder, X_normal, device):
        """Train ``encoder`` as the first half of an autoencoder; return the history."""
        if not callable(getattr(encoder, "decoder", None)):
            raise ValueError(
                "pretrain_epochs > 0 needs an encoder with a decoder() method, as the "
                f"built-in encoders have; {type(encoder).__name__} has none."
            )
        autoencoder = AutoencoderNet(
            module=Autoencoder,
            module__encoder=encoder,
            module__decoder=encoder.decoder(),
            optimizer=torch.optim.Adam,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=self.pretrain_epochs,
            batch_size=self.batch_size,
            device=device,
            verbose=self.verbose,
        )
        return autoencoder.fit(X_normal).history

    def _hold_out(self, targets, seed):
        """Mask of the held-out samples: ``validation_fraction`` of each class and of the known anomalies.

        Nothing is held out when no normal sample would be.
        """
        if self.validation_fraction is None:
            return np.zeros(len(targets), dtype=bool)
        held_out = _stratified_hold_out(targets, self.validation_fraction, np.random.RandomState(seed))
        if not np.any(held_out & (targets != ANOMALY)):
            return np.zeros(len(targets), dtype=bool)
        return held_out

    def _build_net(self, encoder, X, train_targets, train_split, device):
        n_classes = len(self.classes_)
        net_class, accelerate = DeepDescriptionNet, {}
        if self.accelerator is not None:
            net_class, accelerate = AcceleratedDeepDescriptionNet, {"accelerator": self.accelerator}
        return net_class(
            module=DeepDescriptionModule,
            module__encoder=encoder,
            module__n_centers=n_classes,
            module__embedding_dim=_embedding_dim(encoder, X[:2]),
            # One fixed centre is Deep SVDD's safeguard against collapse; with
            # several, the cross-entropy keeps learned centres apart.
            module__learn_centers=n_classes > 1,
            **self._criterion_params(train_targets),
            optimizer=torch.optim.Adam,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            # Decay would drag learned centres to the origin.
            optimizer__param_groups=[("centers", {"weight_decay": 0.0})],
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=train_split,
            callbacks=copy.deepcopy(self.callbacks),
            device=device,
            verbose=self.verbose,
            **accelerate,
        )

    def _build_encoder(self, input_shape):
        if isinstance(self.encoder, nn.Module):
            return copy.deepcopy(self.encoder)
        builders = {"mlp": _build_mlp, "cnn": _build_cnn}
        if isinstance(self.encoder, str):
            hidden = self.hidden_layer_sizes
            if hidden is not None:
                hidden = _positive_ints(hidden, "hidden_layer_sizes")
            name = ("cnn" if len(input_shape) == 3 else "mlp") if self.encoder == "auto" else self.encoder
            return builders[name](input_shape, self.embedding_dim, hidden)
        encoder = self.encoder(input_shape=input_shape, embedding_dim=self.embedding_dim)
        if not isinstance(encoder, nn.Module):
            raise TypeError(
                f"encoder must build a torch.nn.Module, got {type(encoder).__name__}."
            )
        return encoder

    def _criterion_params(self, targets):
        common = {"criterion__anomaly_weight": self.anomaly_weight}
        if self.loss == "svdd":
            return {"criterion": DeepSVDDLoss, **common}
        common["criterion__priors"] = self._class_priors(targets)
        if self.loss == "mcdd":
            return {"criterion": DeepMCDDLoss, "criterion__lambda_": self.mcdd_lambda, **common}
        return {"criterion": IBLoss, "criterion__beta": self.beta, "criterion__margin": self.margin, **common}

    def _class_priors(self, targets):
        if self.priors is None:
            counts = np.bincount(targets[targets != ANOMALY], minlength=len(self.classes_))
            return counts / counts.sum()
        priors = np.asarray(self.priors, dtype=np.float64)
        if priors.shape != self.classes_.shape or (priors <= 0).any():
            raise ValueError(
                f"priors must hold {len(self.classes_)} positive values, one per class "
                f"in classes_, got {self.priors!r}."
            )
        return priors

    def _fit_threshold(self, embeddings, targets, held_out):
        """The distance beyond which ``predict`` flags a sample.

        ``embeddings`` and ``targets`` are those of every sample ``fit`` got;
        ``held_out`` marks those the network did not train on.
        """
        if self.contamination != "auto":
            # The fraction of the training data to flag, as scikit-learn defines it.
            return np.percentile(self._distances_to_normal(embeddings), 100.0 * (1.0 - self.contamination))
        normal = targets != ANOMALY
        if held_out.any():
            # Held-out normal samples are new to the network: the threshold
            # then allows for how much farther out new samples fall.
            return auto_threshold(self._distances_to_normal(embeddings[held_out & normal]))
        if self.anomaly_score_ == "knn":
            # Each reference sample is left out of its own neighbours, as a new
            # sample would be.
            return auto_threshold(self._distances_to_normal(self.reference_embeddings_, skip_self=True))
        return auto_threshold(self._distances_to_normal(embeddings[normal]))

    def _distances_to_normal(self, embeddings, skip_self=False):
        """Squared distance of each embedding to the normal data, as ``anomaly_score_`` measures it."""
        if self.anomaly_score_ == "knn":
            return kth_neighbor_distances(
                embeddings, self.reference_embeddings_, self.n_neighbors, skip_self=skip_self
            )
        return nearest_center_distances(embeddings, self.centers_)


def _warn_if_collapsed(distances):
    """Warn when the normal training samples all lie at the same distance from the centres."""
    if np.ptp(distances) <= 1e-6 * max(1.0, distances.max()):
        warnings.warn(
            "All training samples are embedded at the same distance from the "
            "centres: the embedding collapsed and scores cannot rank samples. Use "
            "a bias-free encoder, fewer epochs, a lower lr or more weight_decay.",
            EmbeddingCollapseWarning,
        )


@contextmanager
def _all_or_nothing(estimator):
    """Run a fit that either completes or leaves ``estimator`` as it was.

    Fitted attributes (those ending in an underscore) are dropped first, so
    that none of a previous fit outlives a successful one; if the fit raises,
    every attribute is put back.
    """
    before = dict(vars(estimator))
    for name in [name for name in before if name.endswith("_") and not name.startswith("__")]:
        delattr(estimator, name)
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(before)
        raise


def _subsample(rows, max_rows, seed):
    """At most ``max_rows`` of ``rows``, drawn at random, in their original order."""
    if len(rows) <= max_rows:
        return rows
    keep = np.random.RandomState(seed).choice(len(rows), max_rows, replace=False)
    return rows[np.sort(keep)]


class _StratifiedHoldOut:
    """skorch ``train_split``: the samples ``_stratified_hold_out`` draws validate, the others train.

    The split is drawn again from the targets and the seed, so it pickles as
    two numbers: a saved model carries neither its validation set nor its
    indices. Each part keeps the samples' order.

    Parameters
    ----------
    fraction : float
    seed : int
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        held_out = _stratified_hold_out(np.asarray(y), self.fraction, np.random.RandomState(self.seed))
        return Subset(dataset, np.flatnonzero(~held_out)), Subset(dataset, np.flatnonzero(held_out))


def _stratified_hold_out(targets, fraction, rng):
    """Mask of ``floor(fraction * n)`` random samples of each target value.

    Rounding down keeps small classes whole: a class of fewer than
    ``1 / fraction`` samples, as in few-shot training, is never held out.
    """
    held_out = np.zeros(len(targets), dtype=bool)
    for value in np.unique(targets):
        members = np.flatnonzero(targets == value)
        held_out[rng.choice(members, int(fraction * len(members)), replace=False)] = True
    return held_out


def _positive_ints(values, name):
    """``values`` (an int or a flat sequence of ints) as a tuple of ints.

    Raises a ValueError that names the parameter otherwise.
    """
    sizes = tuple(values) if np.iterable(values) else (values,)
    if not all(isinstance(size, Integral) and not isinstance(size, bool) and size > 0 for size in sizes):
        raise ValueError(f"{name} must hold positive integers, got {values!r}.")
    return tuple(int(size) for size in sizes)


def _build_mlp(input_shape, embedding_dim, hidden_layer_sizes):
    kwargs = {} if hidden_layer_sizes is None else {"hidden_layer_sizes": hidden_layer_sizes}
    return MLPEncoder(input_shape=input_shape, embedding_dim=embedding_dim, **kwargs)


def _build_cnn(input_shape, embedding_dim, hidden_layer_sizes):
    kwargs = {} if hidden_layer_sizes is None else {"channels": hidden_layer_sizes}
    return CNNEncoder(input_shape=input_shape, embedding_dim=embedding_dim, **kwargs)


@torch.no_grad()
def _embedding_dim(encoder, X_sample):
    """Size of the encoder's output, from one forward pass in evaluation mode."""
    was_training = encoder.training
    embeddings = encoder.eval()(torch.from_numpy(np.ascontiguousarray(X_sample)))
    encoder.train(was_training)
    if embeddings.ndim != 2:
        raise ValueError(
            f"The encoder must return embeddings of shape (n_samples, dim), got "
            f"shape {tuple(embeddings.shape)}."
        )
    return embeddings.shape[1]


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return device


@contextmanager
def _torch_threads(n_jobs):
    """Let torch use ``n_jobs`` CPU threads (joblib's meaning), then restore its setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(effective_n_jobs(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch for the duration of a fit, then restore its global random state."""
    cuda_devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        # Only the generators in use are seeded, so that no other device's
        # random state changes.
        torch.default_generator.manual_seed(seed)
        for cuda_device in cuda_devices:
            with torch.cuda.device(cuda_device):
                torch.cuda.manual_seed(seed)
        yield
