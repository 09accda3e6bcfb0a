"""Encoders that map samples to embeddings for deep data description.

Every layer is bias-free and every BatchNorm has no affine parameters: with a
fixed centre, a bias (or BatchNorm's shift) lets the network map all inputs onto
the centre, the trivial "hypersphere collapse" solution of Deep SVDD. No
bounded activation follows the last layer for the same reason.

An encoder is any ``torch.nn.Module`` taking a batch of shape ``(n, *input_shape)``
or ``(n, prod(input_shape))`` and returning ``(n, embedding_dim)``. The
estimator builds the ones here from ``input_shape`` and ``embedding_dim``
keyword arguments; a user's encoder class is called the same way. An encoder
with a ``decoder()`` method, as the ones here have, can be pretrained as an
autoencoder: the method returns a new module mapping embeddings back to flat
rows of ``prod(input_shape)`` values. Decoders are thrown away after
pretraining, so they may use biases.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CNNDecoder", "CNNEncoder", "MLPDecoder", "MLPEncoder"]


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
        self.input_shape = tuple(input_shape)
        self.embedding_dim = embedding_dim
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.negative_slope = negative_slope

    def forward(self, x):
        return self.layers(x.flatten(1))

    def decoder(self):
        """A new :class:`MLPDecoder` mirroring this encoder's layers."""
        return MLPDecoder(
            output_shape=self.input_shape,
            embedding_dim=self.embedding_dim,
            hidden_layer_sizes=self.hidden_layer_sizes[::-1],
            negative_slope=self.negative_slope,
        )


class MLPDecoder(nn.Module):
    """Fully connected decoder from embeddings back to flat rows.

    Parameters
    ----------
    output_shape : tuple of int
        Shape of one reconstructed sample; the output is flat.
    embedding_dim : int
        Size of the embedding.
    hidden_layer_sizes : tuple of int
        Width of each hidden layer, from the embedding outwards.
    negative_slope : float, default=0.01
        Slope of the LeakyReLU for negative inputs.
    """

    def __init__(self, output_shape, embedding_dim, hidden_layer_sizes, negative_slope=0.01):
        super().__init__()
        layers = []
        n_in = embedding_dim
        for width in hidden_layer_sizes:
            layers += [nn.Linear(n_in, width), nn.BatchNorm1d(width), nn.LeakyReLU(negative_slope)]
            n_in = width
        layers.append(nn.Linear(n_in, math.prod(output_shape)))
        self.layers = nn.Sequential(*layers)

    def forward(self, z):
        return self.layers(z)


def _too_small_message(input_shape, n_blocks):
    """Why an image is too small for ``n_blocks`` blocks, with the likeliest fix.

    A shape given channels last, as numpy and PIL keep images, reads as a
    tall, narrow image of many channels: (8, 8, 1) is 8 channels of 8x1.
    Where the shape looks so, and the images would be large enough the
    other way round, the message says how to pass them channels first: a
    single channel needs only the shape reordered, several need each row's
    values reordered too, since a row is reshaped to ``input_shape``.
    """
    n_channels, height, width = input_shape
    message = (
        f"Images of {height}x{width} (input_shape is (channels, height, width), got {tuple(input_shape)}) "
        f"are too small for {n_blocks} blocks that each halve the size; give fewer blocks (channels, or "
        f"IBDeepDescription's hidden_layer_sizes)."
    )
    if width > 4 or min(n_channels, height) < 2**n_blocks:
        return message
    channels_first = (width, n_channels, height)
    fix = f"pass input_shape={channels_first}"
    if width > 1:
        fix += (
            f" and reorder each row's values to match: X.reshape(len(X), {n_channels}, {height}, {width})"
            f".transpose(0, 3, 1, 2).reshape(len(X), -1)"
        )
    return f"{message} If the rows hold {n_channels}x{height} images of {width} channel(s), channels last, {fix}."


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
    channels : tuple of int, default=(32, 64)
        Output channels of each convolutional block. Deep SVDD's network for
        MNIST has (8, 4); wider blocks describe small images, such as 8x8
        digits, much better, at a higher cost on large ones.
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
        self, input_shape, embedding_dim=32, channels=(32, 64), kernel_size=5, negative_slope=0.01
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"CNNEncoder needs input_shape=(channels, height, width), got {input_shape}."
            )
        n_channels, height, width = input_shape
        if not channels:
            raise ValueError("CNNEncoder needs at least one convolutional block in channels.")
        if min(height, width) < 2 ** len(channels):
            raise ValueError(_too_small_message(input_shape, len(channels)))
        self.input_shape = tuple(input_shape)
        self.embedding_dim = embedding_dim
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        self.negative_slope = negative_slope
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
        features = self._pooled_first(x) if self._may_pool_first() else self.features(x)
        return self.head(features.flatten(1))

    def _may_pool_first(self):
        # Only inference without gradients takes the shortcut: gradients
        # (explain's) and forward hooks (the activation sizes that bound
        # scoring memory, layer attributions) see the blocks as built, and
        # batch statistics differ before and after a pool. A subclass may
        # build other blocks.
        return (
            type(self) is CNNEncoder
            and not torch.is_grad_enabled()
            and not any(
                module.training or module._forward_hooks or module._forward_pre_hooks for module in self.features
            )
            and all(normalization.track_running_stats for normalization in self.features[1::4])
        )

    def _pooled_first(self, x):
        """The blocks' output in inference, for about half the work of running them in order.

        BatchNorm with its running statistics and no affine parameters
        subtracts a number from each channel and divides it by a positive one,
        and LeakyReLU is increasing, so both commute with the max-pool: applied
        to its quarter of the values they give the same features. Convolutions
        with channels-last weights run on the CPU's faster kernels, which may
        sum in another order (a difference of float rounding); the parameters
        themselves stay contiguous, as model files store them.
        """
        x = x.contiguous(memory_format=torch.channels_last)
        blocks = list(self.features)
        for convolution, normalization, activation, _ in zip(*[iter(blocks)] * 4):
            weight = convolution.weight.contiguous(memory_format=torch.channels_last)
            x = F.conv2d(x, weight, padding=convolution.padding)
            x = activation(normalization(_max_pool_2x2(x)))
        return x

    def decoder(self):
        """A new :class:`CNNDecoder` mirroring this encoder's blocks."""
        return CNNDecoder(
            output_shape=self.input_shape,
            embedding_dim=self.embedding_dim,
            channels=self.channels[::-1],
            kernel_size=self.kernel_size,
            negative_slope=self.negative_slope,
        )


def _max_pool_2x2(x):
    """``MaxPool2d(2)`` of ``x``, as the largest of its four interleaved quarters.

    The same values, bit for bit, faster on the CPU with channels-last
    images; an odd last row or column is dropped, as the pool drops it.
    Without gradients only: where values tie, ``torch.maximum`` splits the
    gradient between them and the pool gives it to one.
    """
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :height, :width]
    return torch.maximum(
        torch.maximum(x[..., 0::2, 0::2], x[..., 1::2, 0::2]), torch.maximum(x[..., 0::2, 1::2], x[..., 1::2, 1::2])
    )


class CNNDecoder(nn.Module):
    """Convolutional decoder from embeddings back to flat rows of images.

    A linear layer makes small feature maps; each block then doubles their size
    (``Upsample -> Conv2d -> BatchNorm2d -> LeakyReLU``); a last convolution
    gives the image channels, resized to the exact image size.

    Parameters
    ----------
    output_shape : tuple of int
        ``(channels, height, width)`` of one image; the output is flat.
    embedding_dim : int
        Size of the embedding.
    channels : tuple of int
        Channels of each block, from the embedding outwards.
    kernel_size : int, default=5
    negative_slope : float, default=0.01
    """

    def __init__(self, output_shape, embedding_dim, channels, kernel_size=5, negative_slope=0.01):
        super().__init__()
        n_channels, height, width = output_shape
        shrink = 2 ** len(channels)
        self.output_shape = tuple(output_shape)
        self.start_shape = (channels[0], height // shrink, width // shrink)
        self.head = nn.Linear(embedding_dim, math.prod(self.start_shape))
        blocks = []
        for n_in, n_out in zip(channels, channels[1:] + channels[-1:]):
            blocks += [
                nn.Upsample(scale_factor=2),
                nn.Conv2d(n_in, n_out, kernel_size, padding=kernel_size // 2),
                nn.BatchNorm2d(n_out),
                nn.LeakyReLU(negative_slope),
            ]
        blocks.append(nn.Conv2d(channels[-1], n_channels, kernel_size, padding=kernel_size // 2))
        self.features = nn.Sequential(*blocks)

    def forward(self, z):
        x = self.features(self.head(z).view(-1, *self.start_shape))
        # Halving rounds odd sizes down; doubling back may fall short of them.
        return nn.functional.interpolate(x, size=self.output_shape[1:]).flatten(1)
