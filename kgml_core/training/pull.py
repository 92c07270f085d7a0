"""How strongly a region's parameter estimate is pulled toward the global one, chosen on held-out towers.

A region's (state's) parameter vector ``theta`` is estimated from its few flux
towers with an L2-SP pull ``l2sp * |theta - theta_global|^2`` toward the global
estimate. A fixed pull is wrong in one direction or the other: strong, it
shrinks the most different region toward the domain (Illinois' Q10); weak, it
fits a few towers' noise when the regions do not differ at all. Here the pull
is chosen per region from a grid by **leave-one-site-out validation**: for
each candidate and each tower, ``theta`` is estimated on the region's other
towers and scored on the left-out tower's observed Reco and NEE. The chosen
pull is the strongest one whose validation loss is not worse than the best
candidate's by more than one paired standard error over the folds (the
"one-standard-error rule", paired by fold) or by more than 1 %
(:data:`TOLERANCE`), so that when the region does not differ from the
domain, the strong pull wins. With ``l2sp_grid_global`` the candidates also
include an infinite pull: no estimate of the region's own, the global
``theta`` itself (its validation costs no fit), so that validation can
decline a region-specific estimate altogether. With ``l2sp_grid_folds="sites+years"``
the folds also leave one training year of every tower out (:func:`held_out_rows`): a
pull that only helps the years it was fitted on loses there (the state-vs-global
experiment's setting since session 10: docs/kgml.md).

All ``n_candidates x n_folds`` fold estimates run as one batch through the
frozen network, each sample with its own fit's ``theta``. The losses of the
fits are summed, so their gradients are independent; Adam is per element and
the gradient is clipped per fit, so every fit follows the same path it would
alone (up to dropout draws). The region's estimate is then the ordinary
estimate on all its data with the chosen pull.

The batch's forward and backward run in chunks of whole fits
(:data:`FIT_CHUNK_ROWS`; the backward keeps about 3 MB of activations per
547-day sample, so `full`'s largest region, 4,320 fold samples, needed about
13 GB in one piece, and the small chunks run faster), each fit's gradient
from its own chunk, with the whole batch's dropout masks
(:func:`~kgml_core.models.fast_gru.replayed_dropout`): the same estimates,
bit for bit, as the one batch.

The global estimate used as the anchor saw every tower, including the
left-out one (one of the domain's towers): a small advantage to strong pulls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from kgml_core.models.fast_gru import replayed_dropout
from kgml_core.training.data import Samples
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig, cosine_lr

# terms of the site loss that measure the fit to the observations (the balance term does not)
VALIDATION_TERMS = ("reco", "nee", "swc")     # swc: the towers' soil water, for a model that predicts it
# samples of the fold fits' batch per forward and backward (whole fits; one chunk when the batch is smaller): at
# `full` sizes (547-day samples, hidden 64) a state's fold fits took 0.6 GB above the data and 5.0 s per epoch in
# chunks of 160 against 4.2 GB and 12.1 s in one piece (CPU time, one thread; 6.7 s in chunks of 320)
FIT_CHUNK_ROWS = 160
# chunks start on multiples of this many rows: the fused GRU's backward works on blocks of 16 samples (AVX-512
# float32), so a chunk that starts on a block gives each sample the bits of the whole batch (other starts
# differ in the last bits, measured)
ROW_BLOCK = 16
# a weaker pull must lower the left-out sites' loss by more than this fraction too: the loss is mostly the
# towers' noise, and differences of a few tenths of a percent, however consistent over the folds, come
# from the global estimate's own small bias when the regions do not differ (measured at heterogeneity 0)
TOLERANCE = 0.01


@dataclass
class PullChoice:
    """The validation of a grid of pulls: the candidates (strongest first), the mean validation loss
    per candidate over the validation folds, its paired standard error against the best, and the choice;
    ``fold_loss`` (candidates x folds) has one column per name of ``fold_names`` (the left-out tower, then
    with ``folds="sites+years"`` the left-out year)."""

    grid: list[float]
    loss: list[float]
    se: list[float]
    chosen: float
    towers: list[str]
    fold_loss: list[list[float]] = field(default_factory=list)
    folds: str = "sites"
    fold_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready; the infinite pull (no own estimate: the global one) is written ``"global"``."""
        def name(pull: float):
            return pull if math.isfinite(pull) else "global"
        return {"grid": [name(g) for g in self.grid], "validation_loss": self.loss, "paired_se": self.se,
                "chosen": name(self.chosen),
                "towers": self.towers, "fold_loss": self.fold_loss, "fold_names": self.fold_names,
                "rule": "one paired standard error, "
                + ("leave-one-site-out" if self.folds == "sites" else "leave-one-site-out and leave-one-year-out")}


def one_se_choice(grid: list[float], fold_loss: np.ndarray,
                  tolerance: float = TOLERANCE) -> tuple[float, np.ndarray, np.ndarray]:
    """The strongest pull not worse than the best by more than one paired standard error (or ``tolerance``).

    grid : (G,) candidate pulls; fold_loss : (G, F) validation loss per candidate and left-out site;
    tolerance : relative difference of mean losses below which candidates count as equal.
    Returns the chosen pull, the mean loss (G,) and the paired standard error against the best (G,).
    """
    mean = fold_loss.mean(axis=1)
    best = int(np.argmin(mean))
    diff = fold_loss - fold_loss[best]
    n = fold_loss.shape[1]
    se = diff.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(len(grid))
    eligible = [i for i in range(len(grid)) if mean[i] - mean[best] <= max(se[i], tolerance * mean[best])]
    return max(grid[i] for i in eligible), mean, se


def choose_pull(trainer: KGMLTrainer, sites: Samples, cfg: StepConfig,
                anchor: dict[str, torch.Tensor]) -> PullChoice | None:
    """The pull of ``cfg.l2sp_grid`` chosen by validation on ``sites`` (folds: ``cfg.l2sp_grid_folds``).

    The trainer's model must hold ``theta`` (a parameter-conditioned emulator)
    and start from ``anchor``; it is left unchanged. Returns None (nothing
    done) with fewer than two sites or an empty grid.
    """
    towers = np.unique(sites.unit.astype(str))
    if len(towers) < 2 or not cfg.l2sp_grid:
        return None
    grid = sorted({float(v) for v in cfg.l2sp_grid} | ({math.inf} if cfg.l2sp_grid_global else set()),
                  reverse=True)
    fold_rows = held_out_rows(sites, towers, cfg.l2sp_grid_folds)
    held_out = list(fold_rows.values())
    folds = [(g, f) for g in range(len(grid)) for f in range(len(held_out))]
    trainer.set_trainable(("params",))
    tensors = trainer.tensors(Source(sites, "site_fluxes"))
    ranking = replace(cfg, epochs=cfg.l2sp_grid_epochs or cfg.epochs)
    fitted = [(g, f) for g, f in folds if math.isfinite(grid[g])]
    theta0 = anchor["theta"].to(trainer.device).float()
    thetas = theta0.repeat(len(folds), 1)                       # the infinite pull: the anchor's estimate
    every = np.arange(len(sites.unit))
    thetas[len(folds) - len(fitted):] = fit_thetas(
        trainer, tensors, [np.setdiff1d(every, held_out[f]) for _, f in fitted], [grid[g] for g, _ in fitted],
        ranking, theta0)
    held = [held_out[f] for _, f in folds]
    loss = validation_loss(trainer, tensors, thetas, held, cfg).reshape(len(grid), len(held_out))
    chosen, mean, se = one_se_choice(grid, loss)
    return PullChoice(grid, mean.tolist(), se.tolist(), chosen, towers.tolist(), loss.tolist(),
                      cfg.l2sp_grid_folds, list(fold_rows))


def held_out_rows(sites: Samples, towers: np.ndarray, folds: str = "sites") -> dict[str, np.ndarray]:
    """The rows (site-years) each validation fold leaves out, by fold name, in fold order.

    ``"sites"``: one fold per tower (sorted, named by the tower), its every year. ``"sites+years"``:
    those, then one fold per training year (ascending, named ``"year YYYY"``) of every tower: the
    estimate fitted on the other years is scored on that year, as a model is on years it has not seen.
    """
    site_of = np.searchsorted(towers, sites.unit.astype(str))
    rows = {str(t): np.flatnonzero(site_of == f) for f, t in enumerate(towers)}
    years = np.unique(sites.year)
    if folds == "sites+years" and len(years) > 1:
        rows |= {f"year {int(y)}": np.flatnonzero(sites.year == y) for y in years}
    return rows


def fit_thetas(trainer: KGMLTrainer, tensors: dict[str, torch.Tensor], rows: list[np.ndarray],
               pulls: list[float], cfg: StepConfig, theta0: torch.Tensor,
               chunk_rows: int = FIT_CHUNK_ROWS) -> torch.Tensor:
    """One ``theta`` per fit, fitted together: fit i on ``tensors``' samples ``rows[i]`` with pull ``pulls[i]``.

    The networks stay frozen; each fit starts at ``theta0`` (the anchor) and
    follows ``cfg`` (epochs, rate, cosine, gradient clip, prior) as one full
    batch per epoch, its forward and backward in chunks of whole fits of about
    ``chunk_rows`` samples on a CPU (:func:`fit_chunks`; the same estimates as
    one piece). Returns (n_fits, n_params).
    """
    theta0 = theta0.to(trainer.device).float()
    thetas = theta0.repeat(len(rows), 1).clone().requires_grad_(True)
    weight = torch.tensor(pulls, device=trainer.device)
    batch = _rows_batch(tensors, rows, trainer.device)
    fit_of_row = torch.from_numpy(np.repeat(np.arange(len(rows)), [len(r) for r in rows])).to(trainer.device)
    sizes = [len(r) for r in rows]
    chunks = fit_chunks(sizes, chunk_rows) if trainer.device.type == "cpu" else [(0, len(rows))]
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    opt = torch.optim.Adam([thetas], lr=cfg.lr)
    for epoch in range(1, cfg.epochs + 1):
        trainer.model.train()
        if cfg.cosine:
            opt.param_groups[0]["lr"] = cosine_lr(cfg.lr, epoch, cfg.epochs)
        opt.zero_grad()
        if len(chunks) == 1:
            per_fit = _fit_losses(trainer, batch, thetas[fit_of_row], rows, cfg)
            total = torch.stack([sum(t.values()) for t in per_fit]).sum() \
                + (weight * ((thetas - theta0) ** 2).sum(1)).sum() + cfg.param_prior * 0.5 * (thetas ** 2).sum()
            total.backward()
        else:
            with replayed_dropout(len(fit_of_row)) as replay:
                for first, end in chunks:
                    part = slice(start[first], start[end])
                    replay.select(part.start, part.stop)
                    per_fit = _fit_losses(trainer, {k: v[part] for k, v in batch.items()}, thetas[fit_of_row[part]],
                                          rows[first:end], cfg)
                    torch.stack([sum(t.values()) for t in per_fit]).sum().backward()
            # the pull's and prior's gradient added to the fits' (the one piece's backward adds them in this order)
            ((weight * ((thetas - theta0) ** 2).sum(1)).sum() + cfg.param_prior * 0.5 * (thetas ** 2).sum()).backward()
        with torch.no_grad():                                   # clip each fit's gradient alone
            norm = thetas.grad.norm(dim=1, keepdim=True)
            thetas.grad.mul_(torch.clamp(cfg.grad_clip / (norm + 1e-6), max=1.0))
        opt.step()
    return thetas.detach()


def fit_chunks(sizes: list[int], chunk_rows: int, block: int = ROW_BLOCK) -> list[tuple[int, int]]:
    """Consecutive fits (``sizes``: samples of each) grouped into chunks ``(first, end)`` of fits.

    A chunk ends only where the samples so far are a multiple of ``block`` (so
    every chunk starts on a block of the whole batch) and holds at most
    ``chunk_rows`` samples where such an end allows it; one chunk when the
    batch has at most ``chunk_rows`` samples or no such end exists.
    """
    ends = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n, chunks, first = len(sizes), [], 0
    while first < n:
        cuts = [j for j in range(first + 1, n) if ends[j] % block == 0]
        fitting = [j for j in cuts if ends[j] - ends[first] <= chunk_rows]
        end = n if ends[n] - ends[first] <= chunk_rows or not cuts else max(fitting) if fitting else cuts[0]
        chunks.append((first, end))
        first = end
    return chunks


def _rows_batch(tensors: dict[str, torch.Tensor], rows: list[np.ndarray], device) -> dict[str, torch.Tensor]:
    idx = torch.from_numpy(np.concatenate(rows))
    return {k: v[idx].to(device) for k, v in tensors.items()}


def _fit_losses(trainer: KGMLTrainer, batch: dict[str, torch.Tensor], params: torch.Tensor,
                rows: list[np.ndarray], cfg: StepConfig) -> list[dict[str, torch.Tensor]]:
    """The site loss terms of each fit (its rows of ``batch``), from one forward with per-row ``params``."""
    p = trainer._phys(trainer._forward(batch["x"], batch["residue"], params))
    out, start = [], 0
    for r in rows:
        part = slice(start, start + len(r))
        out.append(trainer.loss_terms("site_fluxes", {k: v[part] for k, v in p.items()},
                                      {k: v[part] for k, v in batch.items()}, cfg))
        start += len(r)
    return out


@torch.no_grad()
def validation_loss(trainer: KGMLTrainer, tensors: dict[str, torch.Tensor], thetas: torch.Tensor,
                    rows: list[np.ndarray], cfg: StepConfig) -> np.ndarray:
    """Fit i's observation loss (Reco and NEE terms) on ``tensors``' samples ``rows[i]``, (n_fits,)."""
    trainer.model.eval()
    batch = _rows_batch(tensors, rows, trainer.device)
    fit_of_row = torch.from_numpy(np.repeat(np.arange(len(rows)), [len(r) for r in rows])).to(trainer.device)
    terms = _fit_losses(trainer, batch, thetas[fit_of_row], rows, cfg)
    return np.array([sum(float(t[k]) for k in VALIDATION_TERMS if k in t) for t in terms])
