"""The trainer of the KGML-ag family: one training step = sources, losses, trainable groups.

The model stays a plain :class:`torch.nn.Module`; everything about training
(device, batching, freezing, losses in physical units, L2-SP toward an anchor,
progress and cancellation) lives here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.training import losses as L
from kgml_core.training.data import DAYS, Normalizer, Samples, harvest_profile, residue_input

LOSS_KINDS = ("process_yield_ra", "process_fluxes", "county_yield", "site_fluxes")


def default_device(name: str = "auto") -> torch.device:
    """The torch device ``name`` ("cpu", "cuda", ...); "auto": CUDA when available, else CPU. The one device choice."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def residue_fn(norm: Normalizer, gpp: torch.Tensor, day_axis: int = 1):
    """Callable ``(yield, ra) -> residue`` (all standardised) applying :func:`residue_input`.

    The residue enters on each unit-year's own harvest day (:func:`harvest_profile` of ``gpp``).

    ``gpp`` is (B, 365) g C m-2 d-1, or (365, B) with ``day_axis=0`` (then ``ra`` is too).
    """
    m, s = norm.y_mean, norm.y_std
    g = gpp.detach().cpu().numpy()
    timing = harvest_profile(g if day_axis == 1 else g.T)       # each unit-year's own harvest day
    profile = torch.from_numpy(np.ascontiguousarray(timing if day_axis == 1 else timing.T)).to(gpp.device)

    def residue(yield_std: torch.Tensor, ra_std: torch.Tensor) -> torch.Tensor:
        ra = ra_std * s["RA"] + m["RA"]
        yield_ = yield_std * s["YIELD"] + m["YIELD"]
        return (residue_input(gpp, ra, yield_, profile, day_axis) - m["RESIDUE"]) / s["RESIDUE"]
    return residue


# validation folds of a pull grid: leave one site out; also leave one training year out (every site's)
GRID_FOLDS = ("sites", "sites+years")


@dataclass
class StepConfig:
    """Hyper-parameters of one training step.

    epochs, batch_size, lr (Adam learning rate), weight_decay;
    balance (lambda of the mass-balance term), tol (its relative tolerance);
    l2sp (strength of the pull toward the anchor weights, per squared weight);
    self_paced (keep the easiest fraction of samples, growing from 0.6 to 1);
    grad_clip (max gradient norm); cosine (anneal the learning rate from ``lr``
    to ``lr / 20`` over the step's epochs: the few, large full-sequence batches
    of KGML-ag need a large rate at first and a small one to settle);
    season_weight (weight of growing-season days in the flux sites' Reco term);
    reco_split (the old KGML-ag rule: observed Reco supervises Rh alone outside
    the growing season; default False: Ra + Rh on every day);
    param_prior (weight of the prior ``0.5 |theta|^2`` on an estimated
    parameter vector, in prior standard units);
    l2sp_grid (a parameter estimate toward an anchor only: candidate pulls,
    one chosen per estimate by leave-one-site-out validation, see
    :mod:`kgml_core.training.pull`; empty: ``l2sp`` as given);
    l2sp_grid_epochs (epochs of the validation fits that rank the candidates;
    0: ``epochs``; the chosen pull's estimate always runs ``epochs``);
    l2sp_grid_global (the grid also holds an infinite pull: the anchor's own ``theta``);
    l2sp_grid_folds (the validation folds of the grid: "sites", leave one site out;
    "sites+years", also leave one training year out of every site, so a pull that helps
    only the years it was fitted on is not chosen; see :mod:`kgml_core.training.pull`);
    swc (weight of the soil-water term of the process and flux-site losses, for a
    model that predicts SWC and data that hold it).
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    balance: float = 1.0
    tol: float = 0.01
    l2sp: float = 0.0
    self_paced: bool = False
    grad_clip: float = 1.0
    cosine: bool = False
    season_weight: float = 1.0
    reco_split: bool = False
    param_prior: float = 0.0
    l2sp_grid: tuple[float, ...] = ()
    l2sp_grid_epochs: int = 0
    l2sp_grid_global: bool = False
    l2sp_grid_folds: str = "sites"
    swc: float = 1.0

    def __post_init__(self) -> None:
        self.l2sp_grid = tuple(float(v) for v in self.l2sp_grid)
        if self.l2sp_grid_folds not in GRID_FOLDS:
            raise ValueError(f"l2sp_grid_folds must be one of {list(GRID_FOLDS)}, got {self.l2sp_grid_folds!r}")


@dataclass
class Source:
    """A training set and the loss it feeds: ``kind`` is one of :data:`LOSS_KINDS`."""

    samples: Samples
    kind: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"loss kind '{self.kind}' is not one of {LOSS_KINDS}")


@dataclass
class StepLog:
    """Mean losses per epoch of one step; ``info``: what else the step decided (e.g. a chosen pull)."""

    name: str
    epochs: list[dict[str, float]] = field(default_factory=list)
    info: dict = field(default_factory=dict)


class KGMLTrainer:
    """Trains and applies a KGML-family model with a fixed :class:`Normalizer`.

    Parameters
    ----------
    model : a model whose ``forward(x, residue)`` returns standardised
        ``yield``, ``ra``, ``rh``, ``nee`` and whose class has ``GROUPS``.
    norm : input and target statistics (physical units).
    device : torch device (default :func:`default_device`).
    progress, cancel : progress callback and cancel token, checked every batch.
    seed : seed of the batch order and dropout.
    """

    def __init__(self, model: torch.nn.Module, norm: Normalizer, device: torch.device | None = None,
                 progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 seed: int = 0):
        self.device = device or default_device()
        self.model = model.to(self.device)
        self.norm = norm
        if hasattr(self.model, "use_normalizer"):      # a read-out in physical units (KGML-ag's "q10" Rh)
            self.model.use_normalizer(norm)
        self.progress, self.cancel = progress, cancel
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)

    # -- conversions -------------------------------------------------------
    def _phys(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m, s = self.norm.y_mean, self.norm.y_std
        phys = {k.upper(): out[k] * s[k.upper()] + m[k.upper()] for k in ("ra", "rh", "nee", "swc") if k in out}
        phys["YIELD"] = out["yield"] * s["YIELD"] + m["YIELD"]
        return phys

    def _x(self, samples: Samples) -> torch.Tensor:
        """Standardised inputs (n, warm-up + 365, n_inputs): the warm-up days first when the model reads them."""
        x = samples.x
        if samples.warmup and self._reads_warmup():
            x = np.concatenate([samples.warm, x], axis=1)
        return torch.from_numpy(self.norm.scale_x(x))

    def _reads_warmup(self) -> bool:
        return bool(getattr(self.model, "READS_WARMUP", False))

    def _n_params(self) -> int:
        return int(getattr(getattr(self.model, "config", None), "n_params", 0) or 0)

    def _forward(self, x: torch.Tensor, residue, params: torch.Tensor | None = None, yield_only: bool = False):
        """The model's forward; ``params`` (batch, n_params) only reach a parameter-conditioned model.

        Days of ``x`` beyond the 365 of a sample are its warm-up (see :meth:`_x`): the
        model reads them first and returns the scored days, so no loss ever sees them.
        ``yield_only``: the caller needs the yield alone; a model that can skip its flux
        networks then does (``SKIPS_FLUXES``: KGML-ag; the same yield, the same random draws).
        """
        extra = {"yield_only": True} if yield_only and getattr(self.model, "SKIPS_FLUXES", False) else {}
        if not self._reads_warmup():
            return self.model(x, residue, params, **extra) if self._n_params() else self.model(x, residue, **extra)
        warmup = max(0, x.shape[1] - DAYS)
        return self.model(x, residue, params if self._n_params() else None, warmup=warmup, **extra)

    def _residue_scaled(self, residue: np.ndarray) -> torch.Tensor:
        m, s = self.norm.y_mean["RESIDUE"], self.norm.y_std["RESIDUE"]
        return torch.from_numpy(((residue - m) / s).astype(np.float32))

    # -- prediction ----------------------------------------------------------
    @torch.no_grad()
    def predict(self, samples: Samples, batch_size: int = 256, residue: np.ndarray | None = None,
                sample_params: bool = False) -> dict[str, np.ndarray]:
        """Physical predictions: RA, RH, NEE, RECO (n, 365) g C m-2 d-1 and YIELD (n,) g C m-2.

        The Rh network's residue input is computed from the model's own yield
        and Ra (``residue=None``) or taken as given (n, 365). A
        parameter-conditioned model uses its own estimate ``theta``, or with
        ``sample_params`` each sample's ``params`` (e.g. the simulator's truth).
        """
        self.model.eval()
        x_all = self._x(samples)
        p_all = torch.from_numpy(self.norm.scale_params(samples.params)) if sample_params else None
        parts = []
        for start in range(0, len(samples), batch_size):
            x = x_all[start:start + batch_size].to(self.device)
            if residue is None:
                gpp = torch.from_numpy(samples.gpp[start:start + batch_size]).to(self.device)
                res = residue_fn(self.norm, gpp)
            else:
                res = self._residue_scaled(residue[start:start + batch_size]).to(self.device)
            params = None if p_all is None else p_all[start:start + batch_size].to(self.device)
            out = self._phys(self._forward(x, res, params))
            parts.append({k: v.cpu().numpy() for k, v in out.items()})
        pred = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        pred["RECO"] = pred["RA"] + pred["RH"]
        return pred

    def _training_residue(self, source: Source) -> np.ndarray:
        s = source.samples
        if source.kind.startswith("process"):
            return residue_input(s.gpp, np.nan_to_num(s.daily["RA"]), s.yield_)
        if source.kind == "site_fluxes":
            pred = self.predict(s)
            return residue_input(s.gpp, pred["RA"], pred["YIELD"])
        return np.zeros_like(s.gpp)

    # -- losses -------------------------------------------------------------
    def _loss(self, kind: str, batch: dict[str, torch.Tensor], cfg: StepConfig,
              sp_fraction: float) -> dict[str, torch.Tensor]:
        params = batch["params"] if kind.startswith("process") else None
        # the county yields' loss reads the yield alone: KGML-ag skips its flux networks (40 % of the forward)
        out = self._forward(batch["x"], batch["residue"], params, yield_only=kind == "county_yield")
        return self.loss_terms(kind, self._phys(out), batch, cfg, sp_fraction)

    def loss_terms(self, kind: str, p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: StepConfig,
                   sp_fraction: float = 1.0) -> dict[str, torch.Tensor]:
        """The loss terms of ``kind`` for physical predictions ``p`` of ``batch`` (see :meth:`_phys`)."""
        s = self.norm.y_std
        terms: dict[str, torch.Tensor] = {}
        if kind == "process_yield_ra":
            per = L.per_sample_mse(p["YIELD"], batch["YIELD"], s["YIELD"]) \
                + L.per_sample_mse(p["RA"], batch["RA"], s["RA"])
            w = L.self_paced_weights(per, sp_fraction) if cfg.self_paced else torch.ones_like(per)
            terms["yield_ra"] = (w * per).sum() / w.sum().clamp_min(1.0)
        elif kind == "county_yield":
            terms["yield"] = L.masked_mse(p["YIELD"], batch["YIELD"], s["YIELD"])
        elif kind == "process_fluxes":
            for name in ("RA", "RH", "NEE"):
                terms[name.lower()] = L.masked_mse(p[name], batch[name], s[name])
        elif kind == "site_fluxes":
            terms["reco"] = L.reco_partition_loss(p["RA"], p["RH"], batch["RECO"], batch["season"],
                                                  s["RECO"], batch["weight"], cfg.season_weight,
                                                  split=cfg.reco_split)
            terms["nee"] = L.masked_mse(p["NEE"], batch["NEE"], s["NEE"], batch["weight"])
        if kind in ("process_fluxes", "site_fluxes") and "SWC" in p and "SWC" in batch and cfg.swc > 0:
            terms["swc"] = cfg.swc * L.masked_mse(p["SWC"], batch["SWC"], s["SWC"])
        if kind in ("process_fluxes", "site_fluxes") and cfg.balance > 0:
            terms["balance"] = cfg.balance * L.mass_balance_penalty(
                batch["GPP"], p["RA"], p["RH"], p["NEE"], cfg.tol, s["GPP"])
        return terms

    def tensors(self, source: Source) -> dict[str, torch.Tensor]:
        """``source``'s samples as CPU tensors: standardised inputs ``x`` (n, 365, n_inputs), the standardised
        Rh ``residue`` input (n, 365), ``params`` (n, n_params, prior standard units) and the physical targets,
        weights and season mask of its loss (``YIELD`` (n,), ``GPP``, ``season``, ``weight``, fluxes (n, 365))."""
        s = source.samples
        return {"x": self._x(s), "residue": self._residue_scaled(self._training_residue(source)),
                "YIELD": torch.from_numpy(s.yield_), "GPP": torch.from_numpy(s.gpp),
                "season": torch.from_numpy(s.season), "weight": torch.from_numpy(s.weight),
                "params": torch.from_numpy(self.norm.scale_params(s.params)),
                **{k: torch.from_numpy(v) for k, v in s.daily.items()}}

    # -- freezing -----------------------------------------------------------
    def set_trainable(self, groups: Iterable[str]) -> list[torch.nn.Parameter]:
        """Freeze every parameter except those of ``groups`` (names in the model's ``GROUPS``)."""
        groups = list(groups)
        table = type(self.model).GROUPS
        unknown = [g for g in groups if g not in table]
        if unknown:
            raise ValueError(f"unknown parameter groups {unknown}; the model has {sorted(table)}")
        modules = {m for g in groups for m in table[g]}
        trainable = []
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.split(".")[0] in modules)
            if param.requires_grad:
                trainable.append(param)
        return trainable

    # -- training -----------------------------------------------------------
    def train_step(self, name: str, sources: list[Source], groups: Iterable[str], cfg: StepConfig,
                   anchor: dict[str, torch.Tensor] | None = None) -> StepLog:
        """Train ``groups`` on ``sources`` for ``cfg.epochs`` epochs; everything else is frozen.

        Batches of the largest source set the epoch; smaller sources are cycled.
        ``anchor`` (a state dict) adds ``cfg.l2sp * ||theta - anchor||^2``.
        """
        params = self.set_trainable(groups)
        sources = [s for s in sources if len(s.samples) > 0]
        log = StepLog(name)
        if not params or not sources or cfg.epochs <= 0:
            return log
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        data = [self.tensors(s) for s in sources]
        n_steps = max(math.ceil(len(s.samples) / cfg.batch_size) for s in sources)
        for epoch in range(1, cfg.epochs + 1):
            self.model.train()
            if cfg.cosine:
                for group in opt.param_groups:
                    group["lr"] = cosine_lr(cfg.lr, epoch, cfg.epochs)
            sp_fraction = min(1.0, 0.6 + 0.4 * (epoch - 1) / max(1, cfg.epochs - 1))
            orders = [torch.randperm(len(s.samples), generator=self.gen) for s in sources]
            sums: dict[str, float] = {}
            for step in range(n_steps):
                opt.zero_grad()
                terms: dict[str, torch.Tensor] = {}
                for src, tensors, order in zip(sources, data, orders):
                    idx = order.roll(-step * cfg.batch_size)[:cfg.batch_size]
                    batch = {k: v[idx].to(self.device) for k, v in tensors.items()}
                    for key, value in self._loss(src.kind, batch, cfg, sp_fraction).items():
                        terms[key] = terms.get(key, 0.0) + src.weight * value
                if anchor is not None and cfg.l2sp > 0:
                    terms["l2sp"] = cfg.l2sp * L.l2_sp(self.model, anchor)
                if cfg.param_prior > 0 and self._n_params() and self.model.theta.requires_grad:
                    terms["prior"] = cfg.param_prior * 0.5 * (self.model.theta ** 2).sum()
                total = sum(terms.values())
                total.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                report(self.progress, self.cancel, ProgressEvent(
                    name, epoch, cfg.epochs, step + 1, n_steps, {k: float(v.detach()) for k, v in terms.items()}))
            log.epochs.append({k: v / n_steps for k, v in sums.items()})
        return log

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the model weights."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}


def cosine_lr(lr: float, epoch: int, epochs: int, floor: float = 0.05) -> float:
    """Learning rate of ``epoch`` (1-based) on a cosine from ``lr`` down to ``floor * lr``."""
    progress = (epoch - 1) / max(1, epochs - 1)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
