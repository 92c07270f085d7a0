"""Trainer for the plain LSTM, the CT-LSTM and TAM-RL on windows of flux-site data.

Protocol (after the TAM-RL article): a plain LSTM is trained first; its
weights are copied into TAM-RL's forward model; then the task encoder, the
static (zero-shot) encoder and the forward model are trained together. Every
model sees 30-day windows every 15 days and is scored on the last 15 days of
each window. Loss: QC- and class-weighted MSE of the standardised fluxes plus
``alpha * mean((NEE - (RECO - GPP))^2)`` on the fluxes in g C m-2 d-1. Adam
with a step decay of the learning rate and early stopping on held-out
validation sites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from kgml_core.models import build_model
from kgml_core.models.lstm import LSTMModel
from kgml_core.models.tamrl import TAMRLModel
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.tamrl.sites import SiteArrays
from kgml_core.tamrl.windows import Scaler, sample_support, window_index
from kgml_core.training.trainer import default_device


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults: the article's where it gives them)."""

    hidden: int = 64
    z_dim: int = 32
    dropout: float = 0.1
    window: int = 30           # days per window
    stride: int = 15           # days between window starts
    loss_days: int = 15        # loss on the last days of each window
    batch_size: int = 128
    lr: float = 1e-3
    lr_step: int = 10          # epochs between learning-rate decays
    lr_gamma: float = 0.5
    pretrain_epochs: int = 20  # plain LSTM (also the LSTM baseline)
    epochs: int = 20           # TAM-RL joint training; also the CT-LSTM
    patience: int = 5          # early stopping, in epochs without validation improvement
    alpha: float = 0.1         # weight of the carbon-balance term (g C m-2 d-1)^-2
    qc_min: float = 0.5        # days with a flux QC below this carry no loss
    max_steps_per_epoch: int = 0  # 0: every training window once per epoch
    adapt_steps: int = 60      # few-shot: gradient steps refining each site's embedding on its support (0: encoder only)
    adapt_lr: float = 0.05
    adapt_prior: float = 10.0  # pull towards the encoder's embedding, divided by the support's observed days
    adapt_head: bool = False   # few-shot: also fit a per-site gain and offset of each flux on the support
    support_windows: int = 3   # few-shot training draws 1..this many support windows per task
    short_support: float = 0.25  # share of support windows cut to ``short_days`` observed days
    short_days: int = 7
    device: str = "auto"

    def torch_device(self) -> torch.device:
        return default_device(self.device)


@dataclass
class WindowData:
    """Scaled site arrays as tensors plus the windows to train and validate on.

    Attributes
    ----------
    x : (unit, time, n_dyn) scaled inputs ; s : (unit, n_static) scaled statics.
    y : (unit, time, 3) standardised targets (0 where missing).
    w : (unit, time, 3) loss weights = QC x site class weight (0 where missing or QC < qc_min).
    train, val : (unit_idx, start) window index pairs (val on validation sites).
    """

    x: torch.Tensor
    s: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    y_mean: torch.Tensor
    y_std: torch.Tensor


def window_data(a: SiteArrays, scaler: Scaler, site_weight: np.ndarray, val_mask: np.ndarray,
                cfg: TrainConfig) -> WindowData:
    """Tensors and window indices for training on the scaled arrays ``a``.

    Parameters
    ----------
    a : scaled site arrays (output of :meth:`Scaler.transform`).
    scaler : the fitted scaler (its target statistics standardise ``y``).
    site_weight : (n_unit,) class weights (:func:`kgml_core.tamrl.sites.class_weights`).
    val_mask : (n_unit,) True for validation sites (early stopping only).
    """
    dev = cfg.torch_device()
    y = np.nan_to_num(scaler.scale_y(a.y))
    w = np.where(a.qc >= cfg.qc_min, a.qc, 0.0) * site_weight[:, None, None]
    u, st = window_index(a.qc, cfg.window, cfg.stride, cfg.loss_days, qc_min=cfg.qc_min)
    is_val = val_mask[u]
    t = lambda v: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.float32, device=dev)  # noqa: E731
    return WindowData(t(a.x), t(a.s), t(y), t(w), (u[~is_val], st[~is_val]), (u[is_val], st[is_val]),
                      t(scaler.y_mean), t(scaler.y_std))


def flux_loss(y_hat: torch.Tensor, y: torch.Tensor, w: torch.Tensor, y_mean: torch.Tensor,
              y_std: torch.Tensor, alpha: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted MSE of standardised GPP, RECO, NEE plus the carbon-balance term in physical units.

    Parameters
    ----------
    y_hat, y, w : (batch, days, 3) predictions, targets (standardised) and weights.
    y_mean, y_std : (3,) target statistics in g C m-2 d-1.
    alpha : weight of ``mean((NEE - (RECO - GPP))^2)`` in (g C m-2 d-1)^2.
    """
    mse = (w * (y_hat - y) ** 2).sum() / w.sum().clamp_min(1e-6)
    phys = y_hat * y_std + y_mean
    balance = ((phys[..., 2] - (phys[..., 1] - phys[..., 0])) ** 2).mean()
    return mse + alpha * balance, {"mse": float(mse.detach()), "balance": float(balance.detach())}


def _window_batch(d: WindowData, u: np.ndarray, st: np.ndarray, length: int):
    """Gathered (x, s, y, w) tensors of the windows ``(u, st)``."""
    dev = d.x.device
    ui = torch.as_tensor(u, device=dev)
    days = torch.as_tensor(st[:, None] + np.arange(length)[None, :], device=dev)
    return d.x[ui[:, None], days], d.s[ui], d.y[ui[:, None], days], d.w[ui[:, None], days]


def support_tensor(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Support-window encoder input: drivers, observed fluxes (0 where unobserved), observed mask.

    Shapes: x (batch, days, n_dyn), y and w (batch, days, 3) -> (batch, days, n_dyn + 6).
    """
    seen = (w > 0).float()
    return torch.cat([x, y * seen, seen], dim=-1)


StepFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[torch.Tensor, dict[str, float]]]


def _epoch_batches(n: int, cfg: TrainConfig, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    batches = [order[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
    batches = [b for b in batches if len(b) > 1]  # BatchNorm needs two samples
    return batches[:cfg.max_steps_per_epoch] if cfg.max_steps_per_epoch else batches


def fit(model: nn.Module, step: StepFn, data: WindowData, cfg: TrainConfig, n_epochs: int,
        seed: int, stage: str, progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> dict[str, list[float]]:
    """Adam with step decay and early stopping on the validation windows; best weights restored.

    ``step(u, st, rng)`` returns the loss of the windows ``(u, st)`` and its parts.

    Returns
    -------
    history: ``{"train": [...], "val": [...]}`` losses per epoch.
    """
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(cfg.lr_step, 1), gamma=cfg.lr_gamma)
    (tu, tst), (vu, vst) = data.train, data.val
    if len(tu) < 2:
        raise ValueError(f"{stage}: only {len(tu)} training windows with good-QC observations; "
                         "choose more sites or years")
    history: dict[str, list[float]] = {"train": [], "val": []}
    best, best_state, waited = np.inf, None, 0
    for epoch in range(1, n_epochs + 1):
        model.train()
        batches = _epoch_batches(len(tu), cfg, rng)
        losses = []
        for i, b in enumerate(batches, 1):
            loss, parts = step(tu[b], tst[b], rng)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss.detach()))
            if i % 20 == 0 or i == len(batches):
                report(progress, cancel, ProgressEvent(stage, epoch, n_epochs, i, len(batches),
                                                       {"loss": losses[-1], **parts}))
        sched.step()
        val = _validate(model, step, vu, vst, cfg, rng) if len(vu) else float(np.mean(losses))
        history["train"].append(float(np.mean(losses)))
        history["val"].append(val)
        report(progress, cancel, ProgressEvent(stage, epoch, n_epochs, len(batches), len(batches),
                                               {"train": history["train"][-1], "val": val},
                                               f"{stage} epoch {epoch}: val {val:.4f}"))
        if val < best - 1e-5:
            best, waited = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def _validate(model: nn.Module, step: StepFn, u: np.ndarray, st: np.ndarray, cfg: TrainConfig,
              rng: np.random.Generator) -> float:
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(u), 4 * cfg.batch_size):
        sl = slice(i, i + 4 * cfg.batch_size)
        loss, parts = step(u[sl], st[sl], rng)
        total += parts["mse"] * len(u[sl])
        n += len(u[sl])
    return total / max(n, 1)


def lstm_step(model: LSTMModel, data: WindowData, cfg: TrainConfig) -> StepFn:
    """Loss function of a plain or context LSTM on a batch of windows."""
    def step(u, st, rng):
        x, s, y, w = _window_batch(data, u, st, cfg.window)
        y_hat = model(x, s)["y_hat"]
        k = cfg.loss_days
        return flux_loss(y_hat[:, -k:], y[:, -k:], w[:, -k:], data.y_mean, data.y_std, cfg.alpha)
    return step


def tamrl_step(model: TAMRLModel, data: WindowData, cfg: TrainConfig) -> StepFn:
    """Loss of TAM-RL on a batch: few-shot (support windows) plus zero-shot (static) embedding.

    Each batch draws 1 to ``cfg.support_windows`` support windows per task, at
    random among the same site's other windows that do not overlap the
    predicted one (validation windows draw among validation windows); a share
    ``cfg.short_support`` of them keeps only ``cfg.short_days`` observed days,
    so that the encoder learns from short supports too.
    """
    def step(u, st, rng):
        pool_u, pool_st = data.train if model.training else data.val
        pos = _positions(pool_u, pool_st, u, st)
        parts = []
        for _ in range(int(rng.integers(1, max(1, cfg.support_windows) + 1))):
            sup = sample_support(pool_u, pool_st, cfg.window, rng, pos)
            sx, _, sy, sw = _window_batch(data, pool_u[sup], pool_st[sup], cfg.window)
            parts.append(support_tensor(sx, sy, _shorten(sw, cfg, rng)))
        x, s, y, w = _window_batch(data, u, st, cfg.window)
        k = cfg.loss_days
        few = model(x, s, torch.stack(parts, dim=1))["y_hat"]
        zero = model(x, s, None)["y_hat"]
        loss_f, parts_f = flux_loss(few[:, -k:], y[:, -k:], w[:, -k:], data.y_mean, data.y_std, cfg.alpha)
        loss_z, parts_z = flux_loss(zero[:, -k:], y[:, -k:], w[:, -k:], data.y_mean, data.y_std, cfg.alpha)
        parts = {"mse": 0.5 * (parts_f["mse"] + parts_z["mse"]), "mse_few": parts_f["mse"],
                 "mse_zero": parts_z["mse"], "balance": parts_f["balance"]}
        return loss_f + loss_z, parts
    return step


def _shorten(w: torch.Tensor, cfg: TrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """Weights (batch, days, 3) with a random share of rows cut to ``cfg.short_days`` observed days."""
    b, days = w.shape[:2]
    cut = rng.random(b) < cfg.short_support
    if not cut.any() or cfg.short_days >= days:
        return w
    first = rng.integers(0, days - cfg.short_days + 1, b)
    d = np.arange(days)[None, :]
    keep = ~cut[:, None] | ((d >= first[:, None]) & (d < first[:, None] + cfg.short_days))
    return w * torch.as_tensor(keep[..., None], dtype=w.dtype, device=w.device)


def _positions(pool_u: np.ndarray, pool_st: np.ndarray, u: np.ndarray, st: np.ndarray) -> np.ndarray:
    """Positions of windows ``(u, st)`` in the sorted pool ``(pool_u, pool_st)``."""
    key_pool = pool_u.astype(np.int64) * 1_000_000 + pool_st
    key = u.astype(np.int64) * 1_000_000 + st
    return np.searchsorted(key_pool, key)


# ---------------------------------------------------------------------------------------------
# the three-stage protocol
# ---------------------------------------------------------------------------------------------

def train_lstm(data: WindowData, n_dyn: int, cfg: TrainConfig, seed: int, progress=None,
               cancel=None) -> LSTMModel:
    """Train the plain LSTM (the baseline and TAM-RL's initialisation)."""
    return _train_lstm_family("lstm", data, n_dyn, 0, cfg, seed, progress, cancel)


def train_ct_lstm(data: WindowData, n_dyn: int, n_static: int, cfg: TrainConfig, seed: int,
                  progress=None, cancel=None) -> CTLSTMModel:
    """Train the context LSTM (static features appended to every day)."""
    return _train_lstm_family("ct_lstm", data, n_dyn, n_static, cfg, seed, progress, cancel)


def _train_lstm_family(name: str, data: WindowData, n_dyn: int, n_static: int, cfg: TrainConfig, seed: int,
                       progress, cancel):
    """Build the registered LSTM-type model ``name`` and fit it with the LSTM step and early stopping."""
    torch.manual_seed(seed)
    model = build_model(name, dict(n_dyn=n_dyn, n_static=n_static, hidden=cfg.hidden, n_out=3,
                                   dropout=cfg.dropout)).to(data.x.device)
    fit(model, lstm_step(model, data, cfg), data, cfg, cfg.pretrain_epochs, seed, name, progress, cancel)
    return model


def train_tamrl(data: WindowData, pretrained: LSTMModel, n_static: int, cfg: TrainConfig, seed: int,
                progress=None, cancel=None) -> TAMRLModel:
    """Copy the plain LSTM into TAM-RL's forward model, then train encoders and forward model together."""
    torch.manual_seed(seed)
    n_dyn = pretrained.embed[0].in_features
    model = build_model("tamrl", dict(n_dyn=n_dyn, n_static=n_static, n_support=n_dyn + 6, hidden=cfg.hidden,
                                       z_dim=cfg.z_dim, dropout=cfg.dropout)).to(data.x.device)
    model.load_pretrained(pretrained)
    fit(model, tamrl_step(model, data, cfg), data, cfg, cfg.epochs, seed, "tamrl", progress, cancel)
    return model


# ---------------------------------------------------------------------------------------------
# prediction of whole series
# ---------------------------------------------------------------------------------------------
