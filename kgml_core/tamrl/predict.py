"""Applying trained TAM-RL family models: daily series for whole sites, few-shot embeddings from a support set."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from kgml_core.models.tamrl import TAMRLModel
from kgml_core.tamrl.sites import SiteArrays
from kgml_core.tamrl.training import TrainConfig, support_tensor
from kgml_core.tamrl.windows import Scaler, tiling_starts


@torch.no_grad()
def predict_series(model: nn.Module, a: SiteArrays, scaler: Scaler, cfg: TrainConfig,
                   support_start: np.ndarray | None = None, batch_windows: int = 1024,
                   adapt: bool = True) -> np.ndarray:
    """Daily GPP, RECO, NEE (g C m-2 d-1) for every unit and day of the scaled arrays ``a``.

    Windows of ``cfg.window`` days every ``cfg.stride`` days; each contributes
    its last ``stride`` days (the first window also its leading days).

    Parameters
    ----------
    model : :class:`LSTMModel`, :class:`CTLSTMModel` or :class:`TAMRLModel`.
    support_start : TAM-RL few-shot support: (n_unit,) start day of one window
        of ``cfg.window`` days per unit, or a (n_unit, n_time) bool mask of the
        days whose observations the support may use (any length: covered by
        windows, see :func:`support_window_starts`); None gives TAM-RL's
        zero-shot prediction.
    adapt : few-shot only: refine each site's embedding on its support
        (:func:`adapt_embeddings`, ``cfg.adapt_steps`` steps; False: the encoder's alone);
        with ``cfg.adapt_head`` also a per-site gain and offset of each flux (:func:`adapt_site`).

    Returns
    -------
    (n_unit, n_time, 3) float32.
    """
    model.eval()
    dev = next(model.parameters()).device
    L, k = cfg.window, cfg.stride
    x = torch.as_tensor(a.x, device=dev)
    s = torch.as_tensor(a.s, device=dev)
    z = _unit_embeddings(model, a, scaler, cfg, support_start, x, s)
    gain = offset = None
    if isinstance(model, TAMRLModel) and support_start is not None and adapt and cfg.adapt_steps > 0:
        z, gain, offset = adapt_site(model, a, scaler, cfg, _support_days(support_start, a, cfg), z,
                                     head=cfg.adapt_head)
    starts = tiling_starts(a.x.shape[1], L, k)
    u = np.repeat(np.arange(a.n_unit), len(starts))
    st = np.tile(starts, a.n_unit)
    out = np.full(a.y.shape, np.nan, np.float32)
    for i in range(0, len(u), batch_windows):
        ub, sb = u[i:i + batch_windows], st[i:i + batch_windows]
        days = torch.as_tensor(sb[:, None] + np.arange(L)[None, :], device=dev)
        ui = torch.as_tensor(ub, device=dev)
        xb = x[ui[:, None], days]
        if isinstance(model, TAMRLModel):
            y_hat = model.forward_model(xb, z[ui])["y_hat"]
        else:
            y_hat = model(xb, s[ui])["y_hat"]
        y_hat = scaler.unscale_y(y_hat.cpu().numpy())
        if gain is not None:
            y_hat = gain[ub][:, None, :] * y_hat + offset[ub][:, None, :]
        first = sb == 0
        out[ub[first][:, None], np.arange(L)[None, :]] = y_hat[first]
        tail = sb[:, None] + np.arange(L - k, L)[None, :]
        out[ub[:, None], tail] = y_hat[:, L - k:]
    return out


def _unit_embeddings(model, a, scaler, cfg, support_start, x, s):
    if not isinstance(model, TAMRLModel):
        return None
    if support_start is None:
        return model.embed(None, s)
    mask = _support_days(support_start, a, cfg)
    starts = support_window_starts(mask, cfg.window)
    y = torch.as_tensor(np.nan_to_num(scaler.scale_y(a.y)), device=x.device)
    w_np = np.where((a.qc >= cfg.qc_min) & mask[..., None], a.qc, 0.0).astype(np.float32)
    w = torch.as_tensor(w_np, device=x.device)
    used = torch.as_tensor(starts >= 0, device=x.device)
    days = torch.as_tensor(np.maximum(starts, 0)[..., None] + np.arange(cfg.window), device=x.device)
    ui = torch.arange(a.n_unit, device=x.device)[:, None, None]
    sw = w[ui, days] * used[..., None, None]
    return model.embed(support_tensor(x[ui, days], y[ui, days], sw), s)


def _support_days(support_start: np.ndarray, a: SiteArrays, cfg: TrainConfig) -> np.ndarray:
    """(n_unit, n_time) bool support days from a start per unit (one window) or a mask."""
    support_start = np.asarray(support_start)
    if support_start.ndim == 2:
        return support_start.astype(bool)
    mask = np.zeros(a.qc.shape[:2], bool)
    mask[np.arange(a.n_unit)[:, None], support_start[:, None] + np.arange(cfg.window)[None, :]] = True
    return mask


def adapt_embeddings(model: TAMRLModel, a: SiteArrays, scaler: Scaler, cfg: TrainConfig, mask: np.ndarray,
                     z0: torch.Tensor) -> torch.Tensor:
    """Each unit's task embedding refined on its support days (:func:`adapt_site` without the head)."""
    return adapt_site(model, a, scaler, cfg, mask, z0)[0]


def adapt_site(model: TAMRLModel, a: SiteArrays, scaler: Scaler, cfg: TrainConfig, mask: np.ndarray,
               z0: torch.Tensor, head: bool = False) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Refine each unit's task embedding on its support days by gradient descent, the model fixed.

    Minimises, per unit, the training loss (QC-weighted MSE of the standardised
    fluxes plus the carbon-balance term) on the windows whose loss part holds
    support days, plus ``(cfg.adapt_prior / n_days) * ||z - z0||^2``: with few
    observed days the encoder's embedding ``z0`` dominates, with many the data
    do (a MAP estimate of the embedding; context adaptation as in Zintgraf et al.
    2019, CAVIA). Adam, ``cfg.adapt_steps`` steps of ``cfg.adapt_lr``.

    ``head``: also fit, per unit and flux, a gain ``1 + g`` and an offset ``b * std``
    (g C m-2 d-1) on the predicted fluxes, ``y' = (1 + g) y + b std``, with the same
    prior on ``g`` and ``b``: the site's own light-use efficiency or respiration
    level when it lies outside what the embeddings learned from the training
    tasks can express (real towers against a virtual network).

    Returns (n_unit, z_dim) embeddings (``z0`` for units without support days),
    gains (n_unit, 3) and offsets (n_unit, 3) in g C m-2 d-1 (1 and 0 without ``head``).
    """
    dev = z0.device
    L, k = cfg.window, cfg.loss_days
    ones, zeros = np.ones((a.n_unit, 3), np.float32), np.zeros((a.n_unit, 3), np.float32)
    starts = tiling_starts(a.x.shape[1], L, cfg.stride)
    good = mask & (a.qc >= cfg.qc_min).any(axis=-1)
    csum = np.concatenate([np.zeros((a.n_unit, 1), int), np.cumsum(good, axis=1)], axis=1)
    n_in_loss = csum[:, starts + L] - csum[:, starts + L - k]             # (unit, n_start)
    u, j = np.nonzero(n_in_loss > 0)
    if not len(u):
        return z0, ones, zeros
    st = starts[j]
    days = st[:, None] + np.arange(L)[None, :]
    t = lambda v: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.float32, device=dev)  # noqa: E731
    x = t(a.x[u[:, None], days])
    y = t(np.nan_to_num(scaler.scale_y(a.y[u[:, None], days])))
    w = np.where((a.qc >= cfg.qc_min) & mask[..., None], a.qc, 0.0)[u[:, None], days]
    w[:, :L - k] = 0.0
    w = t(w)
    ui = torch.as_tensor(u, device=dev)
    n_days = torch.zeros(a.n_unit, device=dev).index_add_(0, ui, (w.amax(-1) > 0).float().sum(1))
    prior = cfg.adapt_prior / n_days.clamp_min(1.0)
    y_mean, y_std = t(scaler.y_mean), t(scaler.y_std)
    z0 = z0.detach()
    z = z0.clone().requires_grad_(True)
    g = torch.zeros(a.n_unit, 3, device=dev, requires_grad=head)
    b = torch.zeros(a.n_unit, 3, device=dev, requires_grad=head)
    opt = torch.optim.Adam([z, g, b] if head else [z], lr=cfg.adapt_lr)
    with torch.enable_grad(), eval_backward_kernels(model, dev):
        for _ in range(cfg.adapt_steps):
            phys = model.forward_model(x, z[ui])["y_hat"] * y_std + y_mean
            phys = (1.0 + g[ui, None, :]) * phys + b[ui, None, :] * y_std
            y_hat = (phys - y_mean) / y_std
            sq = torch.zeros(a.n_unit, device=dev).index_add_(0, ui, (w * (y_hat - y) ** 2).sum((1, 2)))
            wsum = torch.zeros(a.n_unit, device=dev).index_add_(0, ui, w.sum((1, 2)))
            bal = ((phys[..., 2] - (phys[..., 1] - phys[..., 0])) ** 2).mean(1)
            bal_u = torch.zeros(a.n_unit, device=dev).index_add_(0, ui, bal) / torch.bincount(
                ui, minlength=a.n_unit).clamp_min(1)
            shift = ((z - z0) ** 2).sum(1) + (g ** 2).sum(1) + (b ** 2).sum(1)
            loss = (sq / wsum.clamp_min(1e-6) + cfg.alpha * bal_u + prior * shift).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if not head:
        return z.detach(), ones, zeros
    return z.detach(), 1.0 + g.detach().cpu().numpy(), (b.detach() * y_std).cpu().numpy()


def eval_backward_kernels(model: nn.Module, device: torch.device) -> contextlib.AbstractContextManager:
    """cuDNN off while gradients flow through ``model``'s LSTMs in eval mode on CUDA, else nothing.

    cuDNN's RNNs have no backward in eval mode ("cudnn RNN backward can only be
    called in training mode"); the adaptation keeps the model in eval mode (no
    dropout) and differentiates through it, so there torch's own CUDA kernels
    run instead (as :func:`kgml_core.models.fast_gru.gru_native` does for the GRUs).
    """
    if torch.device(device).type == "cuda" and not model.training:
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def support_window_starts(mask: np.ndarray, window: int) -> np.ndarray:
    """Start days of the windows that cover each unit's support days, (n_unit, n_windows), -1 padding.

    Windows of ``window`` days are laid backwards from the last support day
    until they reach the first one (a 7-day support gets one window whose last
    7 days are the support; the days before give the drivers' context).
    """
    n_unit, n_time = mask.shape
    rows = []
    for i in range(n_unit):
        days = np.flatnonzero(mask[i])
        if not len(days):
            rows.append([])
            continue
        ends = np.arange(days[-1] + 1, days[0], -window)
        rows.append([int(min(max(e - window, 0), n_time - window)) for e in ends])
    width = max(1, max(len(r) for r in rows))
    out = np.full((n_unit, width), -1, dtype=int)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out
