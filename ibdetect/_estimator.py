"""The scikit-learn estimator: multi-class deep data description with the IB loss.

The estimator keeps scikit-learn's face and the order of the steps of
``fit``; each step's work lives in the module of its concern: ``_training``
(encoder, loss and skorch net), ``_anomaly_score`` (what a sample's distance
to the normal data is, and the reference it is measured against),
``_calibration`` (held-out samples, threshold, p-values) and ``_runtime``
(device, threads, seeding, all-or-nothing).
"""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _anomaly_score, _calibration, _streaming, _training
from ._anomaly_score import finite_distances, score_rows
from ._calibration import StratifiedHoldOut
from ._checks import validated_rows
from ._compatibility import upgraded_pickle_state
from ._distances import center_distances
from ._explanation import explain
from ._fitted import OPTIONAL, FittedAttribute
from ._labels import ANOMALY, LabelledOutlierMixin, outlier_labels
from ._runtime import PRECISIONS, all_or_nothing, check_precision, resolve_device, torch_threads
# Imported from here before ibdetect.exceptions held them: they stay importable.
from .exceptions import EmbeddingCollapseWarning, TrainingInterruptedWarning  # noqa: F401

__all__ = ["FITTED_STATE", "IBDeepDescription"]

# The name of the class in version 0.2.0, whose pickles hold it.
_StratifiedHoldOut = StratifiedHoldOut

#: What the data checks of ``fit`` set.
DATA_STATE = (
    FittedAttribute("n_features_in_", "int"),
    FittedAttribute("feature_names_in_", "names", when=OPTIONAL),
    FittedAttribute("classes_", "labels"),
    FittedAttribute("normal_labels_", "labels", nullable=True),
)

#: Everything a fitted detector holds, in the order ``fit`` sets it: what
#: model files write, read and check.
FITTED_STATE = (
    DATA_STATE + _training.FITTED_STATE + _anomaly_score.FITTED_STATE + _calibration.FITTED_STATE
    + _streaming.FITTED_STATE
)


class IBDeepDescription(ClassNamePrefixFeaturesOutMixin, TransformerMixin, LabelledOutlierMixin, BaseEstimator):
    """Anomaly detector that describes each known normal class by a compact region.

    A neural encoder maps samples to an embedding where every known normal
    class has a centre. Training with the Information Bottleneck (IB) loss
    pulls each sample to its own centre (compactness) and, through a softmax
    over the distances to all centres, away from the others (separation). A
    sample that lands far from these regions, such as one of a class never
    seen in training, is an anomaly. Read more in the :doc:`/user_guide`.

    Parameters
    ----------
    encoder : {"auto", "mlp", "cnn"}, callable or torch.nn.Module, default="auto"
        ``"mlp"`` (fully connected), ``"cnn"`` (LeNet-type; needs
        ``input_shape``) or ``"auto"``: ``"cnn"`` for a 3-D ``input_shape``, ``"mlp"`` otherwise.

        Or a callable called as ``encoder(input_shape=..., embedding_dim=...)``,
        or a module instance, copied in ``fit``.
    hidden_layer_sizes : tuple of int, default=None
        Hidden widths of ``"mlp"`` (None: ``(256, 128)``) or channels of the
        blocks of ``"cnn"`` (None: ``(32, 64)``; ``(16, 32)`` with ``transformations``).
    embedding_dim : int, default=32
        Size of the embedding. Ignored for a module instance.
    input_shape : tuple of int, default=None
        Shape of one sample, e.g. ``(1, 28, 28)``: rows of ``X``, which stays
        2-D, are reshaped to it for the encoder. None means ``(n_features,)``.
    loss : {"ib", "mcdd", "svdd"}, default="ib"
        ``"ib"``: ``d_y/(2 s^2) + (beta - 1) CE``; ``"mcdd"``: Deep-MCDD's
        ``mcdd_lambda * d_y/(2 s^2) + CE``; ``"svdd"``: one-class Deep SVDD
        with one fixed centre, class labels ignored.
    beta : float, default=4.0
        IB trade-off, > 1: the weight of separation against compactness
        (``"ib"``). ``beta=2`` is Deep-MCDD with ``mcdd_lambda=1``.
    margin : float, default=0.0
        Squared distance by which a sample's own centre must win (``"ib"``); keep it well below the
        squared distances between the centres, ``centers_`` (user guide).
    mcdd_lambda : float, default=1.0
        Weight of the compactness term of ``"mcdd"``.
    anomaly_weight : float, default=1.0
        Weight of the term pushing known anomalies (``-1``) from all centres.
    priors : array-like of shape (n_classes,), default=None
        Prior of each class (order of ``classes_``); None: frequencies in ``y``.
    max_epochs : int, default=50
        Passes over the training data.
    pretrain_epochs : int, default=0
        Epochs of autoencoder pretraining before the centres are placed (Deep
        SVDD's); needs an encoder with a ``decoder()`` method.
    batch_size : int or "auto", default="auto"
        Samples per training step (2 or more), each in all its views (not per
        inference block): "auto" is 128, or 32 with views of images.
    lr : float, default=1e-3
        Learning rate of the Adam optimiser.
    weight_decay : float, default=1e-5
        L2 penalty on the encoder's weights (not on the centres).
    validation_fraction : "auto", float or None, default="auto"
        Share of each class held out of training, rounded down (in
        ``partial_fit``'s later batches, at random in proportion, normal
        classes only, ``"auto"`` a tenth once 19 are held out): it reports a validation loss, sets the threshold of
        ``contamination="auto"`` and calibrates :meth:`pvalues`. ``"auto"``
        holds out more of small data, so that enough calibrate (the user
        guide's rule); None trains on all.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (``EarlyStopping``, ...): instances, classes or ``(name, callback)`` pairs.
    transformations : {"auto", "none", "rotations", "rotations+flips", "affine"}, default="auto"
        Fixed views of each sample, each view of each class a class of its
        own for the loss: classes to separate for one normal class or no
        labels. ``"rotations"``: the quarter turns of a square image (set
        ``input_shape``); ``"rotations+flips"``: and their mirror images;
        ``"affine"``: the row and 7 fixed random affine maps of it. An
        embedding is its views' side by side. ``"auto"``: ``"rotations"``
        for one normal class of square images, else ``"none"`` (:ref:`views`).
    anomaly_score : {"auto", "knn", "knn+input", "knn+density", "distance"}, default="auto"
        How far a sample lies from the normal data, squared: ``"distance"``
        to the nearest centre; ``"knn"`` to the ``n_neighbors``-th nearest
        reference embedding; ``"knn+input"`` the geometric mean of that and
        the same among the reference's input rows, each over its median
        (scale the features first); ``"knn+density"`` the input distance, each
        feature in units of its spread, over its nearest references' own (as
        LocalOutlierFactor). ``"auto"``: ``"distance"`` with known anomalies
        in ``y``, else ``"knn+density"`` on images, ``"knn+input"`` on rows.
    n_neighbors : int, default=5
        Neighbour rank of the k-NN scores among all normal training samples;
        among a reference subset the rank shrinks in proportion (``n_neighbors_``).
    max_references : "auto", int or float, default="auto"
        Normal training samples kept at random as k-NN references, as
        IsolationForest's ``max_samples``: an int that many (2 or more), a
        float in (0, 1] that share, ``"auto"`` up to 1,000 on rows and 4,000 on images
        (:doc:`/scaling` measures the trade).
    contamination : "auto" or float, default="auto"
        Sets ``offset_``. A float in (0, 0.5] flags that share of the samples
        given to ``fit``, as scikit-learn defines it; new normal samples
        score farther out than those training saw, and are flagged more
        often (at 0.05, 8% to 68% of them on the tables of the user guide's
        "false alarms"; ``fit`` warns when its held-out samples show it).
        ``"auto"`` puts Tukey's fence on the log distances
        of held-out normal samples. For a rate of false alarms on new data,
        flag ``pvalues(X) <= alpha``.
    device : str, default="auto"
        Torch device; ``"auto"`` is ``"cuda"`` when available. A device this
        machine cannot use is an error before any training.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Precision of the encoder in training (``torch.autocast``; weights,
        centres, loss and scoring stay float32). ``"auto"``: bfloat16 for the
        built-in CNN on CPUs that compute it natively (AMX or AVX512-BF16),
        1.3 to 1.7 times as fast on 28x28 images; float32 elsewhere.
    accelerator : accelerate.Accelerator, default=None
        Train through Hugging Face accelerate (several GPUs, mixed
        precision); it overrides ``device``.
    n_jobs : int, default=None
        CPU threads of torch: None is 1 (or ``joblib.parallel_config``'s), -1 all.
    random_state : int, RandomState instance or None, default=None
        Seeds weights and batch order (not torch's global state): an int
        refits identically on the same device and thread count.
    warm_start : bool, default=False
        When True and fitted, ``fit`` trains ``max_epochs`` more epochs (same
        features and classes), then places threshold and reference anew.
    verbose : int, default=0
        1 shows training progress: a bar on a terminal, else a line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Label of each centre: the known normal classes, or ``[1]`` without
        labels (``y=None`` or ``loss="svdd"``).
    normal_labels_ : ndarray or None
        The normal labels seen in ``y`` (scorers count others as anomalies);
        None when fitted without labels.
    centers_ : ndarray of shape (n_classes, n_views * embedding_dim)
        The class centres in the embedding (of a class's views side by side).
    transformations_ : str
        ``transformations`` with ``"auto"`` resolved.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    threshold_ : float
        ``-offset_``: the distance beyond which ``predict`` flags a sample.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names, when ``X`` has string column names.
    anomaly_score_ : str
        ``anomaly_score`` with ``"auto"`` resolved.
    reference_embeddings_, reference_inputs_ : ndarray of shape (n_reference, ...)
        With the k-NN scores: the reference samples' embeddings (with views of images,
        each view scaled to length 1, times ``embedding_whitening_``), and their input rows.
    embedding_whitening_ : ndarray of shape (n_views * embedding_dim, n_views * embedding_dim)
        With views of images and a k-NN score: whitens the references' unit views.
    n_neighbors_ : int
        With the k-NN scores: the rank searched among the references,
        ``n_neighbors`` times their share of the normal training samples, at
        least ``min(2, n_neighbors)``.
    neighbor_scales_ : ndarray of shape (2,)
        With the k-NN scores: the median reference distance (``"knn+density"``:
        ratio) per space, the divisors.
    input_scales_, reference_radii_ : ndarray of shape (n_features,), (n_reference,)
        With ``"knn+density"``: each feature's unit (its spread among the
        references, shrunk toward the mean), and each reference row's squared
        distance in them to its ``n_neighbors_``-th nearest other (>= 1e-3 median).
    net_ : DeepDescriptionNet
        The fitted skorch net; ``net_.history`` holds the training curves.
    pretrain_history_ : skorch.History
        Pretraining loss per epoch, when ``pretrain_epochs > 0``.
    device_, precision_ : str
        Device of the fitted network, e.g. ``"cpu"``; the precision it trained in, ``precision``
        resolved (absent from models saved before it was kept, in files or pickles).
    decision_scores_ : ndarray of shape (n_samples,)
        ``decision_function`` of each sample given to ``fit`` (negative for
        anomalies, unlike PyOD's), most of them trained on: more normal-looking than new ones.
    labels_ : ndarray of shape (n_samples,)
        ``predict`` of each sample given to ``fit``: -1 or +1.
    n_samples_seen_, n_calibration_seen_ : int
        Normal training rows, and held-out normal rows, of every batch seen.
    class_counts_ : ndarray of shape (n_classes,)
        Normal training rows seen per class; they set the class priors.
    replay_inputs_, replay_targets_ : ndarray
        A uniform sample of the normal training rows seen, and their class
        indices: what ``partial_fit`` trains on beside a new batch.
    calibration_inputs_, calibration_targets_ : ndarray
        A uniform sample (at most 5,000) of the held-out normal rows seen,
        and their class indices.
    calibration_scores_ : ndarray of shape (n_calibration,)
        Sorted distances of the held-out normal samples: the reference of
        ``pvalues``. Only when some were held out.
    class_calibration_counts_, class_calibration_scores_ : ndarray
        How many of them each class has, and their squared distances to
        their class's centre, class by class, each sorted: the reference of
        ``pvalues(X, by_class=True)``.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based unsupervised detector.
    sklearn.neighbors.LocalOutlierFactor : Density-based detector.

    Notes
    -----
    With one class the IB loss is Deep SVDD's; divided by ``beta - 1`` it is
    Deep-MCDD's with ``mcdd_lambda = 1 / (beta - 1)``.

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
        "batch_size": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "transformations": [StrOptions({"auto", *_training.TRANSFORMATIONS})],
        "anomaly_score": [StrOptions({"auto", *_anomaly_score.SCORES})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "max_references": [
            StrOptions({"auto"}),
            Interval(Integral, 2, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "device": [str],
        "precision": [StrOptions({"auto", *PRECISIONS})],
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
        batch_size="auto",
        lr=1e-3,
        weight_decay=1e-5,
        validation_fraction="auto",
        callbacks=None,
        transformations="auto",
        anomaly_score="auto",
        n_neighbors=5,
        max_references="auto",
        contamination="auto",
        device="auto",
        precision="auto",
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
        self.transformations = transformations
        self.anomaly_score = anomaly_score
        self.n_neighbors = n_neighbors
        self.max_references = max_references
        self.contamination = contamination
        self.device = device
        self.precision = precision
        self.accelerator = accelerator
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the encoder and centres on normal data.

        A fit that raises leaves the detector as it was. Ctrl-C during training
        stops it early: the fit completes on what the network learned and warns
        with :class:`~ibdetect.exceptions.TrainingInterruptedWarning`. With
        ``warm_start=True``, a fitted detector trains on from where it stopped.

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
        with all_or_nothing(self), torch_threads(self.n_jobs):
            return self._fit(X, y, previous)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one more batch of normal data, from where the network stopped.

        Unfitted, the detector fits as :meth:`fit` does. Fitted, it trains
        ``max_epochs`` epochs on the batch and a uniform sample of the earlier
        normal training rows, lest it forget them; a new class gets a centre
        at its samples' mean embedding. Reference, calibration and class
        priors describe every batch (the user guide's "Data that keeps
        arriving"); ``decision_scores_`` are the last batch's. A call that
        raises leaves the detector as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The new batch.
        y : array-like of shape (n_samples,), default=None
            Its labels, if the first batch had labels (and only then).

        Returns
        -------
        self : IBDeepDescription

        Raises
        ------
        ValueError
            The batch has labels where the earlier ones had none (or the other
            way round) or other features; or an older version fitted the detector.

        Examples
        --------
        >>> import numpy as np
        >>> from ibdetect import IBDeepDescription
        >>> rng = np.random.RandomState(0)
        >>> detector = IBDeepDescription(max_epochs=5, random_state=0)
        >>> for batch in range(3):
        ...     detector = detector.partial_fit(rng.normal(0, 1, (200, 4)))
        >>> detector.n_samples_seen_, len(detector.calibration_scores_)
        (540, 60)
        """
        self._validate_params()  # _fit_context skips it for a fitted detector, after set_params too
        previous = _streaming.check_can_train_on(self) and copy.copy(self)
        with all_or_nothing(self), torch_threads(self.n_jobs):
            return self._partial_fit(X, y, previous) if previous else self._fit(X, y)

    def _fit(self, X, y, previous=None):
        X, targets, setup = self._check_before_training(X, y, previous)
        # Samples are picked by index, never copied: X may be larger than memory.
        held_out = _calibration.hold_out(targets, self.validation_fraction, setup.seed)
        train = np.flatnonzero(~held_out)
        normal_train = train[targets[train] != ANOMALY]
        n_references = _anomaly_score.check_reference_size(
            setup.anomaly_score, self.n_neighbors, setup.max_references, len(normal_train)
        )

        # The net validates on the held-out samples, which it draws again.
        split = StratifiedHoldOut(self.validation_fraction, setup.seed) if held_out.any() else None
        if split is None:
            _training.check_monitors(self.callbacks, "fit holds out nothing to validate on (validation_fraction)")
        _training.warn_if_unscaled(self, X, setup.input_shape)
        self._set_state(_training.fit_network(
            self, X, targets, train, normal_train, split, setup.input_shape, setup.transformations,
            setup.device, setup.seed, previous,
        ))

        self._set_state(_anomaly_score.fit_reference(
            setup.anomaly_score, self.net_.embed, X, normal_train, n_references, self.n_neighbors, setup.seed,
            n_views=_anomaly_score.whitened_views(self),
        ))
        self._set_state(_streaming.first_batch(self, X, targets, held_out, normal_train, setup))
        # The only pass of the trained encoder over all the training data, for the collapse
        # check, the threshold and the class-wise p-values (held-out rows: to their own centre).
        classes = np.where(held_out, targets, ANOMALY)
        distances, center_distances = score_rows(self, X, with_center_distances=True, classes=classes)
        _training.warn_if_collapsed(center_distances[normal_train])
        self.offset_ = -_calibration.threshold(
            self.contamination, distances, targets, held_out,
            lambda: _anomaly_score.leave_one_out_distances(self),
        )
        self._set_state(_calibration.fit_scores(distances, targets, held_out, self.offset_))
        held = classes != ANOMALY
        if held.any():
            self._set_state(_calibration.class_calibration(center_distances[held], targets[held], len(self.classes_)))
        return self

    def _partial_fit(self, X, y, previous):
        _streaming.carry_features(self, previous)
        X, targets, setup = self._check_before_training(X, y, previous, streaming=True)
        held_out = _calibration.hold_out(
            targets, self.validation_fraction, setup.seed, streaming=True, held_before=previous.n_calibration_seen_
        )
        # The network trains on the batch and a sample of the earlier ones, lest it forget them.
        self._set_state(_streaming.replay(self, previous, X, targets, held_out, setup))
        X_train, train_targets = _streaming.training_rows(X, targets, held_out, previous, setup)
        self._set_state(_training.fit_network(
            self, X_train, train_targets, np.arange(len(X_train)), np.flatnonzero(train_targets != ANOMALY),
            None, setup.input_shape, setup.transformations, setup.device, setup.seed, previous,
            class_counts=self.class_counts_, centers=setup.centers,
        ))

        self._set_state(_streaming.reference(self, setup))
        distances, _ = score_rows(self, X)
        # On the sample of every batch: a batch may be a single row.
        _training.warn_if_collapsed(score_rows(self, self.replay_inputs_, with_center_distances=True)[1])
        self._set_state(_streaming.calibrate(self, previous, X, targets, held_out, distances, setup))
        return self

    def _check_before_training(self, X, y, previous, streaming=False):
        """X, its targets and what training needs, after the checks that need no training (so they cost none)."""
        X, targets = _training.validate_training_data(self, X, y, reset=not streaming)
        input_shape = _training.check_input_shape(self)
        _training.check_callbacks(self.callbacks)
        transformations = _training.resolve_transformations(self, input_shape, targets, previous)
        setup = Bunch(input_shape=input_shape, transformations=transformations, centers=None)
        if streaming:
            targets = _streaming.merge_batch(self, previous, X, y, targets, setup)
        _training.check_loss_params(self, targets)
        if previous is not None:
            _training.check_warm_start(self, previous, transformations, streaming=streaming)
        setup.device = resolve_device(self.device) if self.accelerator is None else str(self.accelerator.device)
        check_precision(self.precision, setup.device)
        setup.seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        setup.anomaly_score = _anomaly_score.resolve_anomaly_score(self.anomaly_score, targets, len(input_shape) > 1)
        setup.max_references = _anomaly_score.resolve_max_references(self.max_references, len(input_shape) > 1)
        if streaming:
            _streaming.check_batch(self, previous, setup)
        return X, targets, setup

    def score_samples(self, X):
        """Normality of each sample: minus its squared distance to the normal data.

        The distance is as ``anomaly_score_`` measures it. A sample so far
        out that the network's float32 arithmetic overflows gets the lowest
        score a float64 holds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal; always finite.
        """
        check_is_fitted(self)
        X = validated_rows(self, X, reset=False)
        with torch_threads(self.n_jobs):
            distances, _ = score_rows(self, X)
        return -finite_distances(distances)

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
        return outlier_labels(self.decision_function(X))

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
        distances = self.class_distances(X)
        return self.classes_[distances.argmin(axis=1)]

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
        with torch_threads(self.n_jobs):
            return center_distances(self.transform(X), self.centers_)

    def pvalues(self, X, *, by_class=False, smoothing=False, random_state=None):
        """Conformal p-value of each sample against the held-out normal samples, or of each class's.

        ``(1 + #{at least as far}) / (1 + n_calibration)`` over the held-out
        normal samples (``calibration_scores_``): ``pvalues(X) <= alpha``
        flags at most ``alpha`` of new normal samples, on average over fits,
        when they are exchangeable with the training data. With
        ``by_class=True``, column ``c`` asks "is this a plausible sample of
        class ``c``?", against class ``c``'s held-out samples' distances to
        its centre (Mondrian p-values). The user guide's "Calibrated false
        alarms" says how far a fit deviates and how few samples limit it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        by_class : bool, default=False
            Whether to return a p-value for each known class.
        smoothing : bool, default=False
            Place each sample at a random point of its plain p-value's last
            step: ``p <= alpha`` then flags exactly ``alpha`` of new normal
            samples on average, however few were held out (user guide).
        random_state : int, RandomState instance or None, default=None
            The draws of ``smoothing`` (checked, unused without it; not the
            estimator's). An int repeats a call's draws: over calls of a row
            at a time, pass one RandomState, or None for numpy's global one.

        Returns
        -------
        pvalues : ndarray of shape (n_samples,) or (n_samples, n_classes)
            In [0, 1], small for anomalies. Plain ones are at least
            ``1 / (n + 1)`` for ``n`` held-out samples (of the class; NaN for
            a class of none, which a warning names). Columns as ``classes_``.

        Raises
        ------
        ValueError
            When ``fit`` held out no normal sample (``validation_fraction=None``,
            or classes too small to lose one), or a parameter is invalid.

        Examples
        --------
        >>> import numpy as np
        >>> from ibdetect import IBDeepDescription
        >>> X = np.random.RandomState(0).normal(0, 1, (400, 4))
        >>> detector = IBDeepDescription(max_epochs=5, random_state=0).fit(X)
        >>> # Farther out than all 40 held-out samples: 1/41, or less smoothed.
        >>> detector.pvalues([[9, -9, 9, -9]]) * 41
        array([1.])
        >>> detector.pvalues([[9, -9, 9, -9]], smoothing=True, random_state=0) * 41
        array([0.5488135])
        """
        check_is_fitted(self)
        return _calibration.pvalues(self, X, by_class, smoothing, random_state)

    def explain(self, X, *, n_steps=8):
        """Why each sample scores as it does: each feature's share, and the values it was compared with.

        Each feature is compared with an expected value (rows: what the rest of the row predicts,
        under a Gaussian of the reference rows; images: the ``n_neighbors_``-th nearest reference
        image's pixel). Integrated gradients from the row as it likely was (user guide) split the
        embedding's share; with "knn+input" and "knn+density", input space's goes by the squared
        distances, in spreads (on rows, times ``out_of_place``). A row unlikely even with its broken
        values set aside is compared as a whole with the normal rows' mean (``row_from_elsewhere``:
        its values predict one another). Needs captum (``explain``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_steps : int, default=8
            Points of the integrated gradients' quadrature, each a forward
            and a backward pass of every sample.

        Returns
        -------
        explanation : sklearn.utils.Bunch
            ``contributions`` (n_samples, n_features): each feature's share of
            ``distances`` (``-score_samples(X)``), to which a row adds up
            (reshape to ``input_shape`` for a heat map); ``nearest_class`` and
            ``nearest_class_distance``, as :meth:`predict_class` and
            :meth:`class_distances`; ``expected``, the values compared with,
            and ``expected_spread``, their spreads; ``out_of_place``, each
            value's probability of coming from another row, and ``row_from_elsewhere``,
            whether the whole row is compared with the mean normal row (None on images);
            ``nearest_normal``, the ``n_neighbors_``-th nearest reference rows;
            ``pvalues``, plain (None uncalibrated); ``feature_names``.

        Raises
        ------
        ValueError
            With ``anomaly_score_ == "distance"``, or no reference rows kept.

        Examples
        --------
        >>> import numpy as np
        >>> from ibdetect import IBDeepDescription
        >>> X = np.random.RandomState(0).normal(0, 1, (300, 4))
        >>> detector = IBDeepDescription(max_epochs=5, random_state=0).fit(X)
        >>> explanation = detector.explain([[0, 0, 9, 0]])
        >>> int(explanation.contributions.argmax())
        2
        >>> bool(np.allclose(explanation.contributions.sum(1), explanation.distances))
        True
        """
        check_is_fitted(self)
        X = validated_rows(self, X, reset=False)
        with torch_threads(self.n_jobs):
            return explain(self, X, n_steps=n_steps)

    @available_if(_calibration.can_calibrate)
    def predict_proba(self, X):
        """Probability-like anomaly degree of each sample, from its p-value.

        Columns ``[normal, anomaly]``, as PyOD orders them: the plain
        ``pvalues(X)`` and ``1 - pvalues(X)``, a rank among held-out normal
        samples, **not** the posterior probability of an anomaly (which
        depends on how common anomalies are). Available only when
        ``fit`` held out normal samples, as for :meth:`pvalues`.

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
        """Distance, as ``anomaly_score_`` measures it, beyond which ``predict`` flags a sample: ``-offset_``."""
        check_is_fitted(self)
        return -self.offset_

    @property
    def labels_(self):
        """``predict`` of each sample given to ``fit``, in their order: -1 for anomalies, +1 otherwise."""
        check_is_fitted(self)
        return outlier_labels(self.decision_scores_)

    def transform(self, X):
        """Embed samples, e.g. to plot them or to feed another estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_views * embedding_dim)
            With ``transformations``, the embeddings of a sample's views side by side.
        """
        check_is_fitted(self)
        X = validated_rows(self, X, reset=False)
        with torch_threads(self.n_jobs):
            return self.net_.embed(X)

    @property
    def device_(self):
        """Device of the fitted network, e.g. ``"cuda"``; ``"cpu"`` for a GPU's model loaded where there is none."""
        check_is_fitted(self)
        return str(self.net_.device)

    @property
    def _n_features_out(self):
        return self.centers_.shape[1]

    def __setstate__(self, state):
        # Pickles of version 0.2.0 predate some parameters and fitted attributes.
        super().__setstate__(upgraded_pickle_state(state))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The network computes in float32 whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- fitting, step by step -------------------------------------------------

    def _set_state(self, state):
        """Set the fitted attributes that a concern's module returns by name."""
        for name, value in state.items():
            setattr(self, name, value)
