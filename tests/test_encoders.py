import pytest
import torch
from torch import nn

from ibdetect.encoders import CNNEncoder, MLPEncoder


@pytest.mark.parametrize("hidden", [(), (7,), (16, 8, 4)])
def test_mlp_encoder_maps_rows_to_embeddings(hidden):
    encoder = MLPEncoder(input_shape=(5,), embedding_dim=3, hidden_layer_sizes=hidden)
    assert encoder(torch.randn(4, 5)).shape == (4, 3)


@pytest.mark.parametrize("input_shape", [(1, 28, 28), (3, 8, 8), (1, 8, 12)])
def test_cnn_encoder_reshapes_flat_rows_to_images(input_shape):
    encoder = CNNEncoder(input_shape=input_shape, embedding_dim=6, channels=(4, 2))
    n_values = input_shape[0] * input_shape[1] * input_shape[2]
    flat = torch.randn(3, n_values)
    assert encoder(flat).shape == (3, 6)
    encoder.eval()
    torch.testing.assert_close(encoder(flat), encoder(flat.reshape(3, *input_shape)))


@pytest.mark.parametrize("encoder", [
    MLPEncoder(input_shape=(5,)),
    CNNEncoder(input_shape=(1, 16, 16)),
])
def test_encoders_have_no_bias_nor_affine_normalisation(encoder):
    # Either would let a network map every input onto a fixed centre.
    for module in encoder.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert module.bias is None
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            assert not module.affine


@pytest.mark.parametrize("input_shape, channels, match", [
    ((784,), (8, 4), "channels, height, width"),
    ((1, 3, 3), (8, 4), "too small"),
    ((1, 8, 8), (), "at least one convolutional block"),
])
def test_cnn_encoder_rejects_unusable_shapes(input_shape, channels, match):
    with pytest.raises(ValueError, match=match):
        CNNEncoder(input_shape=input_shape, channels=channels)


@pytest.mark.parametrize("encoder, sample_shape", [
    (MLPEncoder(input_shape=(7,), embedding_dim=3, hidden_layer_sizes=(5, 4)), (7,)),
    (CNNEncoder(input_shape=(1, 28, 28), embedding_dim=6), (1, 28, 28)),
    (CNNEncoder(input_shape=(3, 9, 11), embedding_dim=6, channels=(4,)), (3, 9, 11)),
])
def test_decoders_map_embeddings_back_to_flat_samples(encoder, sample_shape):
    decoder = encoder.decoder()
    embeddings = encoder(torch.randn(5, *sample_shape))
    n_values = torch.Size(sample_shape).numel()
    assert decoder(embeddings).shape == (5, n_values)
    # A new decoder each call: pretraining one never touches another.
    assert decoder is not encoder.decoder()


def _blocks_in_order(encoder, images):
    return encoder.head(encoder.features(images).flatten(1))


@pytest.mark.parametrize("input_shape, channels", [
    ((1, 28, 28), (8, 32)),
    ((3, 9, 11), (4, 6)),  # odd sides: the pools drop a row and a column
    ((1, 16, 16), (2, 3, 5)),
])
def test_cnn_encoder_evaluates_with_pools_first_as_the_blocks_in_order(input_shape, channels):
    torch.manual_seed(0)
    encoder = CNNEncoder(input_shape=input_shape, embedding_dim=5, channels=channels)
    for _ in range(3):  # running statistics away from their initial 0 and 1
        encoder(3 * torch.randn(16, *input_shape) + 1)
    encoder.eval()
    images = torch.randn(7, *input_shape, requires_grad=True)
    embeddings = encoder(images)
    expected = _blocks_in_order(encoder, images)
    torch.testing.assert_close(embeddings, expected, rtol=1e-5, atol=1e-6)
    # Explanations differentiate the scores through the encoder.
    gradient, = torch.autograd.grad(embeddings.sum(), images)
    expected_gradient, = torch.autograd.grad(expected.sum(), images)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-6)


def test_cnn_encoder_runs_its_blocks_in_order_while_any_normalises_by_the_batch():
    # Batch statistics are not the same before and after a pool: the shortcut
    # holds only with the running ones.
    torch.manual_seed(0)
    encoder = CNNEncoder(input_shape=(1, 8, 8), embedding_dim=3, channels=(4,)).eval()
    encoder.features[1].train()
    images = torch.randn(6, 1, 8, 8)
    torch.testing.assert_close(encoder(images), _blocks_in_order(encoder, images), rtol=0, atol=0)
