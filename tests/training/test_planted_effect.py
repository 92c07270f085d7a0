"""A planted effect must be recovered by the parameter estimation, and no effect must not be invented.

The estimation machinery of SDSA-KGML (``observation_step`` training the
``params`` group of a frozen, parameter-conditioned model from noisy tower Reco
and NEE, with a prior toward the default and L2-SP toward the global estimate)
is run on a world whose heterotrophic respiration follows
``Rh = R0 * Q10 ** ((T - 20) / 10)``, with an exact emulator of that world
(the learned emulator's accuracy is measured by the benchmark, not here). With
the states' Q10 far apart and dense towers, the state-specific estimates must
find each state's Q10 and beat the global one clearly; with one Q10 everywhere
they must not differ beyond the bootstrap interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from kgml_core.training.data import INPUTS, PARAM_NAMES, SOIL_INPUTS, Normalizer, make_samples, prior_mean, \
    prior_std
from kgml_core.training.protocol import observation_step
from kgml_core.training.trainer import KGMLTrainer, StepConfig

R0 = 1.2
Q10 = PARAM_NAMES.index("RH_Q10")


@dataclass
class ExactConfig:
    n_params: int = len(PARAM_NAMES)


class ExactEmulator(nn.Module):
    """The planted world's own equations with the KGML-ag interface (physical = standardised units)."""

    GROUPS = {"params": ("theta",)}

    def __init__(self):
        super().__init__()
        self.config = ExactConfig()
        self.theta = nn.Parameter(torch.zeros(len(PARAM_NAMES)))
        self.p_mean, self.p_std = torch.from_numpy(prior_mean()), torch.from_numpy(prior_std())

    def forward(self, x, residue=None, params=None):
        z = self.theta.expand(x.shape[0], -1) if params is None else params
        q10 = (self.p_mean + self.p_std * z)[:, Q10].clamp_min(1.01)
        ta = x[..., INPUTS.index("TA_MAX")] - x[..., INPUTS.index("TA_RANGE")] / 2
        gpp = x[..., INPUTS.index("GPP")]
        rh = R0 * q10[:, None] ** ((ta - 20) / 10)
        ra = 0.45 * gpp
        return {"yield": x.new_zeros(x.shape[0]), "ra": ra, "rh": rh, "nee": ra + rh - gpp,
                "attention": x.new_zeros(x.shape[:2])}


def q10_world(q10: np.ndarray, states, seed: int, years=(2001, 2002)) -> xr.Dataset:
    """Units with seasonal weather, a crop's GPP and Rh = R0 * q10 ** ((T - 20) / 10)."""
    g = np.random.default_rng(seed)
    n = len(q10)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    doy = time.day_of_year.values
    shape = (n, len(time))
    ta = 10 + 14 * np.sin((doy - 110) / 365 * 2 * np.pi) + g.normal(0, 3, shape)
    season = np.clip(np.sin((doy - 130) / 140 * np.pi), 0, None) * (doy < 270)
    gpp = 14 * season * (1 + 0.1 * g.normal(size=(n, 1)))
    ra, rh = 0.45 * gpp, R0 * q10[:, None] ** ((ta - 20) / 10)
    ds = xr.Dataset(coords={"unit": np.array([f"{17000 + i}" for i in range(n)], dtype=object), "time": time,
                            "year": np.arange(years[0], years[1] + 1), "state": ("unit", np.asarray(states, object))})
    daily = {"TA_MAX": ta + 5, "TA_MIN": ta - 5, "SW_IN": np.broadcast_to(80 + 220 * season, shape),
             "P": g.exponential(2, shape),
             "RH_MAX": np.full(shape, 90.0), "RH_MIN": np.full(shape, 50.0), "WS": np.full(shape, 3.0),
             "GPP": gpp, "RA": ra, "RH": rh, "RECO": ra + rh, "NEE": ra + rh - gpp}
    for name, value in daily.items():
        ds[name] = (("unit", "time"), value.astype(np.float32))
    for name in SOIL_INPUTS:
        ds[name] = ("unit", np.ones(n))
    ds["CROP"] = (("unit", "year"), np.zeros((n, len(ds.year))))
    return ds


def towers(truth: xr.Dataset, seed: int) -> xr.Dataset:
    """Noisy, gappy Reco and NEE; no Ra / Rh (unobservable)."""
    g = np.random.default_rng(seed)
    out = truth.drop_vars(["RA", "RH"])
    for k in ("RECO", "NEE"):
        noisy = out[k].values + 0.3 * g.standard_normal(out[k].shape)
        out[k] = (("unit", "time"), np.where(g.random(noisy.shape) < 0.15, np.nan, noisy).astype(np.float32))
    return out


def _norm() -> Normalizer:
    n = len(INPUTS)
    return Normalizer(np.zeros(n, np.float32), np.ones(n, np.float32),
                      {k: 0.0 for k in ("RA", "RH", "NEE", "RECO", "YIELD", "GPP", "RESIDUE")},
                      {k: 1.0 for k in ("RA", "RH", "NEE", "RECO", "YIELD", "GPP", "RESIDUE")},
                      np.ones(365, np.float32))


def _estimate(sites, anchor=None) -> KGMLTrainer:
    model = ExactEmulator()
    if anchor is not None:
        model.load_state_dict(anchor)
    trainer = KGMLTrainer(model, _norm(), torch.device("cpu"), seed=0)
    cfg = StepConfig(epochs=40, batch_size=64, lr=0.1, cosine=True,
                     param_prior=1e-2 if anchor is None else 0.0, l2sp=1e-2 if anchor is not None else 0.0)
    observation_step(trainer, None, sites, ("params",), cfg, "estimate", anchor)
    return trainer


def _compare(q10_by_state: dict[str, float]):
    states = np.repeat(list(q10_by_state), 6)                        # dense: 6 towers per state
    q10 = np.array([q10_by_state[s] for s in states])
    sites = make_samples(towers(q10_world(q10, states, seed=5), seed=6))
    glob = _estimate(sites)
    ev = make_samples(q10_world(q10, states, seed=7))                  # other weather: held-out years
    pred_g, pred_s, est = glob.predict(ev)["RH"], np.empty((len(ev), 365), np.float32), {}
    for st in q10_by_state:
        t = _estimate(sites.subset(sites.state == st), anchor=glob.state_dict())
        pred_s[ev.state == st] = t.predict(ev.subset(ev.state == st))["RH"]
        est[st] = float(prior_mean()[Q10] + prior_std()[Q10] * t.model.theta.detach()[Q10])
    return ev, pred_g, pred_s, est


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_planted_q10_difference_is_recovered():
    torch.set_num_threads(1)
    planted = {"IL": 1.6, "IA": 3.0}
    ev, pred_g, pred_s, est = _compare(planted)
    for st, q10 in planted.items():
        rows = ev.state == st
        g, s = _rmse(pred_g[rows], ev.daily["RH"][rows]), _rmse(pred_s[rows], ev.daily["RH"][rows])
        assert s < 0.5 * g, (st, g, s)
        assert abs(est[st] - q10) < 0.25, (st, est[st], q10)


def test_no_heterogeneity_no_difference():
    """One Q10 everywhere: the state estimates agree with it and the error difference is negligible.

    (With an exact emulator both errors are tiny, so the difference is judged
    against the size of Rh, not in percent of an almost-zero RMSE.)
    """
    torch.set_num_threads(1)
    ev, pred_g, pred_s, est = _compare({"IL": 2.4, "IA": 2.4})
    for st in ("IL", "IA"):
        rows = ev.state == st
        truth = ev.daily["RH"][rows]
        diff = _rmse(pred_s[rows], truth) - _rmse(pred_g[rows], truth)
        assert abs(diff) < 0.01 * float(truth.std()), (st, diff)
        assert abs(est[st] - 2.4) < 0.1, (st, est[st])
