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
    ((1, 3, 3), (8, 4), "too small for 2 blocks .* give fewer blocks"),
    # Channels last, as numpy keeps images: the fix is the order, not the blocks.
    ((8, 8, 1), (8, 4), r"channels last, pass input_shape=\(1, 8, 8\)\.$"),
    # Several channels: the rows' values must follow the order too.
    ((28, 28, 3), (8, 4, 2), r"pass input_shape=\(3, 28, 28\) and reorder .*transpose\(0, 3, 1, 2\)"),
    # No reordering helps an image too small either way.
    ((8, 8, 1), (8, 4, 2, 2), r"give fewer blocks \(channels, or IBDeepDescription's hidden_layer_sizes\)\.$"),
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


def _trained_cnn(input_shape, channels):
    torch.manual_seed(0)
    encoder = CNNEncoder(input_shape=input_shape, embedding_dim=5, channels=channels)
    for _ in range(3):  # running statistics away from their initial 0 and 1
        encoder(3 * torch.randn(16, *input_shape) + 1)
    return encoder.eval()


@pytest.mark.parametrize("input_shape, channels", [
    ((1, 28, 28), (8, 32)),
    ((3, 9, 11), (4, 6)),  # odd sides: the pools drop a row and a column
    ((1, 16, 16), (2, 3, 5)),
])
def test_cnn_encoder_infers_with_pools_first_as_the_blocks_in_order(input_shape, channels, monkeypatch):
    from ibdetect import encoders

    encoder = _trained_cnn(input_shape, channels)
    pools = []
    monkeypatch.setattr(encoders, "_max_pool_2x2", lambda x: pools.append(x.shape) or nn.functional.max_pool2d(x, 2))
    images = torch.randn(7, *input_shape)
    with torch.no_grad():
        embeddings = encoder(images)
        expected = _blocks_in_order(encoder, images)
    assert len(pools) == len(channels)  # the shortcut ran
    torch.testing.assert_close(embeddings, expected, rtol=1e-5, atol=1e-6)


def test_cnn_encoder_differentiates_through_its_blocks_in_order():
    # Where values tie (MNIST's blank background), torch.maximum would split
    # the gradient that MaxPool2d gives to one of them: explain's gradients
    # must be the network's own.
    encoder = _trained_cnn((1, 8, 8), (4,))
    images = torch.zeros(3, 1, 8, 8)
    images[:, :, 2:5, 2:6] = 1.0
    images.requires_grad_(True)
    gradient, = torch.autograd.grad(encoder(images).sum(), images)
    expected, = torch.autograd.grad(_blocks_in_order(encoder, images).sum(), images)
    assert torch.equal(gradient, expected)


@pytest.mark.parametrize("change", ["a normalisation trains", "a hook", "batch statistics in evaluation"])
def test_cnn_encoder_runs_its_blocks_in_order_where_they_are_watched_or_normalise_by_the_batch(change):
    encoder = _trained_cnn((1, 8, 8), (4,))
    seen = []
    if change == "a normalisation trains":
        encoder.features[1].train()
    elif change == "a hook":
        # As the activation sizes that bound scoring memory are measured.
        encoder.features[3].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    else:
        encoder.features[1].track_running_stats = False
    images = torch.randn(6, 1, 8, 8)
    with torch.no_grad():
        embeddings = encoder(images)
        if change == "a hook":
            assert seen == [(6, 4, 4, 4)]
        assert torch.equal(embeddings, _blocks_in_order(encoder, images))


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 9, 11), (1, 1, 2, 3)])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_max_pool_of_quarters_is_max_pool2d(shape, memory_format):
    from ibdetect.encoders import _max_pool_2x2

    images = torch.randn(shape).contiguous(memory_format=memory_format)
    assert torch.equal(_max_pool_2x2(images), nn.functional.max_pool2d(images, 2))
