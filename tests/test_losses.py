import math

import numpy as np
import pytest
import torch

from ibdetect.losses import (
    ANOMALY,
    DeepMCDDLoss,
    DeepSVDDLoss,
    DescriptionLoss,
    IBLoss,
    squared_distances,
)

DTYPES = [torch.float32, torch.float64]


def brute_force_ib(z, y, centers, beta, margin=0.0, s2=0.5, priors=None, eta=1.0):
    """The IB loss written out sample by sample with plain Python floats."""
    n_centers = len(centers)
    log_prior = [0.0] * n_centers if priors is None else [math.log(p / sum(priors)) for p in priors]
    totals, compact, separate, anomaly = [], [], [], []
    for zi, yi in zip(z.tolist(), y.tolist()):
        d = [sum((a - b) ** 2 for a, b in zip(zi, c)) for c in centers.tolist()]
        if yi == ANOMALY:
            totals.append(eta / (min(d) + 1e-6))
            compact.append(0.0)
            separate.append(0.0)
            anomaly.append(1 / (min(d) + 1e-6))
            continue
        logits = [-dk / (2 * s2) + lp for dk, lp in zip(d, log_prior)]
        logits[yi] -= margin / (2 * s2)
        top = max(logits)
        ce = top + math.log(sum(math.exp(a - top) for a in logits)) - logits[yi]
        totals.append(d[yi] / (2 * s2) + (beta - 1) * ce)
        compact.append(d[yi] / (2 * s2))
        separate.append(ce)
        anomaly.append(0.0)
    return [float(np.mean(v)) for v in (totals, compact, separate, anomaly)]


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    centers = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, ANOMALY, 0, 1, ANOMALY])
    return z, y, centers


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.5, 2.0, 10.0])
@pytest.mark.parametrize("margin", [0.0, 0.7])
@pytest.mark.parametrize("priors", [None, [0.1, 0.2, 0.3, 0.4]])
def test_ib_loss_matches_brute_force_formula(batch, dtype, beta, margin, priors):
    z, y, centers = batch
    loss = IBLoss(beta=beta, margin=margin, priors=priors, anomaly_weight=0.5)
    terms = loss(z.to(dtype), y, centers.to(dtype))
    expected = brute_force_ib(z, y, centers, beta, margin, priors=priors, eta=0.5)
    rtol = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose([t.item() for t in terms], expected, rtol=rtol)
    assert terms.total.dtype == dtype


def test_parts_add_up_to_total(batch):
    z, y, centers = batch
    loss = IBLoss(beta=3.0, anomaly_weight=2.0)
    terms = loss(z, y, centers)
    recombined = terms.compactness + 2.0 * terms.separation + 2.0 * terms.anomaly
    torch.testing.assert_close(terms.total, recombined)


def test_one_centre_ib_loss_is_deep_svdd():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(20, 5, generator=gen)
    center = torch.randn(1, 5, generator=gen)
    y = torch.zeros(20, dtype=torch.long)
    ib = IBLoss(beta=7.0, margin=1.0)(z, y, center)
    svdd = DeepSVDDLoss()(z, y, center)
    # Deep SVDD's objective, mean squared distance to the centre, over 2 s^2 = 1.
    torch.testing.assert_close(ib.total, ((z - center) ** 2).sum(1).mean())
    torch.testing.assert_close(ib.total, svdd.total)
    assert ib.separation.item() == 0.0


def test_deep_svdd_ignores_class_labels():
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(10, 2, generator=gen)
    center = torch.zeros(1, 2)
    labelled = DeepSVDDLoss()(z, torch.arange(10) % 3, center)
    unlabelled = DeepSVDDLoss()(z, torch.zeros(10, dtype=torch.long), center)
    torch.testing.assert_close(labelled.total, unlabelled.total)


def test_deep_svdd_rejects_several_centres():
    with pytest.raises(ValueError, match="one centre"):
        DeepSVDDLoss()(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), torch.zeros(2, 2))


@pytest.mark.parametrize("beta", [1.25, 2.0, 5.0])
def test_ib_loss_over_beta_minus_one_is_deep_mcdd(batch, beta):
    z, y, centers = batch
    normal = y != ANOMALY
    ib = IBLoss(beta=beta)(z[normal], y[normal], centers)
    mcdd = DeepMCDDLoss(lambda_=1 / (beta - 1))(z[normal], y[normal], centers)
    torch.testing.assert_close(ib.total / (beta - 1), mcdd.total)


@pytest.mark.parametrize("beta", [1.0, 0.5, -2.0])
def test_ib_loss_rejects_beta_at_most_one(beta):
    with pytest.raises(ValueError, match="beta must be > 1"):
        IBLoss(beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_is_finite_for_huge_embeddings(dtype):
    z = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=dtype)
    terms = IBLoss(beta=2.0, margin=1.0)(z, torch.tensor([0, 1]), centers)
    assert all(torch.isfinite(t) for t in terms)


def test_separation_pushes_from_the_competing_centre():
    # A point halfway between two centres, labelled 0: the gradient of the
    # separation term must point from centre 1 towards centre 0.
    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    z = torch.zeros(1, 2, requires_grad=True)
    IBLoss(beta=2.0)(z, torch.tensor([0]), centers).separation.backward()
    assert z.grad[0, 0] > 0  # descent moves z to negative x, towards centre 0
    assert z.grad[0, 1] == 0


def test_margin_raises_the_loss_of_a_correct_sample():
    centers = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    z = torch.tensor([[0.5, 0.0]])
    target = torch.tensor([0])
    plain = IBLoss(margin=0.0)(z, target, centers).separation
    with_margin = IBLoss(margin=2.0)(z, target, centers).separation
    assert with_margin > plain


def test_known_anomaly_term_falls_with_distance():
    centers = torch.zeros(1, 2)
    near = IBLoss()(torch.tensor([[0.1, 0.0]]), torch.tensor([ANOMALY]), centers)
    far = IBLoss()(torch.tensor([[5.0, 0.0]]), torch.tensor([ANOMALY]), centers)
    assert near.anomaly > far.anomaly > 0
    assert near.compactness == 0 and near.separation == 0


def test_out_of_range_targets_are_rejected(batch):
    z, _, centers = batch
    with pytest.raises(ValueError, match="targets must lie in"):
        IBLoss()(z[:2], torch.tensor([0, 4]), centers)


@pytest.mark.parametrize("kwargs, match", [
    ({"variance": 0.0}, "variance"),
    ({"priors": [0.5, float("nan")]}, "finite"),
    ({"priors": [0.5, 0.0]}, "priors"),
])
def test_invalid_loss_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DescriptionLoss(**kwargs)


def test_squared_distances_on_known_points():
    # Points on the unit circle against centres at the origin and at (1, 0).
    angles = torch.tensor([0.0, math.pi / 2, math.pi])
    z = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).double()
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 0.0], [1.0, 2.0], [1.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(squared_distances(z, centers), expected)
