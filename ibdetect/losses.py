"""Losses of deep data description, written in plain torch.

Every loss here scores embeddings against class centres in the same way:

* compactness: ``d_y / (2 s^2)``, the scaled squared distance of a normal sample
  to the centre of its own class;
* separation: the cross-entropy of a softmax over the logits
  ``a_k = -d_k / (2 s^2) + log pi_k``, optionally with an additive margin on the
  true class;
* anomaly: ``1 / (min_k d_k + eps)`` for known anomalies (target ``-1``), which
  pushes them away from every centre, as in Deep SAD.

The total is a weighted sum of the three. :class:`IBLoss`, :class:`DeepSVDDLoss`
and :class:`DeepMCDDLoss` differ only in the weights, which is what makes Deep
SVDD and Deep-MCDD special cases of the Information Bottleneck loss.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._labels import ANOMALY

__all__ = [
    "ANOMALY",
    "DeepMCDDLoss",
    "DeepSVDDLoss",
    "DescriptionLoss",
    "IBLoss",
    "LossTerms",
    "squared_distances",
]

# Keeps the inverse-distance term of known anomalies finite at a centre.
_ANOMALY_EPS = 1e-6


def squared_distances(embeddings, centers):
    """Squared Euclidean distance of every embedding to every centre.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n_samples, n_dims)
    centers : torch.Tensor of shape (n_centers, n_dims)

    Returns
    -------
    distances : torch.Tensor of shape (n_samples, n_centers)
    """
    # The difference form is exact, unlike ||z||^2 - 2 z.c + ||c||^2, which
    # cancels badly near a centre; with a handful of centres it is as fast.
    diff = embeddings.unsqueeze(1) - centers.to(embeddings.dtype).unsqueeze(0)
    return diff.pow(2).sum(dim=-1)


class LossTerms(NamedTuple):
    """The total loss and its unweighted parts.

    ``total = compactness_weight * compactness + separation_weight * separation
    + anomaly_weight * anomaly``. Each part is averaged over all samples of the
    batch (a sample the part does not apply to counts as zero), so the parts of
    a batch add up to its total.
    """

    total: torch.Tensor
    compactness: torch.Tensor
    separation: torch.Tensor
    anomaly: torch.Tensor


class DescriptionLoss(nn.Module):
    """Weighted sum of compactness, separation and known-anomaly terms.

    Parameters
    ----------
    compactness_weight : float, default=1.0
        Weight of the pull of each normal sample to its own centre.
    separation_weight : float, default=1.0
        Weight of the cross-entropy of the softmax over negative distances.
    margin : float, default=0.0
        Additive margin, in squared-distance units, subtracted from the
        true-class logit: the own centre must be closer than the others by
        ``margin`` before the separation term stops pushing.
    variance : float, default=0.5
        The variance ``s^2`` of the class Gaussians: distances enter the loss
        as ``d / (2 s^2)``. Only ``d / s^2`` matters, and the embedding scale
        is free, so the default (logits ``-d``) rarely needs changing.
    anomaly_weight : float, default=1.0
        Weight ``eta`` of the inverse-distance term of known anomalies.
    priors : array-like of shape (n_centers,), default=None
        Class priors ``pi_k`` added as ``log pi_k`` to the logits. None means
        uniform priors.
    """

    def __init__(
        self,
        compactness_weight=1.0,
        separation_weight=1.0,
        *,
        margin=0.0,
        variance=0.5,
        anomaly_weight=1.0,
        priors=None,
    ):
        super().__init__()
        if not variance > 0:
            raise ValueError(f"variance must be > 0, got {variance}.")
        self.compactness_weight = compactness_weight
        self.separation_weight = separation_weight
        self.margin = margin
        self.variance = variance
        self.anomaly_weight = anomaly_weight
        log_priors = None
        if priors is not None:
            # Checked where they are (an array on the CPU), whatever the default device.
            priors = torch.as_tensor(priors, dtype=torch.float64, device=getattr(priors, "device", "cpu"))
            if not torch.isfinite(priors).all() or (priors <= 0).any():
                raise ValueError(f"priors must be positive and finite, got {priors.tolist()}.")
            log_priors = torch.log(priors / priors.sum())
        # A buffer, so that it follows the loss to the training device.
        self.register_buffer("log_priors", log_priors)

    def forward(self, embeddings, target, centers):
        """Compute the loss of a batch.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (n_samples, n_dims)
        target : torch.Tensor of shape (n_samples,)
            Index of each sample's class in ``centers``, or ``-1`` (``ANOMALY``)
            for a known anomaly.
        centers : torch.Tensor of shape (n_centers, n_dims)

        Returns
        -------
        terms : LossTerms
        """
        target = self._prepare_target(target.long(), len(centers))
        distances = squared_distances(embeddings, centers)
        scaled = distances / (2 * self.variance)
        is_normal = target != ANOMALY
        own_class = target.clamp_min(0)
        zero = scaled.new_zeros(())

        own_distance = scaled.gather(1, own_class.unsqueeze(1)).squeeze(1)
        compactness = torch.where(is_normal, own_distance, zero)
        separation = torch.where(
            is_normal, self._cross_entropy(scaled, own_class), zero
        )
        nearest = distances.min(dim=1).values
        anomaly = torch.where(is_normal, zero, 1.0 / (nearest + _ANOMALY_EPS))

        total = (
            self.compactness_weight * compactness
            + self.separation_weight * separation
            + self.anomaly_weight * anomaly
        )
        return LossTerms(*(term.mean() for term in (total, compactness, separation, anomaly)))

    def _prepare_target(self, target, n_centers):
        """Hook for losses that reinterpret the targets (see DeepSVDDLoss)."""
        if target.numel() and (target.max() >= n_centers or target.min() < ANOMALY):
            raise ValueError(
                f"targets must lie in [0, {n_centers}) or be {ANOMALY} for a known "
                f"anomaly; got values from {int(target.min())} to {int(target.max())}."
            )
        return target

    def _cross_entropy(self, scaled, own_class):
        logits = -scaled
        if self.log_priors is not None:
            logits = logits + self.log_priors.to(logits.dtype)
        if self.margin:
            penalty = F.one_hot(own_class, logits.shape[1]).to(logits.dtype)
            logits = logits - penalty * (self.margin / (2 * self.variance))
        # cross_entropy works through log_softmax (logsumexp), so it stays
        # finite for logits in the hundreds of millions.
        return F.cross_entropy(logits, own_class, reduction="none")


class IBLoss(DescriptionLoss):
    """Information Bottleneck loss of multi-class deep data description.

    ``loss = d_y / (2 s^2) + (beta - 1) * CE``: the IB Lagrangian
    ``I(X;Z) - beta I(Z;Y)`` bounded from above with Gaussian class models
    centred on ``c_k``. With one centre it is exactly Deep SVDD's loss; divided
    by ``beta - 1`` it is Deep-MCDD's loss with ``lambda = 1 / (beta - 1)``.

    Parameters
    ----------
    beta : float, default=4.0
        IB trade-off, > 1. Larger values favour separating the classes over
        compacting each of them. The default is the estimator's, chosen on
        the benchmark; ``beta=2`` is Deep-MCDD's loss with ``lambda=1``.
    margin, variance, anomaly_weight, priors
        As in :class:`DescriptionLoss`.

    Examples
    --------
    >>> import torch
    >>> from ibdetect.losses import IBLoss
    >>> loss = IBLoss(beta=2.0)
    >>> embeddings = torch.tensor([[0.0, 0.1], [1.0, 0.9]])
    >>> centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    >>> terms = loss(embeddings, torch.tensor([0, 1]), centers)
    >>> round(terms.compactness.item(), 4)
    0.01
    """

    def __init__(
        self,
        beta=4.0,
        *,
        margin=0.0,
        variance=0.5,
        anomaly_weight=1.0,
        priors=None,
    ):
        if not beta > 1:
            raise ValueError(
                f"beta must be > 1 for the IB loss, got {beta}: at beta <= 1 the "
                "bound no longer holds and the optimum carries no class information."
            )
        super().__init__(
            compactness_weight=1.0,
            separation_weight=beta - 1.0,
            margin=margin,
            variance=variance,
            anomaly_weight=anomaly_weight,
            priors=priors,
        )
        self.beta = beta


class DeepSVDDLoss(DescriptionLoss):
    """One-class Deep SVDD loss: the scaled squared distance to one centre.

    Class labels of normal samples are ignored; known anomalies (target ``-1``)
    still get the inverse-distance term, which makes it Deep SAD.

    Parameters
    ----------
    variance, anomaly_weight
        As in :class:`DescriptionLoss`.
    """

    def __init__(self, *, variance=0.5, anomaly_weight=1.0):
        super().__init__(
            compactness_weight=1.0,
            separation_weight=0.0,
            variance=variance,
            anomaly_weight=anomaly_weight,
        )

    def _prepare_target(self, target, n_centers):
        if n_centers != 1:
            raise ValueError(f"Deep SVDD describes one centre, got {n_centers}.")
        return torch.where(target == ANOMALY, target, torch.zeros_like(target))


class DeepMCDDLoss(DescriptionLoss):
    """Deep-MCDD loss: ``lambda * d_y / (2 s^2) + CE``.

    Deep multi-class data description with one spherical Gaussian per class, a
    shared variance and biases ``log pi_k``.

    Parameters
    ----------
    lambda_ : float, default=1.0
        Weight of the compactness term relative to the cross-entropy.
    variance, anomaly_weight, priors
        As in :class:`DescriptionLoss`.
    """

    def __init__(
        self,
        lambda_=1.0,
        *,
        variance=0.5,
        anomaly_weight=1.0,
        priors=None,
    ):
        super().__init__(
            compactness_weight=lambda_,
            separation_weight=1.0,
            variance=variance,
            anomaly_weight=anomaly_weight,
            priors=priors,
        )
        self.lambda_ = lambda_
