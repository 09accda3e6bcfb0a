"""Fixed transformations that give one normal class classes to separate.

With a single normal class the IB loss has nothing to separate and reduces to
Deep SVDD's compactness. Each module here maps a batch of samples to a few
fixed *views* of each, view 0 being the sample itself; every view of every
known class is then a class of its own for the loss, so that the network must
learn what the normal data look like to tell the views apart, as geometric
transformation methods (GEOM, GOAD, CSI) do. A test sample whose views the
network cannot place is far from the normal data.

A transformation is any ``torch.nn.Module`` with an ``n_views`` attribute
whose ``forward`` maps flat rows of shape ``(n, n_features)`` to
``(n, n_views, n_features)``. The estimator's ``transformations`` parameter
builds the ones here; a module of your own plugs into
:class:`ibdetect.net.DeepDescriptionModule` (``transformation=``). The views
are computed per batch and never stored for a whole data set. Whatever fixes
them (random matrices) is kept in buffers, so that they travel with the
network's weights.
"""

import math

import torch
from torch import nn

__all__ = ["RandomAffine", "Rotations"]


class Rotations(nn.Module):
    """Rotations of images by multiples of 90 degrees, optionally mirrored.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one image, square: rows are reshaped
        to it.
    flips : bool, default=False
        Also the left-right mirror image of each rotation: 8 views instead of 4.

    Attributes
    ----------
    n_views : int
        4, or 8 with ``flips``; view 0 is the image itself.

    Examples
    --------
    >>> import torch
    >>> from ibdetect.transformations import Rotations
    >>> image = torch.arange(4.0).reshape(1, 4)  # one 1x2x2 image
    >>> Rotations((1, 2, 2))(image)
    tensor([[[0., 1., 2., 3.],
             [1., 3., 0., 2.],
             [3., 2., 1., 0.],
             [2., 0., 3., 1.]]])
    """

    def __init__(self, input_shape, flips=False):
        super().__init__()
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise ValueError(
                f"Rotations need square images, input_shape=(channels, side, side); got {tuple(input_shape)}."
            )
        self.input_shape = tuple(input_shape)
        self.flips = flips
        self.n_views = 8 if flips else 4

    def forward(self, x):
        images = x.reshape(-1, *self.input_shape)
        views = [torch.rot90(images, k, dims=(2, 3)) for k in range(4)]
        if self.flips:
            views += [view.flip(3) for view in views]
        return torch.stack(views, dim=1).reshape(len(images), self.n_views, -1)


class RandomAffine(nn.Module):
    """Fixed random affine maps of tabular rows, as GOAD uses.

    View 0 is the row itself; view ``t > 0`` is ``x @ W_t + b_t`` with
    ``W_t`` an ``n_features`` square matrix of independent standard normal
    entries scaled by ``1 / sqrt(n_features)`` (so that a scaled row keeps its
    scale) and ``b_t`` a standard normal vector. Drawn once from ``seed``.
    The maps take ``4 * n_views * n_features**2`` bytes, in memory and in a
    model file: 3 MB for 200 features, 300 MB for 3,072; they suit tables,
    not images.

    Parameters
    ----------
    n_features : int
        Number of features of a row.
    n_views : int, default=8
        Number of views, the row itself included.
    seed : int, default=0
        Seed of the maps; torch's global random state is untouched.

    Attributes
    ----------
    n_views : int
    weights : torch.Tensor of shape (n_views, n_features, n_features)
    biases : torch.Tensor of shape (n_views, n_features)

    Examples
    --------
    >>> import torch
    >>> from ibdetect.transformations import RandomAffine
    >>> views = RandomAffine(3, n_views=4)(torch.ones(2, 3))
    >>> views.shape
    torch.Size([2, 4, 3])
    >>> bool((views[:, 0] == 1).all())
    True
    """

    def __init__(self, n_features, n_views=8, seed=0):
        super().__init__()
        if n_views < 2:
            raise ValueError(f"RandomAffine needs n_views >= 2, got {n_views}.")
        self.n_views = n_views
        if torch.empty(0).is_meta:
            # Shapes only, as a network is built to check a file's tensors
            # against: nothing is drawn or allocated.
            self.register_buffer("weights", torch.empty(n_views, n_features, n_features))
            self.register_buffer("biases", torch.empty(n_views, n_features))
            return
        # Drawn on the CPU whatever the default device, so that a seed gives
        # the same maps everywhere.
        cpu = torch.device("cpu")
        generator = torch.Generator(cpu).manual_seed(seed)
        weights = torch.randn(n_views - 1, n_features, n_features, generator=generator, device=cpu)
        biases = torch.randn(n_views - 1, n_features, generator=generator, device=cpu)
        identity = torch.eye(n_features, device=cpu)[None]
        self.register_buffer("weights", torch.cat([identity, weights / math.sqrt(n_features)]))
        self.register_buffer("biases", torch.cat([torch.zeros(1, n_features, device=cpu), biases]))

    def forward(self, x):
        x = x.reshape(len(x), -1)
        return torch.einsum("nf,tfg->ntg", x, self.weights.to(x.dtype)) + self.biases.to(x.dtype)
