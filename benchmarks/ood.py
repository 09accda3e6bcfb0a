"""Out-of-distribution images for the ``ood`` protocol.

Every class of an image data set is known: 60% of its rows train, with their
labels, and the other 40% test beside as many images of another source (at
most ``MAX_PER_SOURCE``), which are the anomalies. Each source is a setting
of the protocol:

* ``patches``: grey square patches of the photographs that ship with
  scikit-learn (``china.jpg`` and ``flower.jpg``), shrunk to the data set's
  image size;
* ``gaussian``: pixels drawn independently from a normal distribution;
* ``uniform``: pixels drawn independently from a uniform distribution;
* ``blobs``: smooth shapes with sharp edges, uniform noise smoothed by a
  Gaussian filter and thresholded, as Hendrycks et al. (2019, "Deep anomaly
  detection with outlier exposure") make them.

Every source is drawn on [0, 1], then put on the data set's pixel range with
its mean intensity (see ``_on_data_scale``). Nothing is downloaded, and the
images are a function of the seed alone.

The sources of a split share its training rows, so a method fits once per
split and scores the images of every source at once (see ``OODSplit``).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from sklearn.datasets import load_sample_images

from .data import Dataset
from .protocols import Split, designated_splits

SOURCES = ("patches", "gaussian", "uniform", "blobs")
N_SPLITS = 5
TRAIN_FRACTION = 0.6
MAX_PER_SOURCE = 1000
# Sides of the square patches cut from the 427 x 640 photographs, in pixels:
# from a detail to a fair part of the scene, always larger than the images
# they are shrunk to.
PATCH_SIDES = (32, 160)
# The Gaussian noise before it is put on the data set's scale: centred in
# [0, 1], a quarter of it wide, so that little of it is clipped.
NOISE_MEAN, NOISE_STD = 0.5, 0.25
# The blobs' smoothing as a share of the image side: 1.5 pixels on the 32 x 32
# images of Hendrycks et al.
BLOB_SIGMA = 1.5 / 32


@dataclass(frozen=True)
class OODDataset(Dataset):
    """A data set's own rows followed by images of other sources.

    Its ``X`` and ``y`` begin with the rows of the data set it was made from,
    in their order; the other rows are those of ``SOURCES``, labelled -1.

    Attributes
    ----------
    source : ndarray of str
        For each row, the source it was drawn from; ``""`` for the data set's own.
    draw : ndarray of int
        For each row of another source, the split it is tested in; -1 for
        the data set's own rows, which every split shares.
    """

    source: np.ndarray = None
    draw: np.ndarray = None


@dataclass(frozen=True)
class OODSplit(Split):
    """A split of the ``ood`` protocol: one draw's test rows for every source.

    Its test rows are the data set's own test rows followed by the images of
    every source of the draw, so that one fit scores them all.

    Attributes
    ----------
    settings : dict of str to ndarray of bool
        For each source, in ``SOURCES`` order, the test rows its metrics are
        computed on: the data set's own test rows and that source's images.
    """

    settings: dict = None


def ood_images(dataset, source, n, seed):
    """``n`` images of ``source`` on the pixel scale of ``dataset``.

    Parameters
    ----------
    dataset : Dataset
        A data set of grey images (``image_shape`` of one channel).
    source : {"patches", "gaussian", "uniform", "blobs"}
    n : int
    seed : int or sequence of int
        Seeds :func:`numpy.random.default_rng`; the same seed, the same images.

    Returns
    -------
    X : ndarray of shape (n, n_features), float32
        Flat rows, as ``dataset.X`` holds its images.
    """
    height, width = _grey_image_size(dataset)
    rng = np.random.default_rng(seed)
    low, high, mean = float(dataset.X.min()), float(dataset.X.max()), float(dataset.X.mean())
    if source == "blobs":
        images = _blobs(rng, n, height, width, (mean - low) / (high - low))
        images = low + (high - low) * images
    else:
        draw = {"patches": _patches, "gaussian": _gaussian_noise, "uniform": _uniform_noise}[source]
        images = _on_data_scale(draw(rng, n, height, width), low, high, mean)
    return images.reshape(n, -1).astype(np.float32)


def _grey_image_size(dataset):
    if dataset.is_table or dataset.image_shape[0] != 1:
        raise ValueError(f"the ood protocol needs grey images; {dataset.name} has image shape {dataset.image_shape}")
    return dataset.image_shape[-2:]


@lru_cache(maxsize=1)
def _grey_photographs():
    """scikit-learn's two sample photographs in grey (ITU-R BT.601 luma), on [0, 1]."""
    weights = np.array([0.299, 0.587, 0.114])
    photographs = tuple((image @ weights / 255.0).astype(np.float32) for image in load_sample_images().images)
    for photograph in photographs:
        photograph.setflags(write=False)
    return photographs


def _patches(rng, n, height, width):
    """Square patches of random size and place, each averaged down to ``height`` x ``width``."""
    photographs = _grey_photographs()
    images = np.empty((n, height, width), np.float32)
    for i in range(n):
        photograph = photographs[rng.integers(len(photographs))]
        side = rng.integers(PATCH_SIDES[0], PATCH_SIDES[1] + 1)
        top = rng.integers(photograph.shape[0] - side + 1)
        left = rng.integers(photograph.shape[1] - side + 1)
        patch = torch.from_numpy(np.ascontiguousarray(photograph[top:top + side, left:left + side]))
        # Area averaging: each output pixel is the mean of the pixels it
        # covers, so shrinking does not alias fine texture into noise.
        images[i] = torch.nn.functional.interpolate(patch[None, None], size=(height, width), mode="area")[0, 0].numpy()
    return images


def _gaussian_noise(rng, n, height, width):
    return np.clip(rng.normal(NOISE_MEAN, NOISE_STD, (n, height, width)), 0, 1)


def _uniform_noise(rng, n, height, width):
    return rng.uniform(0, 1, (n, height, width))


def _blobs(rng, n, height, width, fraction):
    """Binary images whose brightest ``fraction`` of smoothed noise is 1.

    Thresholding each image at its own rank, rather than at a fixed level,
    lights the same share of pixels in every image: the data set's mean.
    """
    sigma = BLOB_SIGMA * max(height, width)
    smooth = gaussian_filter(rng.uniform(0, 1, (n, height, width)), sigma=(0, sigma, sigma), mode="wrap")
    flat = smooth.reshape(n, -1)
    n_lit = int(round(fraction * flat.shape[1]))
    ranks = flat.argsort(axis=1).argsort(axis=1)
    return (ranks >= flat.shape[1] - n_lit).astype(np.float32).reshape(n, height, width)


def _on_data_scale(images, low, high, mean, n_halvings=40):
    """Images on [0, 1] stretched to [``low``, ``high``], with mean ``mean`` each.

    Each image is stretched to fill [0, 1], then bent by a power curve
    ``u ** gamma`` whose ``gamma`` (found by halving an interval of its
    logarithm) gives the image the data set's mean, then mapped linearly onto
    the data set's range. Without this a detector would win by the pixel
    range or the brightness alone: noise on [0, 1] averages 0.5, four times
    an MNIST digit's 0.13, and Gaussian noise would leave the range. The
    sources should differ from the data in their structure only.
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    lowest, spread = flat.min(axis=1, keepdims=True), np.ptp(flat, axis=1, keepdims=True)
    flat = (flat - lowest) / np.maximum(spread, 1e-12)
    target = (mean - low) / (high - low)
    # The mean of u ** gamma falls as gamma grows; e**-8 to e**8 covers any
    # mean a data set of images is likely to have.
    lower, upper = np.full((len(flat), 1), -8.0), np.full((len(flat), 1), 8.0)
    for _ in range(n_halvings):
        middle = (lower + upper) / 2
        too_bright = (flat ** np.exp(middle)).mean(axis=1, keepdims=True) > target
        lower, upper = np.where(too_bright, middle, lower), np.where(too_bright, upper, middle)
    return (low + (high - low) * flat ** np.exp((lower + upper) / 2)).reshape(images.shape)


def n_per_source(dataset, max_per_source=MAX_PER_SOURCE):
    """Images of each source per split: as many as the test's own rows, at most ``max_per_source``."""
    return min(max_per_source, round((1 - TRAIN_FRACTION) * len(dataset.y)))


def with_ood_rows(dataset, seed=0, n_splits=N_SPLITS, max_per_source=MAX_PER_SOURCE):
    """The data set followed by fresh images of every source for each split.

    Parameters
    ----------
    dataset : Dataset
        A data set of grey images.
    seed : int, default=0
    n_splits : int, default=N_SPLITS
    max_per_source : int, default=MAX_PER_SOURCE

    Returns
    -------
    OODDataset
    """
    n = n_per_source(dataset, max_per_source)
    blocks = [(draw, k, source) for draw in range(n_splits) for k, source in enumerate(SOURCES)]
    X = np.concatenate([dataset.X] + [ood_images(dataset, source, n, (seed, draw, k)) for draw, k, source in blocks])
    n_own = len(dataset.y)
    return OODDataset(
        dataset.name, X, np.concatenate([dataset.y, np.full(n * len(blocks), -1)]),
        dataset.image_shape, dataset.normal_classes,
        source=np.concatenate([np.full(n_own, ""), np.repeat([source for _, _, source in blocks], n)]),
        draw=np.concatenate([np.full(n_own, -1), np.repeat([draw for draw, _, _ in blocks], n)]),
    )


def ood_splits(dataset, seed=0):
    """The protocol's splits of the rows of :func:`with_ood_rows`, one per draw.

    Split ``i`` trains on 60% of the data set's own rows, every class with its
    labels, drawn with seed ``seed + i``; it tests the other 40% and the
    images of every source of draw ``i``, each source a setting of its own
    (see ``OODSplit.settings``).

    Parameters
    ----------
    dataset : OODDataset
    seed : int, default=0

    Returns
    -------
    splits : list of OODSplit
    """
    if not isinstance(dataset, OODDataset):
        raise TypeError("the ood protocol splits the rows of ood.with_ood_rows(dataset)")
    own = dataset.draw == -1
    in_distribution = designated_splits(
        dataset.y[own], np.unique(dataset.y[own]), n_splits=dataset.draw.max() + 1,
        train_fraction=TRAIN_FRACTION, seed=seed,
    )
    splits = []
    for i, split in enumerate(in_distribution):
        # The own rows come first, so their indices hold in the whole data set.
        anomalies = np.flatnonzero(dataset.draw == i)
        test = np.concatenate([split.test, anomalies])
        is_anomaly = np.concatenate([np.zeros(len(split.test), bool), np.ones(len(anomalies), bool)])
        source = dataset.source[test]
        settings = {s: (source == "") | (source == s) for s in SOURCES}
        splits.append(OODSplit(f"rows={i}", split.train, test, is_anomaly, settings=settings))
    return splits
