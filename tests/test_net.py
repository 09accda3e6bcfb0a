import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from ibdetect.encoders import MLPEncoder
from ibdetect.losses import ANOMALY, DeepSVDDLoss, IBLoss
from ibdetect._net import (
    Autoencoder,
    AutoencoderNet,
    CENTER_EPS,
    DeepDescriptionModule,
    DeepDescriptionNet,
    _TensorBatchIterator as TensorBatchIterator,
    _TensorDataset as TensorDataset,
)


def make_net(n_centers=2, learn_centers=True, criterion=IBLoss, **kwargs):
    return DeepDescriptionNet(
        module=DeepDescriptionModule,
        module__encoder=MLPEncoder(input_shape=(4,), embedding_dim=3, hidden_layer_sizes=(8,)),
        module__n_centers=n_centers,
        module__embedding_dim=3,
        module__learn_centers=learn_centers,
        criterion=criterion,
        optimizer=torch.optim.Adam,
        **{"lr": 1e-2, "batch_size": 16, "max_epochs": 3, **kwargs},
    )


@pytest.fixture
def data(make_blobs):
    return make_blobs([[-2] * 4, [2] * 4], 30, dtype=np.float32)


@pytest.mark.parametrize("n_samples, batch_size", [(10, 3), (10, 5), (1, 4), (9, 4), (40, 128)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sample_once(n_samples, batch_size, shuffle):
    dataset = TensorDataset(torch.arange(n_samples).float().unsqueeze(1), torch.arange(n_samples))
    iterator = TensorBatchIterator(dataset, batch_size=batch_size, shuffle=shuffle)
    batches = list(iterator)
    seen = torch.cat([y for _, y in batches]).sort().values
    assert seen.tolist() == list(range(n_samples))
    assert len(batches) == len(iterator)
    assert max(len(y) for _, y in batches) <= batch_size + 1
    if len(batches) > 1:
        # BatchNorm cannot train on a single sample.
        assert min(len(y) for _, y in batches) > 1


def test_batch_iterator_walks_a_subset_in_its_order():
    dataset = TensorDataset(torch.arange(10).float().unsqueeze(1), torch.arange(10))
    subset = Subset(dataset, [7, 2, 5])
    batches = list(TensorBatchIterator(subset, batch_size=2))
    assert torch.cat([y for _, y in batches]).tolist() == [7, 2, 5]


def test_shuffled_order_follows_torch_seed():
    dataset = TensorDataset(torch.zeros(50, 1), torch.arange(50))
    iterator = TensorBatchIterator(dataset, batch_size=50, shuffle=True)
    torch.manual_seed(3)
    first = next(iter(iterator))[1]
    torch.manual_seed(3)
    again = next(iter(iterator))[1]
    assert torch.equal(first, again)
    assert not torch.equal(first, torch.arange(50))


def test_centres_start_at_class_means_of_initial_embeddings(data):
    X, y = data
    net = make_net(max_epochs=0).initialize()
    net.initialize_centers(net.get_dataset(X, y))
    embeddings = net.embed(X)
    expected = np.stack([embeddings[y == k].mean(0) for k in (0, 1)])
    np.testing.assert_allclose(net.module_.centers.detach().numpy(), expected, rtol=1e-5)
    assert bool(net.module_.centers_initialized)


def test_initial_centres_do_not_depend_on_the_input_scale(data):
    # Every layer is followed by BatchNorm, so scaling the input must not move
    # the embedding the centres are taken from. It did while BatchNorm still
    # held its default statistics at initialisation.
    X, y = data
    centres = []
    for scale in (1.0, 16.0):
        torch.manual_seed(0)
        net = make_net(max_epochs=0).initialize()
        net.initialize_centers(net.get_dataset(X * scale, y))
        centres.append(net.module_.centers.detach().numpy())
    np.testing.assert_allclose(centres[0], centres[1], rtol=1e-3, atol=1e-5)


def test_fixed_centre_keeps_away_from_zero(data):
    X, _ = data
    y = np.zeros(len(X), dtype=np.int64)
    net = make_net(n_centers=1, learn_centers=False, criterion=DeepSVDDLoss).fit(X, y)
    assert (net.module_.centers.abs() >= CENTER_EPS).all()
    assert "centers" not in dict(net.module_.named_parameters())


def test_known_anomalies_do_not_move_the_centres(data):
    X, y = data
    with_anomalies = np.where(np.arange(len(y)) % 7 == 0, ANOMALY, y)
    net = make_net(max_epochs=0).initialize()
    net.initialize_centers(net.get_dataset(X, with_anomalies))
    embeddings = net.embed(X)
    normal = with_anomalies != ANOMALY
    expected = np.stack([embeddings[normal & (y == k)].mean(0) for k in (0, 1)])
    np.testing.assert_allclose(net.module_.centers.detach().numpy(), expected, rtol=1e-5)


def test_history_logs_the_loss_parts(data):
    X, y = data
    net = make_net().fit(X, y)
    row = net.history[-1]
    assert row["train_compactness"] > 0 and row["train_separation"] > 0
    assert "train_anomaly" not in row
    # Parts are per-sample means over the epoch, so they recombine to the mean
    # batch loss weighted by batch size.
    batches = row["batches"]
    mean_loss = sum(b["train_loss"] * b["train_batch_size"] for b in batches) / len(X)
    beta = net.criterion_.beta
    expected = row["train_compactness"] + (beta - 1) * row["train_separation"]
    assert mean_loss == pytest.approx(expected, rel=1e-5)


def test_history_logs_known_anomaly_part_when_present(data):
    X, y = data
    y = np.where(np.arange(len(y)) % 5 == 0, ANOMALY, y)
    net = make_net().fit(X, y)
    assert net.history[-1, "train_anomaly"] > 0


def test_non_finite_loss_stops_training_naming_the_epoch(data):
    X, y = data
    net = make_net(lr=1e30, max_epochs=20)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+"):
        net.fit(X, y)


def test_inference_memory_is_bounded_by_working_memory_not_batch_size(data):
    X, y = data
    net = make_net(batch_size=7).fit(X, y)
    net.embed(X[:1])
    # The input row (4 floats), the hidden layer, its normalisation and its
    # activation (8 each) and the embedding (3): 31 float32 per row.
    assert net.activation_bytes_ == 4 * 31
    sizes = []
    handle = net.module_.encoder.register_forward_hook(lambda m, i, o: sizes.append(len(o)))
    embeddings = net.embed(X, working_memory=10.5 * net.activation_bytes_ / 2**20)
    handle.remove()
    assert embeddings.shape == (len(X), 3) and embeddings.dtype == np.float32
    assert max(sizes) == 10
    assert sum(sizes) == len(X)
    # Blocks of another size may take another matrix kernel, whose float32
    # sums round differently in the last bits: equal to float32 precision.
    np.testing.assert_allclose(net.embed(X), embeddings, rtol=1e-6, atol=1e-6)


def test_autoencoder_pretraining_trains_the_shared_encoder(data):
    X, _ = data
    encoder = MLPEncoder(input_shape=(4,), embedding_dim=3, hidden_layer_sizes=(8,))
    before = [p.detach().clone() for p in encoder.parameters()]
    net = AutoencoderNet(
        module=Autoencoder, module__encoder=encoder, module__decoder=encoder.decoder(),
        optimizer=torch.optim.Adam, lr=1e-2, max_epochs=20, batch_size=16,
    ).fit(X)
    losses = [row["train_loss"] for row in net.history]
    assert losses[-1] < 0.5 * losses[0]
    assert net.module_.encoder is encoder
    assert not all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))


def test_loss_that_grows_without_bound_stops_training(data):
    # A learning rate this high makes the loss jump ten-million-fold after the
    # first step, yet it stays finite for the whole fit.
    X, y = data
    net = make_net(lr=1e3, max_epochs=5)
    with pytest.raises(FloatingPointError, match=r"train_loss grew to .* at epoch 1, batch 2.*diverged"):
        net.fit(X, y)
