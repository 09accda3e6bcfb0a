"""Encoders that map samples to embeddings for deep data description.

Every layer is bias-free and every BatchNorm has no affine parameters: with a
fixed centre, a bias (or BatchNorm's shift) lets the network map all inputs onto
the centre, the trivial "hypersphere collapse" solution of Deep SVDD. No
bounded activation follows the last layer for the same reason.

An encoder is any ``torch.nn.Module`` taking a batch of shape ``(n, *input_shape)``
or ``(n, prod(input_shape))`` and returning ``(n, embedding_dim)``. The
estimator builds the ones here from ``input_shape`` and ``embedding_dim``
keyword arguments; a user's encoder class is called the same way.
"""

import math

from torch import nn

__all__ = ["CNNEncoder", "MLPEncoder"]


class MLPEncoder(nn.Module):
    """Fully connected encoder for tabular rows.

    Each hidden layer is ``Linear -> BatchNorm1d -> LeakyReLU``; a final linear
    layer gives the embedding.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample; it is flattened, so ``(n_features,)`` is typical.
    embedding_dim : int, default=32
        Size of the embedding.
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Width of each hidden layer.
    negative_slope : float, default=0.01
        Slope of the LeakyReLU for negative inputs.

    Examples
    --------
    >>> import torch
    >>> from ibdetect.encoders import MLPEncoder
    >>> encoder = MLPEncoder(input_shape=(10,), embedding_dim=4).eval()
    >>> encoder(torch.zeros(3, 10)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self, input_shape, embedding_dim=32, hidden_layer_sizes=(256, 128), negative_slope=0.01
    ):
        super().__init__()
        layers = []
        n_in = math.prod(input_shape)
        for width in hidden_layer_sizes:
            layers += [
                nn.Linear(n_in, width, bias=False),
                nn.BatchNorm1d(width, affine=False),
                nn.LeakyReLU(negative_slope),
            ]
            n_in = width
        layers.append(nn.Linear(n_in, embedding_dim, bias=False))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(1))


class CNNEncoder(nn.Module):
    """LeNet-type convolutional encoder for images, as used by Deep SVDD.

    Each block is ``Conv2d -> BatchNorm2d -> LeakyReLU -> MaxPool2d(2)``; a
    linear layer maps the last feature maps to the embedding.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one image. Flat rows of
        ``prod(input_shape)`` values are reshaped to it.
    embedding_dim : int, default=32
        Size of the embedding.
    channels : tuple of int, default=(8, 4)
        Output channels of each convolutional block.
    kernel_size : int, default=5
        Side of the square convolution kernels (odd, padded to keep the size).
    negative_slope : float, default=0.01
        Slope of the LeakyReLU for negative inputs.

    Examples
    --------
    >>> import torch
    >>> from ibdetect.encoders import CNNEncoder
    >>> encoder = CNNEncoder(input_shape=(1, 28, 28), embedding_dim=32).eval()
    >>> encoder(torch.zeros(2, 784)).shape
    torch.Size([2, 32])
    """

    def __init__(
        self, input_shape, embedding_dim=32, channels=(8, 4), kernel_size=5, negative_slope=0.01
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"CNNEncoder needs input_shape=(channels, height, width), got {input_shape}."
            )
        n_channels, height, width = input_shape
        if min(height, width) < 2 ** len(channels):
            raise ValueError(
                f"Images of {height}x{width} are too small for {len(channels)} blocks "
                f"that each halve the size; use fewer channels."
            )
        self.input_shape = tuple(input_shape)
        blocks = []
        for n_out in channels:
            blocks += [
                nn.Conv2d(n_channels, n_out, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm2d(n_out, affine=False),
                nn.LeakyReLU(negative_slope),
                nn.MaxPool2d(2),
            ]
            n_channels = n_out
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(n_channels * height * width, embedding_dim, bias=False)

    def forward(self, x):
        x = x.reshape(-1, *self.input_shape)
        return self.head(self.features(x).flatten(1))
