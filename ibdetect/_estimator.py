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
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import Subset

from ._conformal import conformal_pvalues
from ._input_neighbors import mixed_neighbor_distances, typical_neighbor_distance
from ._labels import ANOMALY, INLIER, encode_labels
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

__all__ = ["EmbeddingCollapseWarning", "IBDeepDescription", "TrainingInterruptedWarning"]


# The k-NN scores keep at most this many normal training samples as
# references (a random subset of larger training sets), and search a rank
# among them scaled to their share (_reference_rank). Scoring time grows
# with the cap. Ranking quality did not on digit images: 1,000 to all 3,200
# MNIST references (as flat rows, "knn+input") gave the same ROC AUC to
# 0.001 (benchmarks/reference_size.py).
# It did on LetterRecognition, about 7,000 normal training rows, which
# ranked 0.011 (labelled classes) and 0.032 (5% contamination) lower with
# 1,000 than with all (docs/scaling.rst).
MAX_REFERENCE_SAMPLES = 1_000

# The embedding has collapsed when the inter-quartile range of the normal
# training samples' distances to the centres is below this fraction of their
# median. Healthy fits measure 0.5 to 1.2; a single feature value of 1e9 or
# more among values near 1 gives 4e-5 or less.
COLLAPSE_SPREAD = 1e-3

# validation_fraction="auto" holds out a tenth of each class, and more on
# small data, up to this share, so that at least MIN_CALIBRATION_SAMPLES
# normal samples calibrate the p-values and the threshold: the fewest whose
# smallest p-value, 1 / (19 + 1), reaches 0.05. On wine's 78 training rows a
# tenth held out 7 and p <= 0.05 flagged nothing; 30% cost 0.006 of ROC AUC
# (benchmarks/calibration.py).
MIN_CALIBRATION_SAMPLES = 19
AUTO_VALIDATION_FRACTION = 0.1
MAX_AUTO_VALIDATION_FRACTION = 0.3
# "auto" keeps classes of fewer samples whole, as a tenth does: few-shot
# training keeps every one of its labelled samples.
MIN_AUTO_HELD_OUT_CLASS = 10


class EmbeddingCollapseWarning(UserWarning):
    """The network maps most training samples to (almost) the same point."""


class TrainingInterruptedWarning(UserWarning):
    """Training stopped early on a keyboard interrupt; the fit used what was learned."""


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
    validation_fraction : "auto", float or None, default="auto"
        Fraction of each class held out from training (rounded down, so
        classes of fewer than ``1 / validation_fraction`` samples are kept
        whole). The network never trains on it: it reports a validation loss
        each epoch (e.g. for a skorch ``EarlyStopping`` callback),
        ``contamination="auto"`` sets the threshold on its normal samples, so
        that new normal samples are flagged at about the intended rate, and
        they calibrate :meth:`pvalues`. ``"auto"`` holds out a tenth, or on
        small data as much more as it takes (up to 30%) to hold out 19
        normal samples, the fewest whose smallest p-value reaches 0.05; it
        keeps classes of fewer than 10 samples whole. None trains on
        everything. When no class is large enough to lose a sample, as with
        a few labelled samples per class, nothing is held out and the
        threshold is set on the training samples.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks, e.g. ``EarlyStopping`` or ``LRScheduler``, as
        skorch takes them: instances, classes or ``(name, callback)`` pairs.
    anomaly_score : {"auto", "knn", "knn+input", "distance"}, default="auto"
        How far a sample lies from the normal data. ``"distance"``: the
        squared distance of its embedding to the nearest class centre.
        ``"knn"``: the squared distance to its ``n_neighbors``-th nearest
        training embedding, which follows the shape of each class rather than
        a sphere around its centre; the model then keeps the embeddings of up
        to 1,000 normal training samples. ``"knn+input"``: the geometric
        mean of that distance and of the squared distance of the sample's row
        to its ``n_neighbors``-th nearest training row in input space, each
        divided by its median over (up to 1,000 of) the training samples,
        each left out of its own neighbours, so that 1 is a typical training
        sample; the model then also keeps those training rows. It catches
        anomalies that the embedding maps among normal samples, at the cost
        of one more neighbour search; scale the features first, since input
        distances add them up in their own units. ``"auto"`` is
        ``"distance"`` when ``y`` holds known anomalies (``-1``), which training pushes away from the centres;
        otherwise ``"knn+input"`` for flat rows (``input_shape`` None or of
        one dimension, e.g. a table) and ``"knn"`` for shaped samples such
        as images.
    n_neighbors : int, default=5
        Neighbour rank used by ``anomaly_score="knn"`` and ``"knn+input"``,
        among the normal training samples. Where the reference keeps a random
        subset of them (beyond 1,000), the rank among the subset shrinks in
        proportion (``n_neighbors_``), so that the score measures about the
        ``n_neighbors``-th nearest training sample, or, where the subset is
        less than ``2 / n_neighbors`` of them, the 2nd nearest reference:
        about the ``n / 500``-th of ``n`` training samples.
    max_references : "auto", int or float, default="auto"
        How many normal training samples, drawn at random, the ``"knn"`` and
        ``"knn+input"`` scores keep as references, with the meaning of
        IsolationForest's ``max_samples``: an int keeps that many, a float in
        (0, 1] that fraction of the normal training samples, and ``"auto"``
        ``min(1000, n)`` of ``n``; all of them when it exceeds their number.
        More references detect better on large training sets and score more
        slowly, in proportion; the user guide's "Scaling up" page measures
        the trade.
    contamination : "auto" or float, default="auto"
        Sets ``offset_``, the threshold of ``predict``. A float in (0, 0.5] is
        the expected fraction of anomalies in the training data, and
        ``predict`` flags that fraction of the samples given to ``fit``, as
        scikit-learn's detectors do; the network has seen those samples, so
        it flags new normal samples much more often (39% of new normal digits
        at 0.05 in ``benchmarks/calibration.py``). To set the rate of false
        alarms on new data, flag ``pvalues(X) <= alpha`` instead. ``"auto"``
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
        available, else ``"cpu"``. The chosen one is ``device_``. A device
        this machine cannot use is an error before any training.
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
        Seeds weight initialisation and batch order. With an int, a refit on
        the same device with the same number of torch threads gives
        bit-identical results (another thread count changes the last digits).
        torch's global random state is left untouched.
    warm_start : bool, default=False
        When True and the detector is fitted, ``fit`` continues training its
        network (weights and centres, with a fresh optimiser) for
        ``max_epochs`` more epochs on the data it is given, then places the
        threshold and the k-NN reference anew; the training history goes on
        where it ended. The data must have the same features and classes, and
        the other parameters must build the same network. Each fit draws its
        held-out part anew unless ``random_state`` is an int and the data are
        the same rows: otherwise samples the network trained on before may be
        held out, and ``pvalues`` and the threshold then read as more normal
        than new samples would. When False, or before the first fit, ``fit``
        trains a new network.
    verbose : int, default=0
        0 prints nothing; 1 shows training progress: a bar over the epochs on
        a terminal, one plain line per epoch with the loss and its parts
        elsewhere.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Label of each centre: the known normal classes in ``y``, or ``[1]``
        when fitted without labels (``y=None`` or ``loss="svdd"``).
    normal_labels_ : ndarray of shape (n_labels,) or None
        The distinct labels of the normal samples in ``y`` (``classes_``,
        except with ``loss="svdd"``, whose one centre stands for all of
        them); None when fitted without labels. Scorers count a test label
        outside it as an anomaly.
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
        The anomaly score in use, ``"distance"``, ``"knn"`` or
        ``"knn+input"``: ``anomaly_score`` with ``"auto"`` resolved.
    reference_embeddings_ : ndarray of shape (n_reference, embedding_dim)
        Embeddings of (at most 1,000 of) the normal training samples, the
        neighbours of the ``"knn"`` and ``"knn+input"`` scores; only with
        those.
    reference_inputs_ : ndarray of float32 of shape (n_reference, n_features)
        The input rows of the same samples, row for row; only when
        ``anomaly_score_`` is ``"knn+input"``.
    n_neighbors_ : int
        The neighbour rank searched among the reference samples:
        ``n_neighbors`` times the reference's share of the normal training
        samples, rounded to the nearest integer (halves to even), at least 2
        unless ``n_neighbors`` is 1 (so that a reference sample, scored as
        training data, has a neighbour besides itself); ``n_neighbors``
        itself when every normal training sample is a reference. Only with
        the ``"knn"`` and ``"knn+input"`` scores.
    neighbor_scales_ : ndarray of shape (2,)
        The median squared distance of the reference samples to their
        ``n_neighbors_``-th nearest other reference sample, in the embedding
        and in input space: the divisors of the ``"knn+input"`` score; only
        with it.
    net_ : DeepDescriptionNet
        The fitted skorch net; its ``history`` holds the training curves.
    pretrain_history_ : skorch.History
        Reconstruction loss per epoch of the autoencoder pretraining; only when
        ``pretrain_epochs > 0``.
    device_ : str
        Device of the fitted network.
    threshold_ : float
        The distance (as ``anomaly_score_`` measures it) beyond which
        ``predict`` flags a sample: ``-offset_``.
    decision_scores_ : ndarray of shape (n_samples,)
        ``decision_function`` of each sample given to ``fit``, in the order of
        ``X``, held-out and known anomalies included: negative for anomalies,
        as in scikit-learn (PyOD's attribute of this name is the other way
        round, higher for anomalies). The network trained on most of these
        samples, so they score as more normal than new samples would. With a
        k-NN score, a training sample kept as a reference is among its own
        neighbours, and so scores as closer to the normal data than it is
        (with ``n_neighbors=1``, at distance 0). ``pvalues`` and the
        threshold set on held-out samples do not read these scores.
    labels_ : ndarray of shape (n_samples,)
        ``predict`` of each sample given to ``fit``, in the order of ``X``:
        -1 for anomalies, +1 for normal samples (PyOD uses 1 and 0).
    calibration_scores_ : ndarray of shape (n_calibration,)
        Distances, as ``anomaly_score_`` measures them and sorted, of the
        normal samples held out by ``validation_fraction``, which the network
        never trained on: the reference of ``pvalues`` and
        ``predict_proba``. Only when some were held out.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based unsupervised detector.
    sklearn.neighbors.LocalOutlierFactor : Density-based detector.

    Notes
    -----
    With one class the IB loss is exactly Deep SVDD's; divided by
    ``beta - 1`` it is Deep-MCDD's with ``mcdd_lambda = 1 / (beta - 1)``.

    :func:`ibdetect.persistence.save` writes a fitted detector to a file that
    :func:`ibdetect.persistence.load` reads without running code from it.
    ``joblib.dump`` works too, but loading a pickle runs code that the file
    chooses: load only pickles you trust.

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
        "validation_fraction": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "anomaly_score": [StrOptions({"auto", "distance", "knn", "knn+input"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "max_references": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left"), Interval(RealNotInt, 0, 1, closed="right")],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "device": [str],
        "accelerator": [HasMethods(["prepare", "backward"]), None],
        # joblib's meaning: 1, 2, ... threads, or -1 for all processors, -2 for all but one, ...
        "n_jobs": [Interval(Integral, 1, None, closed="left"), Interval(Integral, None, -1, closed="right"), None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
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
        validation_fraction="auto",
        callbacks=None,
        anomaly_score="auto",
        n_neighbors=5,
        max_references="auto",
        contamination="auto",
        device="auto",
        accelerator=None,
        n_jobs=None,
        random_state=None,
        warm_start=False,
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
        self.max_references = max_references
        self.contamination = contamination
        self.device = device
        self.accelerator = accelerator
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the encoder and centres on normal data.

        A fit that raises leaves the detector as it was: a fitted detector
        keeps its previous model, an unfitted one stays unfitted. A keyboard
        interrupt (Ctrl-C) during training stops it early: the fit then
        completes on what the network learned and warns with
        :class:`TrainingInterruptedWarning`. With ``warm_start=True``, a
        fitted detector trains on from where its network stopped.

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
        # What a warm start continues from: taken before the fit drops it, and
        # only read, so that a fit that fails leaves it intact.
        previous = copy.copy(self) if self.warm_start and hasattr(self, "net_") else None
        with _all_or_nothing(self), _torch_threads(self.n_jobs):
            return self._fit(X, y, previous)

    def _fit(self, X, y, previous=None):
        # Data checks first: nothing here needs a trained network.
        X, targets = self._validate_training_data(X, y)
        input_shape = self._check_input_shape()
        self._check_priors()
        _check_callbacks(self.callbacks)
        device = _resolve_device(self.device) if self.accelerator is None else str(self.accelerator.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        anomaly_score = self._resolve_anomaly_score(targets, input_shape)
        # Samples are picked by index, never copied: X may be larger than memory.
        held_out = self._hold_out(targets, seed)
        train = np.flatnonzero(~held_out)
        self._check_n_neighbors(anomaly_score, targets[train])

        normal_train = train[targets[train] != ANOMALY]
        with _seeded_torch(seed, device):
            encoder = self._build_encoder(input_shape)
            if self.pretrain_epochs and previous is None:
                self.pretrain_history_ = self._pretrain(encoder, Subset(_TensorDataset(X), normal_train), device)
            # The net validates on the held-out samples, which it draws again.
            split = _StratifiedHoldOut(self.validation_fraction, seed) if held_out.any() else None
            self.net_ = self._build_net(encoder, X, targets[train], split, device)
            self._train(X, targets, previous)
        self.centers_ = self.net_.module_.centers.detach().cpu().numpy().astype(np.float64)
        self.anomaly_score_ = anomaly_score

        # The only pass of the trained encoder over the training data: the
        # collapse check, the k-NN reference and the threshold all read it.
        embeddings = self.net_.embed(X)
        _warn_if_collapsed(nearest_center_distances(embeddings[normal_train], self.centers_))
        if anomaly_score != "distance":
            reference = _subsample(normal_train, self._n_references(len(normal_train)), seed)
            self.reference_embeddings_ = embeddings[reference]
            self.n_neighbors_ = _reference_rank(self.n_neighbors, len(reference), len(normal_train))
        if anomaly_score == "knn+input":
            self._fit_input_reference(X[reference])
        distances = self._distances_to_normal(embeddings, X)
        self.offset_ = -self._fit_threshold(distances, targets, held_out)
        self._score_fit_data(distances, targets, held_out)
        return self

    def score_samples(self, X):
        """Normality of each sample: minus its squared distance to the normal data.

        The distance is to the nearest class centre, or to the
        ``n_neighbors``-th nearest training embedding with
        ``anomaly_score="knn"``, or that combined with the distance to the
        ``n_neighbors``-th nearest training row with ``"knn+input"``. A
        sample so far out that the network's float32 arithmetic overflows
        gets the lowest score a float64 holds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal; always finite.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        with _torch_threads(self.n_jobs):
            distances = self._distances_to_normal(self.net_.embed(X), X)
        # An overflowed embedding gives an infinite or NaN distance; NaN would
        # compare as normal in predict, so both become the farthest distance.
        farthest = np.finfo(np.float64).max
        return -np.nan_to_num(distances, nan=farthest, posinf=farthest)

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
        return _outlier_labels(self.decision_function(X))

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

    def pvalues(self, X):
        """Conformal p-value of each sample against the held-out normal samples.

        The p-value is the share of the held-out normal samples
        (``calibration_scores_``) lying at least as far from the normal data
        as the sample: ``(1 + #{at least as far}) / (1 + n_calibration)``.
        Flagging the samples with ``pvalues(X) <= alpha`` flags at most a
        fraction ``alpha`` of new normal samples, on average over fits, when
        new normal samples are exchangeable with the training data (drawn
        from the same distribution, independently). The user guide's
        "Calibrated false alarms" section says how much a single fit can
        deviate, and how the number of held-out samples limits ``alpha``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        pvalues : ndarray of shape (n_samples,)
            In ``(0, 1]``; small for anomalies. The smallest possible value is
            ``1 / (n_calibration + 1)``.

        Raises
        ------
        ValueError
            When ``fit`` held out no normal sample (``validation_fraction=None``,
            or classes too small to lose one): the guarantee needs samples the
            network never trained on.

        Examples
        --------
        >>> import numpy as np
        >>> from ibdetect import IBDeepDescription
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(0, 1, (400, 4))
        >>> detector = IBDeepDescription(max_epochs=5, random_state=0).fit(X)
        >>> len(detector.calibration_scores_)
        40

        A sample farther out than all 40 gets the smallest p-value, 1/41:

        >>> detector.pvalues([[9, -9, 9, -9]]) * 41
        array([1.])
        """
        check_is_fitted(self)
        self._check_calibrated()
        return conformal_pvalues(self.calibration_scores_, -self.score_samples(X))

    @available_if(lambda detector: detector._can_calibrate())
    def predict_proba(self, X):
        """Probability-like anomaly degree of each sample, from its p-value.

        Columns ``[normal, anomaly]``, as PyOD orders them: ``pvalues(X)`` and
        ``1 - pvalues(X)``. The anomaly column is the share of held-out normal
        samples that lie closer to the normal data than the sample, a rank
        among normal samples. It is **not** the posterior probability that
        the sample is an anomaly, which would depend on how common anomalies
        are and what they look like, neither of which the model knows.
        Available only when ``fit`` held out normal samples, as for
        :meth:`pvalues`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Each row sums to 1.
        """
        pvalues = self.pvalues(X)
        return np.column_stack([pvalues, 1.0 - pvalues])

    @property
    def threshold_(self):
        """Distance, as ``anomaly_score_`` measures it, beyond which ``predict`` flags a sample.

        It is ``-offset_``: ``score_samples`` is minus this distance.
        """
        check_is_fitted(self)
        return -self.offset_

    @property
    def labels_(self):
        """``predict`` of each sample given to ``fit``, in their order: -1 for anomalies, +1 otherwise."""
        check_is_fitted(self)
        return _outlier_labels(self.decision_scores_)

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
            self.normal_labels_ = None
            return X, np.zeros(len(X), dtype=np.int64)
        X, y = validate_data(self, X, y, dtype=np.float32, ensure_min_samples=2)
        y = column_or_1d(y)
        self.classes_, targets = encode_labels(y, one_class=self.loss == "svdd")
        # With one centre for every label, classes_ no longer says which
        # labels were normal in training; scorers need to know.
        self.normal_labels_ = self.classes_ if self.loss != "svdd" else np.unique(y[targets != ANOMALY])
        return X, targets

    def _resolve_anomaly_score(self, targets, input_shape):
        if self.anomaly_score != "auto":
            return self.anomaly_score
        # The known-anomaly term acts on the distances to the centres, which
        # the "distance" score reads directly; "knn" gains much less from it.
        if np.any(targets == ANOMALY):
            return "distance"
        # On flat rows the neighbours in input space add what the embedding
        # dropped (measured on tables, and on digit images given as flat
        # rows to the MLP). Shaped samples, the CNN's input, keep the
        # embedding alone, as measured on the image benchmark.
        return "knn+input" if len(input_shape) == 1 else "knn"

    def _check_n_neighbors(self, anomaly_score, train_targets):
        # Each normal training sample may have to leave itself out of its neighbours.
        n_normal = int(np.sum(train_targets != ANOMALY))
        if anomaly_score != "distance" and n_normal <= self.n_neighbors:
            raise ValueError(
                f"anomaly_score={anomaly_score!r} with n_neighbors={self.n_neighbors} needs more than "
                f"{self.n_neighbors} normal training samples as neighbours, got {n_normal}; lower "
                "n_neighbors or use anomaly_score='distance'."
            )

    def _n_references(self, n_normal):
        """How many of ``n_normal`` normal training samples ``max_references`` keeps as k-NN references."""
        if self.max_references == "auto":
            return min(MAX_REFERENCE_SAMPLES, n_normal)
        if isinstance(self.max_references, Integral):
            return min(self.max_references, n_normal)
        n_references = int(self.max_references * n_normal)
        if n_references < 2:
            raise ValueError(
                f"max_references={self.max_references} keeps {n_references} of the {n_normal} normal "
                "training samples, and the k-NN scores need at least 2; raise it or pass an int."
            )
        return n_references

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
        autoencoder.fit(X_normal)
        if autoencoder.training_interrupted_:
            # Nothing of the description is trained yet: stop the whole fit.
            raise KeyboardInterrupt
        return autoencoder.history

    def _train(self, X, targets, previous):
        """Train ``net_``, from scratch or on from the network of ``previous``.

        On a keyboard interrupt, keep what the network learned and warn. An
        interrupt before the centres were placed leaves nothing to keep: it
        then propagates and the fit changes nothing.
        """
        epochs_before = 0
        if previous is None:
            self.net_.fit(X, targets)
        else:
            self._continue_from(previous)
            epochs_before = len(self.net_.history)
            self.net_.partial_fit(X, targets)
        if not self.net_.training_interrupted_:
            return
        if not self.net_.module_.centers_initialized:
            raise KeyboardInterrupt
        warnings.warn(
            f"Training was interrupted in epoch {len(self.net_.history) - epochs_before} of {self.max_epochs}; "
            "the detector is fitted on what the network learned until then. Fit again "
            "with warm_start=True to train on.",
            TrainingInterruptedWarning,
        )

    def _hold_out(self, targets, seed):
        """Mask of the held-out samples: ``validation_fraction`` of each class and of the known anomalies.

        Nothing is held out when no normal sample would be.
        """
        held_out = _held_out_mask(targets, self.validation_fraction, seed)
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

    def _initialized_net(self, device):
        """A net built as ``fit`` builds it for the fitted attributes, initialised but untrained.

        Only ``n_features_in_`` and ``classes_`` (with the parameters) shape
        it; trained weights are loaded into it afterwards. torch's global
        random state is left as it was.
        """
        n_classes = len(self.classes_)
        # One row per class: the criterion's class priors come out uniform,
        # to be replaced with the trained state like every weight.
        rows = np.zeros((n_classes, self.n_features_in_), dtype=np.float32)
        with _seeded_torch(0, device):
            encoder = self._build_encoder(self._check_input_shape())
            net = self._build_net(encoder, rows, np.arange(n_classes), None, device)
            return net.initialize()

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

    def _continue_from(self, previous):
        """Initialise ``net_`` with the weights, centres and history of ``previous``, an earlier fit."""
        if previous.n_features_in_ != self.n_features_in_ or not np.array_equal(previous.classes_, self.classes_):
            raise ValueError(
                f"warm_start=True continues the previous fit, which had {previous.n_features_in_} "
                f"features and classes {previous.classes_.tolist()}; this data has "
                f"{self.n_features_in_} and {self.classes_.tolist()}. Set warm_start=False to start over."
            )
        self.net_.initialize()
        try:
            self.net_.module_.load_state_dict(previous.net_.module_.state_dict())
        except RuntimeError as exc:
            # torch lists each mismatch on a line of its own after a heading.
            mismatch = str(exc).strip().splitlines()[-1].strip().rstrip(".")
            raise ValueError(
                "warm_start=True continues the previous network, but the parameters now build a "
                f"different one ({mismatch}). Set warm_start=False to start over."
            ) from None
        self.net_.history = copy.deepcopy(previous.net_.history)
        if hasattr(previous, "pretrain_history_"):
            self.pretrain_history_ = previous.pretrain_history_

    def _criterion_params(self, targets):
        common = {"criterion__anomaly_weight": self.anomaly_weight}
        if self.loss == "svdd":
            return {"criterion": DeepSVDDLoss, **common}
        common["criterion__priors"] = self._class_priors(targets)
        if self.loss == "mcdd":
            return {"criterion": DeepMCDDLoss, "criterion__lambda_": self.mcdd_lambda, **common}
        return {"criterion": IBLoss, "criterion__beta": self.beta, "criterion__margin": self.margin, **common}

    def _class_priors(self, targets):
        priors = self._check_priors()
        if priors is None:
            counts = np.bincount(targets[targets != ANOMALY], minlength=len(self.classes_))
            return counts / counts.sum()
        return priors

    def _check_priors(self):
        """``priors`` as an array of one positive value per class; None when unset or unused."""
        if self.priors is None or self.loss == "svdd":
            return None
        try:
            priors = np.asarray(self.priors, dtype=np.float64)
        except (TypeError, ValueError):
            priors = None
        if priors is None or priors.shape != self.classes_.shape or not np.all(np.isfinite(priors) & (priors > 0)):
            raise ValueError(
                f"priors must hold {len(self.classes_)} positive, finite values, one per "
                f"class in classes_, got {self.priors!r}."
            )
        return priors

    def _fit_threshold(self, distances, targets, held_out):
        """The distance beyond which ``predict`` flags a sample.

        ``distances`` and ``targets`` are those of every sample ``fit`` got;
        ``held_out`` marks those the network did not train on.
        """
        if self.contamination != "auto":
            # The fraction of the training data to flag, as scikit-learn defines it.
            return np.percentile(distances, 100.0 * (1.0 - self.contamination))
        normal = targets != ANOMALY
        if held_out.any():
            # Held-out normal samples are new to the network: the threshold
            # then allows for how much farther out new samples fall.
            return auto_threshold(distances[held_out & normal])
        if self.anomaly_score_ != "distance":
            # Each reference sample is left out of its own neighbours, as a new
            # sample would be.
            inputs = getattr(self, "reference_inputs_", None)
            return auto_threshold(self._distances_to_normal(self.reference_embeddings_, inputs, skip_self=True))
        return auto_threshold(distances[normal])

    def _score_fit_data(self, distances, targets, held_out):
        """Set ``decision_scores_`` and, when samples were held out, ``calibration_scores_``.

        ``distances`` and ``targets`` are those of every sample ``fit`` got,
        in their order; ``held_out`` marks those the network did not train on.
        """
        self.decision_scores_ = -distances - self.offset_
        held_out_normal = distances[held_out & (targets != ANOMALY)]
        if len(held_out_normal):
            self.calibration_scores_ = np.sort(held_out_normal)

    def _can_calibrate(self):
        """Whether ``predict_proba`` is available: not yet fitted (so that it
        raises ``NotFittedError``), or fitted with a calibration set.

        ``hasattr(detector, "predict_proba")`` is then False for a detector
        without one, as scikit-learn's tools expect; the AttributeError that
        calling it raises carries the reason as its cause.
        """
        if hasattr(self, "offset_") and not hasattr(self, "calibration_scores_"):
            raise AttributeError(self._uncalibrated_message())
        return True

    def _check_calibrated(self):
        if not hasattr(self, "calibration_scores_"):
            raise ValueError(self._uncalibrated_message())

    def _uncalibrated_message(self):
        return (
            "P-values need normal samples held out of training, and this fit held "
            f"out none (validation_fraction={self.validation_fraction!r}; a "
            "fraction holds out nothing of a class smaller than 1 / fraction, "
            f"and 'auto' nothing of a class of fewer than {MIN_AUTO_HELD_OUT_CLASS} samples). "
            "Refit with a validation_fraction that holds out samples, e.g. 0.2: "
            "samples the network trained on would make every p-value too large."
        )

    def _fit_input_reference(self, reference_inputs):
        """Keep the input rows of the k-NN reference and the typical distance in each space."""
        self.reference_inputs_ = np.asarray(reference_inputs, dtype=np.float32)
        self.neighbor_scales_ = np.array([
            typical_neighbor_distance(reference, self.n_neighbors_)
            for reference in (self.reference_embeddings_, self.reference_inputs_)
        ])

    def _distances_to_normal(self, embeddings, X=None, skip_self=False):
        """Squared distance of each sample to the normal data, as ``anomaly_score_`` measures it.

        ``X`` holds the samples' input rows, which only ``"knn+input"``
        reads; ``skip_self`` says that the samples are the reference itself.
        """
        if self.anomaly_score_ == "knn+input":
            return mixed_neighbor_distances(
                (embeddings, X),
                (self.reference_embeddings_, self.reference_inputs_),
                self.neighbor_scales_,
                self.n_neighbors_,
                skip_self=skip_self,
            )
        if self.anomaly_score_ == "knn":
            return kth_neighbor_distances(
                embeddings, self.reference_embeddings_, self.n_neighbors_, skip_self=skip_self
            )
        return nearest_center_distances(embeddings, self.centers_)


def _outlier_labels(decision):
    """scikit-learn's outlier labels: -1 where ``decision`` is negative, +1 elsewhere."""
    return np.where(decision < 0, -1, 1)


def _warn_if_collapsed(distances):
    """Warn when most normal training samples lie at the same distance from the centres.

    The spread of the bulk (the inter-quartile range) is what counts: a few
    samples far out cannot hide the collapse of all the others, which is
    what one extreme feature value does through batch normalisation.
    """
    q1, median, q3 = np.percentile(distances, [25, 50, 75])
    if q3 - q1 <= COLLAPSE_SPREAD * median:
        warnings.warn(
            "Most training samples are embedded at the same distance from the "
            "centres: the embedding collapsed and scores cannot rank samples. A "
            "few extreme feature values can cause this: scale the features "
            "robustly or clip them. Otherwise use a bias-free encoder, fewer "
            "epochs, a lower lr or more weight_decay.",
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


def _check_callbacks(callbacks):
    """Raise a TypeError naming ``callbacks`` unless skorch would take each of them."""
    for item in callbacks or []:
        # A callback, its class, or a (name, callback) pair, which skorch
        # skips when the callback is None.
        named = isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
        callback = item[1] if named else item
        if named and callback is None:
            continue
        if not (isinstance(callback, Callback) or (isinstance(callback, type) and issubclass(callback, Callback))):
            raise TypeError(
                "callbacks must hold skorch callbacks (instances or subclasses of "
                f"skorch.callbacks.Callback) or (name, callback) pairs, got {item!r}."
            )


def _subsample(rows, max_rows, seed):
    """At most ``max_rows`` of ``rows``, drawn at random, in their original order."""
    if len(rows) <= max_rows:
        return rows
    keep = np.random.RandomState(seed).choice(len(rows), max_rows, replace=False)
    return rows[np.sort(keep)]


def _reference_rank(n_neighbors, n_reference, n_normal):
    """The rank among ``n_reference`` random normal samples that stands for ``n_neighbors`` among ``n_normal``.

    A random subset holding a share ``f`` of the samples holds about ``f k``
    of anyone's ``k`` nearest, so its ``f k``-th nearest lies about as far as
    the ``k``-th of all. Keeping ``k`` instead would measure the ``k / f``-th:
    with 1,000 of 7,000 LetterRecognition rows, the 35th nearest, which
    ranked unseen letters 0.006 to 0.036 ROC AUC lower.

    The rank never drops below 2 (unless ``n_neighbors`` is 1): the training
    data's own scores (``decision_scores_``, ``labels_``, the threshold of a
    float ``contamination``) count each reference sample among its own
    neighbours, and at rank 1 it would lie at distance 0, so that an anomaly
    of the training data drawn into the reference would never be flagged.
    At most ``n_reference - 1``, so that a reference sample can leave itself
    out.
    """
    scaled = max(min(2, n_neighbors), round(n_neighbors * n_reference / n_normal))
    return min(scaled, n_reference - 1)


class _StratifiedHoldOut:
    """skorch ``train_split``: the samples ``_held_out_mask`` draws validate, the others train.

    The split is drawn again from the targets and the seed, so it pickles as
    two small values: a saved model carries neither its validation set nor
    its indices. Each part keeps the samples' order. (The class and its
    attribute names are those of version 0.2.0, whose pickles hold them.)

    Parameters
    ----------
    fraction : float or "auto"
        The estimator's ``validation_fraction``.
    seed : int
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        held_out = _held_out_mask(np.asarray(y), self.fraction, self.seed)
        return Subset(dataset, np.flatnonzero(~held_out)), Subset(dataset, np.flatnonzero(held_out))


def _held_out_mask(targets, validation_fraction, seed):
    """Mask of the samples that ``validation_fraction`` (a float, "auto" or None) holds out."""
    if validation_fraction is None:
        return np.zeros(len(targets), dtype=bool)
    min_class_size = 1
    if validation_fraction == "auto":
        validation_fraction = _auto_validation_fraction(targets)
        min_class_size = MIN_AUTO_HELD_OUT_CLASS
    return _stratified_hold_out(targets, validation_fraction, np.random.RandomState(seed), min_class_size)


def _auto_validation_fraction(targets):
    """A tenth, or the smallest larger share (up to ``MAX_AUTO_VALIDATION_FRACTION``) that holds out
    ``MIN_CALIBRATION_SAMPLES`` normal samples from the classes large enough to lose some."""
    values, counts = np.unique(targets, return_counts=True)
    sizes = counts[(values != ANOMALY) & (counts >= MIN_AUTO_HELD_OUT_CLASS)]
    if not len(sizes):
        return AUTO_VALIDATION_FRACTION
    # Rounding down loses less than one sample per class: one more each
    # makes up for it.
    needed = (MIN_CALIBRATION_SAMPLES + len(sizes)) / sizes.sum()
    return min(MAX_AUTO_VALIDATION_FRACTION, max(AUTO_VALIDATION_FRACTION, needed))


def _stratified_hold_out(targets, fraction, rng, min_class_size=1):
    """Mask of ``floor(fraction * n)`` random samples of each target value of ``n >= min_class_size`` samples.

    Rounding down keeps small classes whole: a class of fewer than
    ``1 / fraction`` samples, as in few-shot training, is never held out.
    """
    held_out = np.zeros(len(targets), dtype=bool)
    for value in np.unique(targets):
        members = np.flatnonzero(targets == value)
        if len(members) >= min_class_size:
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
    try:
        embeddings = encoder.eval()(torch.from_numpy(np.ascontiguousarray(X_sample)))
    except RuntimeError as exc:
        # Most often a first layer sized for another number of features.
        raise ValueError(
            f"The encoder cannot embed a batch of shape {tuple(X_sample.shape)}: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from None
    finally:
        encoder.train(was_training)
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ValueError(f"The encoder must return embeddings of shape (n_samples, dim), got {shape}.")
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
    try:
        torch.ones(1, device=resolved).sum().item()
    except Exception as exc:
        # A device torch names but cannot use here fails in many ways
        # (RuntimeError, AssertionError, ...), each deep inside training.
        raise ValueError(
            f"device={device!r} cannot be used here ({str(exc).strip().splitlines()[0]}); use 'auto' or 'cpu'."
        ) from None
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
