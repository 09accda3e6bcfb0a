"""Training: the encoder, the description loss and the skorch net built from the estimator's parameters.

Every function reads the parameters from ``detector``, the
:class:`~ibdetect.IBDeepDescription` being fitted (or loaded), and never
sets its attributes: the estimator keeps what they return.
"""

import contextlib
import copy
import inspect
import math

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import column_or_1d
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import Subset

from ._checks import check_positive_ints, validated_rows
from ._chunking import row_blocks
from ._fitted import OPTIONAL, FittedAttribute, finite
from ._labels import ANOMALY, has_known_anomalies, training_classes
from ._net import (
    AcceleratedDeepDescriptionNet,
    Autoencoder,
    AutoencoderNet,
    DeepDescriptionModule,
    DeepDescriptionNet,
    _TensorDataset,
)
from ._runtime import PRECISIONS, native_bfloat16, seeded_torch
from ._warnings import warn_at_caller
from .encoders import CNNEncoder, MLPEncoder
from .exceptions import EmbeddingCollapseWarning, FeatureScaleWarning, FlagLabelsWarning, TrainingInterruptedWarning
from .losses import DeepMCDDLoss, DeepSVDDLoss, IBLoss
from .transformations import RandomAffine, Rotations

__all__ = [
    "FITTED_STATE",
    "build_encoder",
    "builds_cnn",
    "build_net",
    "check_callbacks",
    "check_input_shape",
    "check_loss_params",
    "check_priors",
    "check_warm_start",
    "fit_network",
    "initialized_net",
    "pretrain",
    "resolve_batch_size",
    "resolve_transformations",
    "times_as_much",
    "train",
    "warn_if_collapsed",
    "looks_like_flags",
    "validate_training_data",
    "warn_if_outlier_flags",
    "warn_if_unscaled",
]

# The embedding has collapsed when the inter-quartile range of the normal
# training samples' distances to the centres is below this fraction of their
# median. Healthy fits measure 0.5 to 1.2; a single feature value of 1e9 or
# more among values near 1 gives 4e-5 or less.
COLLAPSE_SPREAD = 1e-3

# Labels 0 and 1, with 1 on at most this share of the samples, look like
# outlier flags (1: anomaly), as PyOD and many data sets write them.
FLAG_LIKE_SHARE = 0.2

# Rows whose widest feature varies this many times as much as their median
# feature get a FeatureScaleWarning (warn_if_unscaled): raw tables that
# need scaling measure 480 to 6e7, tables of one unit and images' pixels 5
# or less.
UNSCALED_VARIANCE_RATIO = 100.0

# About the most rows among which warn_if_unscaled looks for columns of two
# values: a few hundred kilobytes on tables, a few megabytes for 784 pixels,
# whatever the size of X.
TWO_VALUES_SAMPLE_ROWS = 1_000

#: The transformations of ``transformations``, by name.
TRANSFORMATIONS = ("none", "rotations", "rotations+flips", "affine")

#: Views of each row under ``transformations="affine"``, the row included.
AFFINE_VIEWS = 8

#: Channels of the built-in CNN's blocks with views, each of which is a pass
#: of the network: four passes of these cost about one of the (32, 64)
#: blocks' before inference pooled first, the budget of a default's
#: scoring (benchmarks/view_scoring.py). In batches of
#: BATCH_SIZE_WITH_IMAGE_VIEWS, and scored in the units of views, they ranked
#: MNIST's unseen digits 0.977, where (8, 32) in batches of 128 ranked 0.9725
#: (benchmarks/view_units.py, the same splits; batches of 32 through the
#: (8, 32) blocks, scored as fitted: 0.974, benchmarks/methods.py).
CNN_CHANNELS_WITH_VIEWS = (16, 32)

#: Samples per training step of batch_size="auto" ...
BATCH_SIZE = 128

#: ... and with the views of images, four (or eight) passes each: 128 images
#: a step with the quarter turns, as without views, and four times the
#: steps. With the (16, 32) blocks for 50 epochs, the embedding scored as
#: fitted, MNIST ranked 0.974 (benchmarks/view_units.py) against 0.971 in
#: batches of 128 (benchmarks/methods.py), on the same splits and seeds.
BATCH_SIZE_WITH_IMAGE_VIEWS = 32


def _known_transformations(name, state):
    if name not in TRANSFORMATIONS:
        return f"must be one of {', '.join(TRANSFORMATIONS)}, got {name!r}"
    return None


def _known_precision(name, state):
    return None if name in PRECISIONS else f"must be one of {', '.join(PRECISIONS)}, got {name!r}"


#: What training sets in ``fit``.
FITTED_STATE = (
    FittedAttribute("transformations_", "text", check=_known_transformations),
    # Models of model files and pickles saved before it was kept have none.
    FittedAttribute("precision_", "text", when=OPTIONAL, check=_known_precision),
    FittedAttribute("centers_", "array", ("n_classes", "embedding_dim"), "float64", check=finite),
    FittedAttribute("net_", "net"),
    FittedAttribute("pretrain_history_", "history", when=OPTIONAL),
)


# -- checks that need no training ----------------------------------------------------


def check_input_shape(detector):
    """The shape of one sample: ``input_shape`` checked against ``n_features_in_``, or ``(n_features_in_,)``."""
    if detector.input_shape is None:
        if detector.encoder == "cnn":
            raise ValueError(
                "encoder='cnn' needs input_shape=(channels, height, width), e.g. "
                "(1, 28, 28) for MNIST rows of 784 pixels."
            )
        return (detector.n_features_in_,)
    input_shape = check_positive_ints(detector.input_shape, "input_shape")
    if not input_shape:
        raise ValueError("input_shape must hold at least one dimension.")
    if math.prod(input_shape) != detector.n_features_in_:
        raise ValueError(
            f"input_shape={input_shape} holds {math.prod(input_shape)} values, but X "
            f"has {detector.n_features_in_} features per sample."
        )
    return input_shape


def warn_if_unscaled(detector, X, input_shape):
    """Warn when one feature of the rows varies far more than the typical one: scale them first, says the warning.

    A feature whose variance is ``UNSCALED_VARIANCE_RATIO`` times the median
    feature's or more makes most of the input-space distances of the score
    and most of what the network sees. Measured on raw tables: wine's
    proline varies 150,000 times as much as its median feature (ROC AUC
    0.663 unscaled, 0.913 standardised), breast cancer's worst area 6e7
    times, Vehicle's widest 480 times; Satellite, Vowel,
    LetterRecognition, iris and the pixels of digits and MNIST 5 times or
    less. Images (an ``input_shape`` of more than one dimension) are left
    alone, their pixels sharing one unit, and so are columns of two values.
    The variances are those of every row, read in blocks (``X`` may be a
    memory map larger than memory): those of a sample would weigh one
    extreme value in it as many times as the sample is smaller than ``X``.
    Called by ``fit``, and by the first ``partial_fit`` only, so that a
    stream warns once.
    """
    if len(input_shape) > 1:
        return
    moments = StandardScaler()
    for rows in row_blocks(len(X), 8 * X.shape[1]):
        moments.partial_fit(X[rows])
    # A column of two values (a category one-hot encoded, a flag of gaps)
    # varies by how often it is set, not in a unit: ibdetect.preprocessing's
    # rows, standardised numbers among rare flags, would otherwise warn. A
    # sample of rows tells them.
    sample = X[::max(1, len(X) // TWO_VALUES_SAMPLE_ROWS)]
    two_valued = np.all((sample == sample.min(axis=0)) | (sample == sample.max(axis=0)), axis=0)
    measured = np.where((moments.var_ > 0) & ~two_valued, moments.var_, np.nan)
    if np.isnan(measured).all():
        return
    widest, ratio = int(np.nanargmax(measured)), float(np.nanmax(measured) / np.nanmedian(measured))
    if ratio < UNSCALED_VARIANCE_RATIO:
        return
    names = getattr(detector, "feature_names_in_", None)
    name = f"feature {widest}" if names is None else f"feature {widest} ({names[widest]!r})"
    # The ratio only to its order of magnitude, so that the folds of a
    # search, whose ratios differ a little, give one message, which Python
    # shows once; the warning keeps it whole.
    warn_at_caller(FeatureScaleWarning(
        f"The features come in very different units: {name} varies {times_as_much(ratio)} as the median "
        "feature, so it makes most of the score's input-space distances and of what the network sees. Scale "
        "the features first, e.g. make_pipeline(StandardScaler(), IBDeepDescription()); if the units are "
        "meant, filter ibdetect.exceptions.FeatureScaleWarning.",
        feature=widest, ratio=ratio,
    ))


def times_as_much(ratio):
    """``ratio`` (at least 1) in words, to its order of magnitude: "more than 1,000 times as much", "more than 1e9 ..."."""
    order = int(np.log10(ratio))
    return f"more than {10 ** order:,} times as much" if order < 9 else f"more than 1e{order} times as much"


def check_priors(detector):
    """``priors`` as an array of one positive value per class; None when unset or unused."""
    if detector.priors is None or detector.loss == "svdd":
        return None
    try:
        priors = np.asarray(detector.priors, dtype=np.float64)
    except (TypeError, ValueError):
        priors = None
    if priors is None or priors.shape != detector.classes_.shape or not np.all(np.isfinite(priors) & (priors > 0)):
        raise ValueError(
            f"priors must hold {len(detector.classes_)} positive, finite values, one per "
            f"class in classes_ ({detector.classes_.tolist()}), got {detector.priors!r}: set_params(priors=...) "
            "with one value per class, or priors=None for the classes' shares (a partial_fit batch that "
            "brings a new class adds one)."
        )
    return priors


# The loss parameters that only some fits use, and when each one is used.
LOSS_PARAMS_USED = {
    "beta": (lambda detector, targets: detector.loss == "ib", "only loss='ib' has it"),
    "margin": (lambda detector, targets: detector.loss == "ib", "only loss='ib' has it"),
    "mcdd_lambda": (lambda detector, targets: detector.loss == "mcdd", "only loss='mcdd' has it"),
    "anomaly_weight": (
        lambda detector, targets: has_known_anomalies(targets), "it weighs known anomalies, and y labels none -1"
    ),
    "priors": (lambda detector, targets: detector.loss != "svdd", "loss='svdd' has one centre"),
}


def check_loss_params(detector, targets):
    """Check ``priors``; warn of each loss parameter set away from its default that this fit does not use.

    A grid over ``beta`` with ``loss="mcdd"`` would otherwise tie every
    point without a word.
    """
    check_priors(detector)
    defaults = type(detector)().get_params(deep=False)
    unused = [
        f"{name}={getattr(detector, name)!r} ({why})"
        for name, (used, why) in LOSS_PARAMS_USED.items()
        if not _is_default(getattr(detector, name), defaults[name]) and not used(detector, targets)
    ]
    if unused:
        warn_at_caller(f"These parameters have no effect on this fit: {'; '.join(unused)}.", UserWarning)


def _is_default(value, default):
    if value is None or default is None:
        return value is default
    try:
        return bool(np.all(np.asarray(value) == np.asarray(default)))
    except (TypeError, ValueError):
        return False


def check_callbacks(callbacks):
    """Raise a TypeError naming ``callbacks`` unless skorch would take each of them."""
    for item in callbacks or []:
        callback = _callback(item)
        if callback is None and item is not None:
            # A (name, None) pair, which skorch skips.
            continue
        if not (isinstance(callback, Callback) or (isinstance(callback, type) and issubclass(callback, Callback))):
            raise TypeError(
                "callbacks must hold skorch callbacks (instances or subclasses of "
                f"skorch.callbacks.Callback) or (name, callback) pairs, got {item!r}."
            )


def _callback(item):
    """The callback, or its class, of an entry of ``callbacks``: skorch takes either, or a (name, callback) pair."""
    named = isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
    return item[1] if named else item


def check_monitors(callbacks, missing):
    """Raise a ValueError naming the fix if a callback monitors a validation score, which ``missing`` says is not there.

    skorch would fail later, on its history, with a bare KeyError.
    """
    for item in callbacks or ():
        callback = _callback(item)
        monitor = getattr(callback, "monitor", None)
        if isinstance(callback, type):
            default = inspect.signature(callback).parameters.get("monitor")
            monitor = None if default is None else default.default
        if isinstance(monitor, str) and monitor.startswith("valid"):
            name = (callback if isinstance(callback, type) else type(callback)).__name__
            raise ValueError(
                f"{missing}, and {name} monitors {monitor!r}; set its monitor to "
                f"{monitor.replace('valid', 'train', 1)!r}."
            )


def resolve_transformations(detector, input_shape, targets, previous=None):
    """The transformations that ``transformations`` stands for on this data, checked against it.

    ``"auto"`` gives one normal class of square images the quarter turns to
    tell apart, and nothing else views. A fit that continues ``previous``
    (``warm_start``, ``partial_fit``) keeps the views its network learned,
    whatever classes the new data bring.
    """
    name = detector.transformations
    if name == "auto" and previous is not None:
        return previous.transformations_
    if name == "auto":
        square_images = len(input_shape) == 3 and input_shape[1] == input_shape[2] > 1
        one_class = len(detector.classes_) == 1 and detector.loss != "svdd"
        # Known anomalies make the centre distance the score: with views it
        # ranked one class lower than the k-NN distance (performance page),
        # and the pair was never measured against no views.
        return "rotations" if square_images and one_class and not has_known_anomalies(targets) else "none"
    if name != "none" and detector.loss == "svdd":
        raise ValueError(
            f'transformations="{name}" needs loss="ib" or "mcdd": "svdd" trains a single '
            'centre, so there are no views to tell apart. Set transformations="none".'
        )
    if name.startswith("rotations") and (len(input_shape) != 3 or input_shape[1] != input_shape[2]):
        raise ValueError(
            f'transformations="{name}" rotates square images: set input_shape=(channels, side, side), '
            f"got {tuple(input_shape)}."
        )
    return name


def resolve_precision(precision, encoder, device):
    """The precision that ``precision`` ("auto" or one of ``PRECISIONS``) stands for with ``encoder`` on ``device``.

    ``"auto"`` is bfloat16 for the built-in CNN on a CPU that computes it
    natively, where a training step on 28x28 images ran 1.7 times as fast
    as in float32 on one thread of a Xeon with AMX, and whole fits of the
    image defaults on MNIST 1.3 to 1.5 times on an AMD EPYC with
    AVX512-BF16 alone (``benchmarks/precision.py``). Everywhere else it is
    float32: the MLP's steps, and the CNN's on 8x8 images, are too small to
    gain (0.85 and 1.0 times as fast in batches of 128), and GPUs are
    unmeasured.
    """
    if precision != "auto":
        return precision
    return "bfloat16" if isinstance(encoder, CNNEncoder) and native_bfloat16(device) else "float32"


# -- building --------------------------------------------------------------------


def build_transformation(name, input_shape, seed):
    """The module that makes the views of ``transformations_`` (None for ``"none"``)."""
    if name == "none":
        return None
    if name == "affine":
        return RandomAffine(math.prod(input_shape), n_views=AFFINE_VIEWS, seed=seed)
    return Rotations(input_shape, flips=name == "rotations+flips")


def resolve_batch_size(batch_size, transformation=None):
    """The int that ``batch_size`` ("auto" or an int) stands for, training with ``transformation``'s views."""
    if batch_size != "auto":
        return batch_size
    return BATCH_SIZE_WITH_IMAGE_VIEWS if isinstance(transformation, Rotations) else BATCH_SIZE


def count_views(transformation):
    """Views per sample of a transformation module (1 for None)."""
    return 1 if transformation is None else transformation.n_views


def builds_cnn(detector, input_shape=None):
    """Whether ``encoder`` names the built-in CNN (``"auto"`` does for images)."""
    if input_shape is None:
        input_shape = check_input_shape(detector)
    return detector.encoder == "cnn" or (detector.encoder == "auto" and len(input_shape) == 3)


def build_encoder(detector, input_shape, n_views=1):
    """A new encoder as ``encoder`` names it: built-in, built by a callable, or a copy of a module.

    The built-in CNN is narrower when it sees ``n_views`` views of each sample.
    """
    if isinstance(detector.encoder, nn.Module):
        return copy.deepcopy(detector.encoder)
    if isinstance(detector.encoder, str):
        hidden = detector.hidden_layer_sizes
        if hidden is not None:
            hidden = check_positive_ints(hidden, "hidden_layer_sizes")
        name = "cnn" if builds_cnn(detector, input_shape) else "mlp"
        if name == "cnn" and hidden is None and n_views > 1:
            hidden = CNN_CHANNELS_WITH_VIEWS
        return _BUILDERS[name](input_shape, detector.embedding_dim, hidden)
    encoder = detector.encoder(input_shape=input_shape, embedding_dim=detector.embedding_dim)
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"encoder must build a torch.nn.Module, got {type(encoder).__name__}.")
    return encoder


def _build_mlp(input_shape, embedding_dim, hidden_layer_sizes):
    kwargs = {} if hidden_layer_sizes is None else {"hidden_layer_sizes": hidden_layer_sizes}
    return MLPEncoder(input_shape=input_shape, embedding_dim=embedding_dim, **kwargs)


def _build_cnn(input_shape, embedding_dim, hidden_layer_sizes):
    kwargs = {} if hidden_layer_sizes is None else {"channels": hidden_layer_sizes}
    return CNNEncoder(input_shape=input_shape, embedding_dim=embedding_dim, **kwargs)


_BUILDERS = {"mlp": _build_mlp, "cnn": _build_cnn}


def build_net(
    detector, encoder, X, train_targets, train_split, device, transformation=None, precision="float32",
    class_counts=None,
):
    """The skorch net that trains ``encoder`` and the class centres with the detector's loss.

    With a ``transformation``, each view of each class is a class for the
    loss; ``precision`` is that of training's forward passes. The class
    priors count ``train_targets``, or ``class_counts`` when given.
    """
    n_classes = len(detector.classes_)
    n_views = count_views(transformation)
    net_class, accelerate = DeepDescriptionNet, {}
    if detector.accelerator is not None:
        net_class, accelerate = AcceleratedDeepDescriptionNet, {"accelerator": detector.accelerator}
    return net_class(
        module=DeepDescriptionModule,
        module__encoder=encoder,
        module__n_centers=n_classes,
        module__embedding_dim=_embedding_dim(encoder, X[:2]),
        # One fixed centre is Deep SVDD's safeguard against collapse; with
        # several, the cross-entropy keeps learned centres apart.
        module__learn_centers=n_classes * n_views > 1,
        module__transformation=transformation,
        **_criterion_params(detector, train_targets, n_views, class_counts),
        optimizer=torch.optim.Adam,
        lr=detector.lr,
        optimizer__weight_decay=detector.weight_decay,
        # Decay would drag learned centres to the origin.
        optimizer__param_groups=[("centers", {"weight_decay": 0.0})],
        max_epochs=detector.max_epochs,
        batch_size=resolve_batch_size(detector.batch_size, transformation),
        train_split=train_split,
        callbacks=copy.deepcopy(detector.callbacks),
        device=device,
        precision=precision,
        verbose=detector.verbose,
        **accelerate,
    )


def initialized_net(detector, device):
    """A net built as ``fit`` builds it for a fitted detector's parameters, initialised but untrained.

    Only ``n_features_in_`` and ``classes_`` (with the parameters, which are
    validated first) shape it; trained weights are loaded into it
    afterwards. torch's global random state is left as it was. On the
    ``"meta"`` device nothing is allocated: the net's tensors have shapes
    and dtypes only, to check trained weights against before building the
    net for real.
    """
    detector._validate_params()
    n_classes = len(detector.classes_)
    meta = torch.device(device).type == "meta"
    with seeded_torch(0, device), torch.device("meta") if meta else contextlib.nullcontext():
        # The rows give the encoder's output size only; one target per class
        # makes the criterion's class priors uniform, to be replaced with the
        # trained state like every weight.
        rows = torch.zeros((min(n_classes, 2), detector.n_features_in_))
        input_shape = check_input_shape(detector)
        transformation = build_transformation(detector.transformations_, input_shape, seed=0)
        encoder = build_encoder(detector, input_shape, count_views(transformation))
        net = build_net(detector, encoder, rows, np.arange(n_classes), None, device, transformation)
        return net.initialize()


def _criterion_params(detector, targets, n_views=1, class_counts=None):
    common = {"criterion__anomaly_weight": detector.anomaly_weight}
    if detector.loss == "svdd":
        return {"criterion": DeepSVDDLoss, **common}
    # Every view of a class is as likely as the others.
    common["criterion__priors"] = np.repeat(_class_priors(detector, targets, class_counts) / n_views, n_views)
    if detector.loss == "mcdd":
        return {"criterion": DeepMCDDLoss, "criterion__lambda_": detector.mcdd_lambda, **common}
    return {"criterion": IBLoss, "criterion__beta": detector.beta, "criterion__margin": detector.margin, **common}


def _class_priors(detector, targets, counts=None):
    priors = check_priors(detector)
    if priors is None:
        if counts is None:
            counts = np.bincount(targets[targets != ANOMALY], minlength=len(detector.classes_))
        return counts / counts.sum()
    return priors


@torch.no_grad()
def _embedding_dim(encoder, X_sample):
    """Size of the encoder's output, from one forward pass in evaluation mode."""
    was_training = encoder.training
    try:
        # A copy: the sample may be a view of read-only memory (a memmap).
        sample = X_sample if isinstance(X_sample, torch.Tensor) else torch.from_numpy(np.array(X_sample, order="C"))
        embeddings = encoder.eval()(sample)
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


# -- training --------------------------------------------------------------------


def fit_network(
    detector, X, targets, train_rows, normal_rows, train_split, input_shape, transformations, device, seed,
    previous=None, class_counts=None, centers=None,
):
    """Build and train the network; its fitted attributes by name: ``transformations_``, ``net_``,
    ``centers_``, ``pretrain_history_``.

    Parameters
    ----------
    detector : IBDeepDescription
    X : array-like of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples,)
        Class indices, -1 for known anomalies.
    train_rows, normal_rows : ndarray of int
        The rows the network trains on, and the normal ones among them
        (which pretraining reconstructs).
    train_split : callable or None
        skorch's ``train_split``: which samples validate.
    input_shape : tuple of int
    transformations : str
        What :func:`resolve_transformations` made of ``transformations``.
    device : str
    seed : int
        Seeds torch for the whole of training.
    previous : IBDeepDescription, default=None
        An earlier fit to train on from (a warm start).
    class_counts : ndarray of int, default=None
        Normal rows seen per class, when more than this fit's (the
        batches of ``partial_fit``): they set the class priors.
    centers : torch.Tensor, default=None
        The centres to train on from instead of ``previous``'s, when
        classes were added to them.
    """
    state = {"transformations_": transformations}
    with seeded_torch(seed, device):
        transformation = build_transformation(transformations, input_shape, seed)
        encoder = build_encoder(detector, input_shape, count_views(transformation))
        if detector.pretrain_epochs and previous is None:
            state["pretrain_history_"] = pretrain(detector, encoder, Subset(_TensorDataset(X), normal_rows), device)
        precision = state["precision_"] = resolve_precision(detector.precision, encoder, device)
        net = build_net(
            detector, encoder, X, targets[train_rows], train_split, device, transformation, precision, class_counts
        )
        train(net, X, targets, previous, centers)
    if previous is not None and hasattr(previous, "pretrain_history_"):
        state["pretrain_history_"] = previous.pretrain_history_
    state["net_"] = net
    state["centers_"] = _class_centers(net.module_)
    return state


def _class_centers(module):
    """The centres as ``centers_`` holds them: one row per class, its views' centres side by side.

    A sample's embedding lays out its views the same way, so distances to
    these rows add up the distances of every view to its own centre.
    """
    centers = module.centers.detach().cpu().numpy().astype(np.float64)
    return centers.reshape(-1, module.n_views * centers.shape[1])


def pretrain(detector, encoder, X_normal, device):
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
        lr=detector.lr,
        optimizer__weight_decay=detector.weight_decay,
        max_epochs=detector.pretrain_epochs,
        # The autoencoder sees each sample once, without views.
        batch_size=resolve_batch_size(detector.batch_size),
        device=device,
        verbose=detector.verbose,
    )
    autoencoder.fit(X_normal)
    if autoencoder.training_interrupted_:
        # Nothing of the description is trained yet: stop the whole fit.
        raise KeyboardInterrupt
    return autoencoder.history


def train(net, X, targets, previous=None, centers=None):
    """Train ``net``, from scratch or on from the network of ``previous``, an earlier fit (with ``centers``, if given).

    On a keyboard interrupt, keep what the network learned and warn. An
    interrupt before the centres were placed leaves nothing to keep: it
    then propagates and the fit changes nothing.
    """
    epochs_before = 0
    if previous is None:
        net.fit(X, targets)
    else:
        _continue_from(net, previous, centers)
        epochs_before = len(net.history)
        net.partial_fit(X, targets)
    if not net.training_interrupted_:
        return
    if not net.module_.centers_initialized:
        raise KeyboardInterrupt
    warn_at_caller(
        f"Training was interrupted in epoch {len(net.history) - epochs_before} of {net.max_epochs}; "
        "the detector is fitted on what the network learned until then. Fit again "
        "with warm_start=True to train on.",
        TrainingInterruptedWarning,
    )


def check_warm_start(detector, previous, transformations, streaming=False):
    """Raise a ValueError unless ``detector``'s data and ``transformations`` are those of ``previous``.

    With ``streaming`` (``partial_fit``), new classes are welcome: they get
    centres of their own.
    """
    if streaming:
        what, fix = "partial_fit trains on from the earlier batches", "Start over with fit or a new detector."
    else:
        what, fix = "warm_start=True continues the previous fit", "Set warm_start=False to start over."
    if previous.transformations_ != transformations:
        raise ValueError(
            f"{what}, whose network learned the views of transformations={previous.transformations_!r}; "
            f"the parameters now ask for {transformations!r}. Set transformations={previous.transformations_!r}, "
            f"or: {fix}"
        )
    if previous.n_features_in_ != detector.n_features_in_:
        raise ValueError(
            f"{what}, which had {previous.n_features_in_} features; this data has {detector.n_features_in_}. {fix}"
        )
    # partial_fit's validate_data checks the names itself; a warm start resets them.
    before, now = (getattr(fitted, "feature_names_in_", None) for fitted in (previous, detector))
    if before is not None and (now is None or not np.array_equal(before, now)):
        columns = "no column names" if now is None else f"the columns {now.tolist()}"
        raise ValueError(
            f"{what}, which had the columns {before.tolist()}; this data has {columns}. Pass those columns, "
            f"in that order, or: {fix}"
        )
    if not streaming and not np.array_equal(previous.classes_, detector.classes_):
        raise ValueError(
            f"{what}, which had classes {previous.classes_.tolist()}; this data has "
            f"{detector.classes_.tolist()}. {fix}"
        )


def _continue_from(net, previous, centers=None):
    """Initialise ``net`` with the weights, centres (or ``centers``) and history of ``previous``, an earlier fit."""
    net.initialize()
    state = previous.net_.module_.state_dict()
    if centers is not None:
        state = {**state, "centers": centers}
    try:
        net.module_.load_state_dict(state)
    except RuntimeError as exc:
        # torch lists each mismatch on a line of its own after a heading.
        mismatch = str(exc).strip().splitlines()[-1].strip().rstrip(".")
        raise ValueError(
            "Training on (warm_start=True, or partial_fit) continues the previous network, but the "
            f"parameters now build a different one ({mismatch}). Set them back, or fit anew with warm_start=False."
        ) from None
    net.history = copy.deepcopy(previous.net_.history)


def warn_if_collapsed(center_distances):
    """Warn when most normal training samples lie at the same distance from the centres.

    ``center_distances`` holds the squared distance of each to its nearest centre.

    The spread of the bulk (the inter-quartile range) is what counts: a few
    samples far out cannot hide the collapse of all the others, which is
    what one extreme feature value does through batch normalisation.
    """
    q1, median, q3 = np.percentile(center_distances, [25, 50, 75])
    if q3 - q1 <= COLLAPSE_SPREAD * median:
        warn_at_caller(
            "Most training samples are embedded at the same distance from the "
            "centres: the embedding collapsed and scores cannot rank samples. A "
            "few extreme feature values can cause this: scale the features "
            "robustly or clip them. Otherwise train fewer epochs, with a lower lr "
            "or more weight_decay (or, with an encoder of your own, one without biases).",
            EmbeddingCollapseWarning,
        )


def validate_training_data(detector, X, y, reset=True):
    """Check X and y; set ``classes_`` and ``normal_labels_`` on ``detector``; return X and integer targets.

    Targets are the index of each sample's class in ``classes_``, or -1 for
    a known anomaly. A later batch of a stream (not ``reset``) may bring
    known anomalies alone.
    """
    checked = validated_rows(detector, X, y, ensure_min_samples=2 if reset else 1, reset=reset)
    X, y = (checked, None) if y is None else (checked[0], column_or_1d(checked[1]))
    detector.classes_, detector.normal_labels_, targets = training_classes(
        y, len(X), one_class=detector.loss == "svdd", anomalies_only=not reset
    )
    if y is not None and reset:
        # A stream's later batches are checked once merged (_streaming.merge_batch).
        warn_if_outlier_flags(detector.classes_, np.bincount(targets[targets != ANOMALY], minlength=len(detector.classes_)))
    return X, targets


def warn_if_outlier_flags(classes, counts):
    """Warn when the known classes look like outlier flags, which train as two normal classes.

    Booleans, ``"true"`` and ``"false"``, or 0 and 1 with 1 on at most
    ``FLAG_LIKE_SHARE`` of the samples (``counts``, one per class).
    """
    classes, counts = np.asarray(classes), np.asarray(counts)
    if not looks_like_flags(classes):
        return
    if classes.dtype == bool:
        fix, which = "np.where(y, -1, 0)", "True and False"
    elif classes.dtype.kind in "OUS":
        # As a CSV file writes booleans.
        true, false = _true_and_false(classes.tolist())
        fix, which = f"np.where(y == {true!r}, -1, 0)", f"{false!r} and {true!r}"
    elif counts[1] <= FLAG_LIKE_SHARE * counts.sum():
        fix, which = "np.where(y == 1, -1, 0)", f"0 and 1 (1 on {counts[1] / counts.sum():.0%} of the samples)"
    else:
        return
    warn_at_caller(FlagLabelsWarning(
        f"y holds only {which}: they train as two known normal classes. If they flag anomalies, as in PyOD, "
        f"pass -1 for the anomalies: y = {fix}; or fit(X) without y, if the flags are for scoring only.",
        labels=which,
    ))


def looks_like_flags(classes):
    """Whether the known classes (sorted, as ``classes_``) are what outlier flags hold: booleans, true and false, or 0 and 1."""
    classes = np.asarray(classes)
    if len(classes) != 2:
        return False
    if classes.dtype == bool:
        return True
    if classes.dtype.kind in "OUS":
        return _true_and_false(classes.tolist()) is not None
    return classes.dtype.kind in "iuf" and classes.tolist() == [0, 1]


def _true_and_false(values):
    """The two labels among ``values`` that read as true and false (in any case), if they are all there is."""
    if len(values) != 2:
        return None
    read = {str(value).strip().lower(): value for value in values}
    return (read["true"], read["false"]) if set(read) == {"true", "false"} else None
