"""The skorch nets behind the estimator, for users who write their own training.

:class:`DeepDescriptionNet` trains a :class:`DeepDescriptionModule` (an encoder
and its class centres) with a description loss; :class:`AutoencoderNet`
pretrains an encoder as half of an :class:`Autoencoder`. Both take numpy
arrays or tensors and any ``skorch.NeuralNet`` parameter.
:class:`AcceleratedDeepDescriptionNet` trains through Hugging Face accelerate.
"""

from ._net import (
    AcceleratedDeepDescriptionNet,
    Autoencoder,
    AutoencoderNet,
    DeepDescriptionModule,
    DeepDescriptionNet,
)

__all__ = [
    "AcceleratedDeepDescriptionNet",
    "Autoencoder",
    "AutoencoderNet",
    "DeepDescriptionModule",
    "DeepDescriptionNet",
]
