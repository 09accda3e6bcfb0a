"""The skorch nets that train an encoder and its class centres.

:class:`DeepDescriptionModule` holds the encoder and the centres, so that skorch
moves, saves and restores them together. :class:`DeepDescriptionNet` is a
skorch ``NeuralNet`` whose loss needs the centres: it initialises them from a
first forward pass, logs the parts of the loss per epoch and stops on a loss
that diverges. The nets train and embed; measuring distances from the
embeddings is the estimator's job. Batches are slices of tensors, drawn
without any per-sample Python work, so a training epoch costs about what a
hand-written loop does.
"""

import signal
import threading
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.hf import AccelerateMixin
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import Subset

from ._progress import epoch_logger
from ._chunking import row_blocks
from .losses import ANOMALY, IBLoss

# Inference blocks aim at activations that stay in the cache, but hold no
# fewer rows than this, below which each block's overhead dominates.
# Measured on one thread: the MLP (3.5 KB of activations per row) embeds
# fastest at 512 to 1,024 rows a block, the MNIST CNN (about 400 KB per row)
# at 64 to 128.
MIN_INFERENCE_ROWS = 64

# Deep SVDD's fix: a fixed centre coordinate this close to zero is moved to
# +-eps, since zero coordinates are trivially matched by zero weights.
CENTER_EPS = 0.1

# A training batch loss this many times the first one has diverged. Far too
# high a learning rate makes the loss jump by orders of magnitude after the
# first steps, and it can stay finite for a whole fit.
DIVERGENCE_FACTOR = 1e6


class DeepDescriptionModule(nn.Module):
    """An encoder together with the centres of the classes it describes.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of samples to embeddings of size ``embedding_dim``.
    n_centers : int
        Number of centres, one per known normal class.
    embedding_dim : int
        Size of the encoder's output.
    learn_centers : bool, default=True
        Whether the centres are trained with the encoder (a parameter) or fixed
        after initialisation (a buffer). One fixed centre is Deep SVDD.
    transformation : torch.nn.Module, default=None
        Maps a batch to ``n_views`` views of each sample (see
        :mod:`ibdetect.transformations`). A sample's embedding is then its
        views' embeddings side by side, of size ``n_views * embedding_dim``,
        and each class has a centre per view: ``n_centers * n_views`` rows of
        ``embedding_dim``, class-major.
    """

    def __init__(self, encoder, n_centers, embedding_dim, learn_centers=True, transformation=None):
        super().__init__()
        self.encoder = encoder
        self.transformation = transformation
        self.n_views = 1 if transformation is None else transformation.n_views
        centers = torch.zeros(n_centers * self.n_views, embedding_dim)
        if learn_centers:
            self.centers = nn.Parameter(centers)
        else:
            self.register_buffer("centers", centers)
        # Saved with the weights, so that resumed training keeps the centres.
        self.register_buffer("centers_initialized", torch.tensor(False))

    def __setstate__(self, state):
        # Pickles of version 0.2.0 predate the views: they embed samples alone.
        state.setdefault("n_views", 1)
        state["_modules"].setdefault("transformation", None)
        super().__setstate__(state)

    def forward(self, x):
        if self.transformation is None:
            return self.encoder(x)
        views = self.transformation(x)
        # One pass of the encoder over every view of the batch.
        return self.encoder(views.flatten(0, 1)).reshape(len(views), -1)

    def per_view(self, embeddings, target):
        """Embeddings and targets with one row per view, as the centres are laid out.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (n_samples, n_views * embedding_dim)
        target : torch.Tensor of shape (n_samples,)
            Class indices, or ``ANOMALY`` (-1), which every view keeps.

        Returns
        -------
        embeddings : torch.Tensor of shape (n_samples * n_views, embedding_dim)
        target : torch.Tensor of shape (n_samples * n_views,)
            View ``t`` of class ``c`` is centre ``c * n_views + t``.
        """
        if self.n_views == 1:
            return embeddings, target
        views = torch.arange(self.n_views, device=target.device)
        per_view = torch.where(target[:, None] == ANOMALY, ANOMALY, target[:, None] * self.n_views + views)
        return embeddings.reshape(-1, self.centers.shape[1]), per_view.flatten()


class _TensorDataset(torch.utils.data.Dataset):
    """Samples and optional targets held as tensors, for batch slicing.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, ...)
    y : array-like or torch.Tensor of shape (n_samples,), default=None
    """

    def __init__(self, X, y=None):
        self.read_only = isinstance(X, np.ndarray) and not X.flags.writeable
        self.X = _as_tensor(X)
        self.y = None if y is None else _as_tensor(y)
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} samples but y has {len(self.y)}.")

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        X = self.X[index]
        # A slice is a view: an encoder writing to its input must not reach
        # read-only memory.
        if self.read_only and isinstance(index, slice):
            X = X.clone()
        return X, (None if self.y is None else self.y[index])


def _as_tensor(values):
    """``values`` as a tensor that shares their memory, read-only arrays included."""
    if isinstance(values, torch.Tensor):
        return values
    values = np.asarray(values)
    with warnings.catch_warnings():
        # A read-only array (e.g. a memmap opened for reading, possibly larger
        # than memory) is shared rather than copied whole; the dataset hands
        # out copies of its batches, so nothing writes to it.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(values)


class _TensorBatchIterator:
    """Iterate over a ``TensorDataset`` (or a ``Subset`` of one) in batches.

    A drop-in for ``torch.utils.data.DataLoader`` as skorch's ``iterator_train``
    and ``iterator_valid``: each batch is one indexing operation on the tensors,
    shuffled with torch's random generator, so seeding torch seeds the order.

    Parameters
    ----------
    dataset : _TensorDataset or torch.utils.data.Subset of one
    batch_size : int, default=128
    shuffle : bool, default=False
        Draw a new random order on each pass.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False):
        if isinstance(dataset, Subset):
            self.indices = torch.as_tensor(dataset.indices, dtype=torch.long)
            dataset = dataset.dataset
        else:
            self.indices = None
        if not isinstance(dataset, _TensorDataset):
            raise TypeError(f"Expected a _TensorDataset, got {type(dataset).__name__}.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self):
        return len(self._batch_bounds())

    def _n_samples(self):
        return len(self.dataset) if self.indices is None else len(self.indices)

    def _batch_bounds(self):
        n_samples = self._n_samples()
        starts = list(range(0, n_samples, self.batch_size))
        bounds = [(start, min(start + self.batch_size, n_samples)) for start in starts]
        # BatchNorm cannot train on a batch of one sample: merge a trailing
        # single sample into the previous batch instead of dropping it.
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds[-2:] = [(bounds[-2][0], n_samples)]
        return bounds

    def __iter__(self):
        order = None
        if self.shuffle:
            order = torch.randperm(self._n_samples())
        if self.indices is not None:
            order = self.indices if order is None else self.indices[order]
        for start, stop in self._batch_bounds():
            if order is None:
                yield self.dataset[start:stop]
            else:
                yield self.dataset[order[start:stop]]


class _TensorBatchNet(NeuralNet):
    """skorch ``NeuralNet`` fed with tensor slices, that stops on a diverging loss.

    The defaults differ from NeuralNet's in ``train_split=None``,
    ``iterator_train`` and ``iterator_valid`` (:class:`_TensorBatchIterator`) and
    ``iterator_train__shuffle=True``. A batch loss that is not finite, or a
    training batch loss more than ``DIVERGENCE_FACTOR`` times the first one of
    the fit, stops training with a ``FloatingPointError`` naming the epoch.

    skorch ends training quietly on a ``KeyboardInterrupt``, whether Ctrl-C
    or a callback such as ``EarlyStopping`` raised it. After ``fit`` or
    ``partial_fit``, ``training_interrupted_`` says whether it was Ctrl-C
    (SIGINT, noted when training runs in the main thread).

    Parameters
    ----------
    module : torch.nn.Module class or instance
    **kwargs
        Any other ``skorch.NeuralNet`` parameter.
    """

    def __init__(
        self,
        module,
        *args,
        train_split=None,
        iterator_train=_TensorBatchIterator,
        iterator_valid=_TensorBatchIterator,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            *args,
            train_split=train_split,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            **kwargs,
        )

    @property
    def _default_callbacks(self):
        # skorch's PrintLog draws a table with colour codes; the epoch logger
        # draws a bar over epochs on a terminal and plain lines elsewhere.
        return [
            (name, epoch_logger() if name == "print_log" else callback)
            for name, callback in super()._default_callbacks
        ]

    def _set_training(self, training=True):
        # skorch sets the mode of every module before each batch; setting it
        # on each submodule when nothing changes costs a small network a few
        # percent of its training step, reading it much less.
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        parts = (part for module in modules if isinstance(module, nn.Module) for part in module.modules())
        if any(part.training != training for part in parts):
            super()._set_training(training)

    def get_dataset(self, X, y=None):
        if isinstance(X, (_TensorDataset, Subset)):
            return X
        return _TensorDataset(X, y)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # partial_fit swallows a KeyboardInterrupt and returns as if training
        # had finished. Callbacks raise one on purpose to stop training early
        # (EarlyStopping does), so only the signal itself tells that the user
        # pressed Ctrl-C.
        self.training_interrupted_ = False
        with _noting_interrupts(self):
            return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        key = "train_loss" if training else "valid_loss"
        problem = self._divergence(key, self.history[-1, "batches", -1, key])
        if problem is not None:
            raise FloatingPointError(
                f"The {key} {problem} at epoch {len(self.history)}, batch "
                f"{len(self.history[-1, 'batches'])}. Training diverged; lower lr, "
                "scale the input features, or raise weight_decay."
            )

    def _divergence(self, key, loss):
        """What is wrong with the batch loss ``loss``, or None when it looks sane."""
        if not np.isfinite(loss):
            return f"became {loss}"
        first = self._first_batch_loss() if key == "train_loss" else None
        if first is not None and first > 0 and loss > DIVERGENCE_FACTOR * first:
            return f"grew to {loss:.3g}, over {DIVERGENCE_FACTOR:.0e} times the first batch's {first:.3g},"
        return None

    def _first_batch_loss(self):
        # The loss of the network as initialised, before any step: the scale
        # a sane training stays below.
        batches = self.history[0].get("batches", [])
        return batches[0].get("train_loss") if batches else None


class DeepDescriptionNet(_TensorBatchNet):
    """skorch net training a :class:`DeepDescriptionModule` with a description loss.

    The criterion is called as ``criterion(embeddings, target, centers)`` and
    returns :class:`~ibdetect.losses.LossTerms`; targets are class indices, or
    ``-1`` for known anomalies. Before the first epoch the centres are set to
    the class means of the embeddings of the training data (fixed centres then
    move away from zero by ``CENTER_EPS`` per coordinate). Each epoch's history
    row gets ``train_compactness``, ``train_separation`` and, when known
    anomalies are present, ``train_anomaly`` (and the ``valid_`` ones with a
    validation split).

    Parameters
    ----------
    module : DeepDescriptionModule class or instance
    criterion : DescriptionLoss class or instance, default=IBLoss
    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs the module's forward passes of training and
        validation under ``torch.autocast`` in bfloat16; weights, centres
        and the loss stay in float32, and :meth:`embed` computes in float32.
    **kwargs
        Any other ``skorch.NeuralNet`` parameter. The defaults differ from
        NeuralNet's in ``train_split=None`` and in batches sliced from tensors,
        shuffled on each training pass.
    """

    def __init__(self, module, *args, criterion=IBLoss, precision="float32", **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.precision = precision

    def __setstate__(self, state):
        # Nets pickled by version 0.2.0 trained in float32.
        state.setdefault("precision", "float32")
        super().__setstate__(state)

    def infer(self, x, **fit_params):
        if self.precision == "float32":
            return super().infer(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=getattr(torch, self.precision)):
            embeddings = super().infer(x, **fit_params)
        # Distances to the centres lose too much in bfloat16.
        return embeddings.float()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        module = self._description_module()
        y_pred, target = module.per_view(y_pred, y_true.to(self.device))
        terms = self.criterion_(y_pred, target, module.centers)
        self._accumulate_terms(terms, len(target), training)
        return terms.total

    def _description_module(self):
        """The :class:`DeepDescriptionModule`, with its centres."""
        return self.module_

    # Loss parts are summed on the device and read once per epoch, so logging
    # them adds no synchronisation to the batches. Private state ends in "_"
    # because skorch treats every other attribute as a parameter.
    def _accumulate_terms(self, terms, batch_size, training):
        parts = torch.stack([terms.compactness, terms.separation, terms.anomaly]).detach()
        sums, count = self._term_sums_.get(training, (0.0, 0))
        self._term_sums_[training] = (sums + parts * batch_size, count + batch_size)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        # Read from the targets of each fit, not when the centres are placed:
        # centres restored from a checkpoint or kept from an earlier fit skip
        # that step.
        self._has_anomalies_ = y is not None and bool(torch.as_tensor(y).eq(ANOMALY).any())

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        # An interrupted epoch leaves its sums behind; no device tensor may
        # stay to be pickled.
        self._term_sums_ = {}

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self._term_sums_ = {}
        if not self._description_module().centers_initialized:
            self.initialize_centers(dataset_train)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        # Emptied after reading so that no device tensor is left to pickle.
        term_sums, self._term_sums_ = self._term_sums_, {}
        for training, (sums, count) in term_sums.items():
            prefix = "train" if training else "valid"
            compactness, separation, anomaly = (sums / count).tolist()
            self.history.record(f"{prefix}_compactness", compactness)
            self.history.record(f"{prefix}_separation", separation)
            if self._has_anomalies_:
                self.history.record(f"{prefix}_anomaly", anomaly)

    @torch.no_grad()
    def initialize_centers(self, dataset):
        """Set the centres to the class means of the embeddings of ``dataset``.

        Runs the encoder in evaluation mode over the normal samples (targets
        ``>= 0``), batch by batch, so memory stays bounded by the batch size.
        BatchNorm statistics are first estimated on ``dataset``: the embedding
        the centres are taken from is then the one training starts from.
        """
        self._refresh_batch_norm_statistics(dataset)
        module = self._description_module()
        n_centers, dim = module.centers.shape
        sums = torch.zeros(n_centers, dim, dtype=torch.float64, device=self.device)
        counts = torch.zeros(n_centers, dtype=torch.float64, device=self.device)
        for X_batch, y_batch in self.get_iterator(dataset, training=False):
            embeddings, target = module.per_view(self.evaluation_step((X_batch, y_batch)), y_batch.to(self.device))
            normal = target != ANOMALY
            embeddings = embeddings.double()
            sums.index_add_(0, target[normal], embeddings[normal])
            counts.index_add_(0, target[normal], torch.ones_like(target[normal], dtype=torch.float64))
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(f"No training sample of centre(s) {missing}; cannot place them.")
        centers = sums / counts.unsqueeze(1)
        if not isinstance(module.centers, nn.Parameter):
            centers = _away_from_zero(centers, CENTER_EPS)
        module.centers.copy_(centers.to(module.centers.dtype))
        module.centers_initialized.fill_(True)

    @torch.no_grad()
    def _refresh_batch_norm_statistics(self, dataset):
        # Before any training step the running statistics are the defaults
        # (mean 0, variance 1): evaluation mode would then leave activations
        # unnormalised, at the scale of the raw input, far from where training
        # puts them. One pass in training mode with a cumulative average sets
        # them to the statistics of the data.
        norms = [m for m in self.module_.modules() if isinstance(m, _BatchNorm)]
        if not norms:
            return
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
        self.module_.train()
        for X_batch, _ in self.get_iterator(dataset, training=False):
            self.module_(X_batch.to(self.device))
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum

    @torch.no_grad()
    def embed(self, X, working_memory=None):
        """Embeddings of ``X`` as a float32 array of shape (n_samples, n_views * embedding_dim).

        The encoder runs in evaluation mode on consecutive blocks of rows,
        straight on slices of ``X`` (no data loader, so a single row costs
        about one forward pass). A block's activations take at most
        ``working_memory`` MiB (scikit-learn's setting, None for the global
        one), whatever the training ``batch_size``, and no more than fit in
        the cache unless that leaves fewer than ``MIN_INFERENCE_ROWS`` rows;
        each block's embeddings are copied into one preallocated array.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        working_memory : float, default=None

        Returns
        -------
        embeddings : ndarray of float32 of shape (n_samples, n_views * embedding_dim)
            With a ``transformation``, each sample's views side by side.
        """
        dataset = self.get_dataset(X)
        self._set_training(False)
        embeddings = None
        row_bytes = self._activation_bytes_per_row(dataset)
        for rows in row_blocks(len(dataset), row_bytes, working_memory, MIN_INFERENCE_ROWS):
            batch = self.module_(dataset[rows][0].to(self.device))
            if embeddings is None:
                embeddings = np.empty((len(dataset), batch.shape[1]), dtype=np.float32)
            embeddings[rows] = batch.cpu().numpy()
        return embeddings

    @torch.no_grad()
    def activation_bytes(self, X):
        """Bytes of a row's input and of every layer's output in inference, measured on the first row of ``X``."""
        return self._activation_bytes_per_row(self.get_dataset(X))

    def _activation_bytes_per_row(self, dataset):
        """Bytes of one row's input and of every layer's output, measured once on a first row.

        Their sum bounds the memory of inference per row: without gradients,
        each intermediate output is freed once the next layer has read it.
        """
        if getattr(self, "activation_bytes_", None) is None:
            sizes = []
            leaves = [module for module in self.module_.modules() if next(module.children(), None) is None]
            hooks = [leaf.register_forward_hook(lambda _, __, out: sizes.append(_nbytes(out))) for leaf in leaves]
            try:
                sample = dataset[:1][0].to(self.device)
                self.module_(sample)
            finally:
                for hook in hooks:
                    hook.remove()
            self.activation_bytes_ = _nbytes(sample) + sum(sizes)
        return self.activation_bytes_


class AcceleratedDeepDescriptionNet(AccelerateMixin, DeepDescriptionNet):
    """:class:`DeepDescriptionNet` training through Hugging Face accelerate.

    skorch's ``AccelerateMixin`` runs each training step through
    ``accelerator`` (distributed data parallel over several GPUs or
    machines, mixed precision, gradient accumulation), launched as usual with
    ``accelerate launch``. The tensor batches here are not a data loader that
    accelerate could shard and place, so the net does both: each process
    trains on its share of every epoch's shuffled batches (the few left over
    by an uneven split are skipped, so that all processes step together), and
    batches move to ``device``. The shares are disjoint when every process
    draws the same order, i.e. is seeded alike (an int ``random_state`` of the
    estimator). Evaluation (centres, validation, embedding) runs on every
    batch in every process, and with ``verbose`` every process logs.

    Parameters
    ----------
    module : DeepDescriptionModule class or instance
    accelerator : accelerate.Accelerator
    device : str or torch.device
        The accelerator's device, ``accelerator.device``.
    **kwargs
        Any other parameter of :class:`DeepDescriptionNet`.
    """

    def __init__(self, module, *args, accelerator, **kwargs):
        super().__init__(module, *args, accelerator=accelerator, **kwargs)
        # The mixin sends the epoch log to the accelerator's print, which
        # ignores verbose, and which the progress bar cannot take: the epoch
        # logger keeps its own output.
        del self.callbacks__print_log__sink

    def _initialize_callbacks(self):
        return DeepDescriptionNet._initialize_callbacks(self)

    def _validate_params(self):
        # The mixin asks for device=None when the accelerator places data,
        # which it does only for data loaders: these batches need skorch's
        # placement on the accelerator's device.
        DeepDescriptionNet._validate_params(self)

    def get_iterator(self, dataset, training=False):
        iterator = DeepDescriptionNet.get_iterator(self, dataset, training=training)
        if not training:
            return iterator
        return _ProcessShare(iterator, self.accelerator.num_processes, self.accelerator.process_index)

    def evaluation_step(self, batch, training=False):
        # The mixin gathers outputs from all processes, for evaluation batches
        # split among them; here every process evaluates every batch itself.
        return DeepDescriptionNet.evaluation_step(self, batch, training=training)

    def _description_module(self):
        # Data parallel training wraps the module, which hides its centres.
        return self.accelerator.unwrap_model(self.module_)


class _ProcessShare:
    """Every ``n_processes``-th batch of ``iterator``, from ``index`` on, as many for each process."""

    def __init__(self, iterator, n_processes, index):
        self.iterator = iterator
        self.n_processes = n_processes
        self.index = index

    def __len__(self):
        return len(self.iterator) // self.n_processes

    def __iter__(self):
        batches = iter(self.iterator)
        for _ in range(len(self)):
            group = [next(batches) for _ in range(self.n_processes)]
            yield group[self.index]


class Autoencoder(nn.Module):
    """An encoder followed by a decoder; returns flat reconstructions.

    Parameters
    ----------
    encoder : torch.nn.Module
    decoder : torch.nn.Module
        Maps embeddings back to flat rows of the encoder's input size.
    """

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


class AutoencoderNet(_TensorBatchNet):
    """skorch net training an :class:`Autoencoder` to reconstruct its input.

    The loss is the criterion (mean squared error by default) between the
    reconstruction and the flat input; targets are not used. Training it moves
    the encoder's weights, which is how deep data description pretrains them.

    Parameters
    ----------
    module : Autoencoder class or instance
    criterion : torch loss class or instance, default=torch.nn.MSELoss
    **kwargs
        Any other ``skorch.NeuralNet`` parameter. The defaults differ from
        NeuralNet's in ``train_split=None`` and in batches sliced from tensors,
        shuffled on each training pass.
    """

    def __init__(self, module, *args, criterion=nn.MSELoss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, X.to(self.device).flatten(1))


@contextmanager
def _noting_interrupts(net):
    """Set ``net.training_interrupted_`` when SIGINT arrives, then handle it as before.

    Python lets only the main thread set signal handlers; elsewhere, and
    when SIGINT is ignored or left to the system, nothing changes.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return

    def note_and_pass_on(signum, frame):
        net.training_interrupted_ = True
        previous(signum, frame)

    signal.signal(signal.SIGINT, note_and_pass_on)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _nbytes(output):
    """Bytes of a layer's output: a tensor, or a tuple of them."""
    if isinstance(output, torch.Tensor):
        return output.numel() * output.element_size()
    return sum(_nbytes(part) for part in output) if isinstance(output, (tuple, list)) else 0


def _away_from_zero(centers, eps):
    small = centers.abs() < eps
    signs = torch.where(centers < 0, -1.0, 1.0).to(centers.dtype)
    return torch.where(small, signs * eps, centers)
