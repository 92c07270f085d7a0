"""Losses of the KGML-ag family, all computed in physical units (g C m-2 d-1, g C m-2).

Each data term is a NaN-masked mean squared error divided by a fixed scale
squared (the target's standard deviation in the training data), so the terms
are comparable whatever the flux magnitudes; the mass-balance term is
evaluated on physical fluxes, never on separately standardised outputs.
"""
from __future__ import annotations

import torch


def masked_mse(pred: torch.Tensor, target: torch.Tensor, scale: float = 1.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``((pred - target) / scale)**2`` over finite targets (0 when none is finite).

    Parameters
    ----------
    pred, target : tensors of equal shape, physical units; NaN targets are ignored.
    scale : the target's standard deviation (same units).
    weight : optional non-negative weights broadcastable to ``pred``.
    """
    keep = torch.isfinite(target)
    w = keep.to(pred.dtype) if weight is None else keep.to(pred.dtype) * weight
    diff = torch.where(keep, pred - target, torch.zeros_like(pred)) / scale
    denom = w.sum()
    return (w * diff ** 2).sum() / denom.clamp_min(1.0)


def per_sample_mse(pred: torch.Tensor, target: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """NaN-masked MSE per sample: (batch, ...) -> (batch,)."""
    keep = torch.isfinite(target)
    diff = torch.where(keep, pred - target, torch.zeros_like(pred)) / scale
    dims = tuple(range(1, pred.ndim))
    if not dims:
        return diff ** 2
    return (diff ** 2).sum(dims) / keep.sum(dims).clamp_min(1)


def mass_balance_penalty(gpp: torch.Tensor, ra: torch.Tensor, rh: torch.Tensor,
                         nee: torch.Tensor, tol: float = 0.01, scale: float = 1.0) -> torch.Tensor:
    """Knowledge-guided carbon balance: ``mean(relu(|GPP - Ra - Rh + NEE| - tol |Ra + Rh|)) / scale``.

    With NEE = Ra + Rh - GPP the residual is zero; a tolerance of ``tol`` times
    the respiration is allowed before the penalty starts.

    Parameters
    ----------
    gpp, ra, rh, nee : (batch, days) daily fluxes in g C m-2 d-1.
    tol : relative tolerance (0.01 in KGML-ag).
    scale : a flux scale (g C m-2 d-1) making the penalty dimensionless.
    """
    residual = (gpp - ra - rh + nee).abs() - tol * (ra + rh).abs()
    return torch.relu(residual).mean() / scale


def reco_partition_loss(ra: torch.Tensor, rh: torch.Tensor, reco_obs: torch.Tensor,
                        season: torch.Tensor, scale: float = 1.0,
                        weight: torch.Tensor | None = None, season_weight: float = 1.0,
                        split: bool = True) -> torch.Tensor:
    """Observed Reco supervises Ra + Rh (with ``split``, KGML-ag's rule: Rh alone outside the season).

    A tower measures Reco = Ra + Rh on every day; KGML-ag's rule pushes the
    whole out-of-season Reco into Rh, which is right only when the crop no
    longer respires (``split=False`` supervises Ra + Rh every day).

    Parameters
    ----------
    ra, rh, reco_obs : (batch, days) g C m-2 d-1; NaN in ``reco_obs`` is a gap.
    season : (batch, days) bool, True inside the growing season.
    scale : Reco's standard deviation (g C m-2 d-1).
    weight : optional (batch, days) quality weights (daily QC fraction).
    season_weight : relative weight of growing-season days, where the error of
        the model's Ra passes into Rh (1 counts every day alike).
    """
    pred = torch.where(season, ra + rh, rh) if split else ra + rh
    days = torch.where(season, torch.full_like(pred, season_weight), torch.ones_like(pred))
    return masked_mse(pred, reco_obs, scale, days if weight is None else days * weight)


def l2_sp(model: torch.nn.Module, anchor: dict[str, torch.Tensor]) -> torch.Tensor:
    """L2-SP: squared distance of the trainable parameters from ``anchor`` (the global weights).

    Keeps a region's fine-tuned model close to the pretrained global model, so
    that small regions do not overfit (Li et al. 2018, "Explicit inductive bias
    for transfer learning").
    """
    terms = [((p - anchor[name].to(p.device)) ** 2).sum()
             for name, p in model.named_parameters() if p.requires_grad and name in anchor]
    if not terms:
        return torch.zeros((), device=next(model.parameters()).device)
    return torch.stack(terms).sum()


def self_paced_weights(sample_losses: torch.Tensor, fraction: float) -> torch.Tensor:
    """Self-paced learning: keep the easiest ``fraction`` of samples (weights 0/1, shape (batch,)).

    KGML-ag pretrains with a self-paced loss: early epochs learn from the
    easy samples and the threshold grows until every sample counts.
    """
    if fraction >= 1.0 or sample_losses.numel() <= 1:
        return torch.ones_like(sample_losses)
    threshold = torch.quantile(sample_losses.detach(), fraction)
    return (sample_losses.detach() <= threshold).to(sample_losses.dtype)
