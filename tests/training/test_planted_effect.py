"""A planted effect must be recovered, and no effect must not be invented.

A small world whose heterotrophic respiration follows ``Rh = R0 * Q10 ** ((T - 20) / 10)``:
the emulator is pretrained on an ensemble whose Q10 is drawn per unit from the
prior, then the global model estimates one Q10 from sparse noisy Reco / NEE
"towers" of two states and each state's model its own (networks frozen). With
the states' Q10 far apart, the state-specific models must be clearly better and
recover each state's Q10; with the same Q10 in both states they must not
differ beyond the bootstrap interval.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from kgml_core.metrics import paired_bootstrap_rmse_diff
from kgml_core.models import build_model
from kgml_core.simulator.parameters import PARAMS, prior_sd
from kgml_core.training.data import INPUTS, PARAM_NAMES, SOIL_INPUTS, Normalizer, make_samples
from kgml_core.training.protocol import observation_step, pretrain, ProtocolConfig
from kgml_core.training.trainer import KGMLTrainer, StepConfig

R0 = 1.2
Q10_DEFAULT = PARAMS["RH_Q10"].default


def q10_world(q10: np.ndarray, seed: int, years=(2001, 2002), states=None) -> xr.Dataset:
    """Units with seasonal weather, a crop's GPP and Rh = R0 * q10 ** ((T - 20) / 10)."""
    g = np.random.default_rng(seed)
    n = len(q10)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    doy = time.day_of_year.values
    ta = 10 + 14 * np.sin((doy - 110) / 365 * 2 * np.pi) + g.normal(0, 3, (n, len(time)))
    season = np.clip(np.sin((doy - 130) / 140 * np.pi), 0, None) * (doy < 270)
    gpp = 14 * season * (1 + 0.1 * g.normal(size=(n, 1)))
    ra = 0.45 * gpp
    rh = R0 * q10[:, None] ** ((ta - 20) / 10)
    units = np.array([f"{17000 + i}" for i in range(n)], dtype=object)
    ds = xr.Dataset(coords={"unit": units, "time": time, "year": np.arange(years[0], years[1] + 1),
                            "state": ("unit", np.array(states if states is not None else ["IL"] * n, object))})
    daily = {"TA_MAX": ta + 5, "TA_MIN": ta - 5, "SW_IN": 80 + 220 * season + g.random((n, len(time))),
             "P": g.exponential(2, (n, len(time))), "RH_MAX": 90 + g.random((n, len(time))),
             "RH_MIN": 50 + g.random((n, len(time))), "WS": 3 + g.random((n, len(time))),
             "GPP": gpp, "RA": ra, "RH": rh, "RECO": ra + rh, "NEE": ra + rh - gpp}
    for name, value in daily.items():
        ds[name] = (("unit", "time"), value.astype(np.float32))
    for name in SOIL_INPUTS:
        ds[name] = ("unit", 1 + g.random(n))
    ds["CROP"] = (("unit", "year"), np.zeros((n, len(ds.year))))
    ds["YIELD"] = (("unit", "year"), (300 + 20 * g.random((n, len(ds.year)))))
    ds["PARAM_RH_Q10"] = ("unit", q10.astype(np.float32))
    return ds


def towers(truth: xr.Dataset, seed: int) -> xr.Dataset:
    """Noisy Reco and NEE (no Ra / Rh: unobservable), gaps as NaN, no parameters."""
    g = np.random.default_rng(seed)
    out = truth.drop_vars(["RA", "RH", "PARAM_RH_Q10", "YIELD"])
    for k in ("RECO", "NEE"):
        noisy = out[k].values + 0.3 * g.standard_normal(out[k].shape)
        out[k] = (("unit", "time"), np.where(g.random(noisy.shape) < 0.15, np.nan, noisy).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def emulator():
    """KGML-ag pretrained on a Q10 ensemble (prior draws per unit)."""
    torch.manual_seed(0)
    z = np.clip(np.random.default_rng(0).standard_normal(40), -2.5, 2.5)
    ensemble = make_samples(q10_world(Q10_DEFAULT + prior_sd("RH_Q10") * z, seed=1))
    norm = Normalizer.fit(ensemble)
    model = build_model("kgml_ag", {"n_inputs": len(INPUTS), "hidden": 16, "flux_hidden": 12, "head_hidden": 8,
                                    "dropout": 0.0, "n_params": len(PARAM_NAMES)})
    trainer = KGMLTrainer(model, norm, torch.device("cpu"), seed=0)
    cfg = ProtocolConfig(step1=StepConfig(epochs=3, batch_size=40, lr=1e-2, balance=0.0),
                         step2=StepConfig(epochs=60, batch_size=40, lr=1e-2, cosine=True))
    torch.set_num_threads(1)
    pretrain(trainer, ensemble, cfg)
    return trainer.state_dict(), norm


def _estimate(emulator, sites, yields, anchor=None, epochs=40):
    weights, norm = emulator
    model = build_model("kgml_ag", {"n_inputs": len(INPUTS), "hidden": 16, "flux_hidden": 12, "head_hidden": 8,
                                    "dropout": 0.0, "n_params": len(PARAM_NAMES)})
    model.load_state_dict(anchor or weights)
    trainer = KGMLTrainer(model, norm, torch.device("cpu"), seed=0)
    cfg = StepConfig(epochs=epochs, batch_size=64, lr=0.1, cosine=True, balance=0.0,
                     param_prior=1e-3 if anchor is None else 0.0)
    observation_step(trainer, yields, sites, ("params",), cfg, "estimate")
    return trainer


def _compare(emulator, q10_by_state: dict[str, float]):
    """Global (one Q10) against state-specific (one Q10 per state): Rh truth, predictions, estimates."""
    states = np.repeat(list(q10_by_state), 8)
    q10 = np.array([q10_by_state[s] for s in states])
    truth = q10_world(q10, seed=5, states=states)
    sites = make_samples(towers(truth, seed=6))
    yields = sites.subset(np.zeros(len(sites), bool))                  # towers only
    glob = _estimate(emulator, sites, yields)
    ev = make_samples(q10_world(q10, seed=7, states=states))        # new weather: held-out years
    pred_g = glob.predict(ev)["RH"]
    pred_s = np.empty_like(pred_g)
    est = {}
    for st in q10_by_state:
        t = _estimate(emulator, sites.subset(sites.state == st), yields, anchor=glob.state_dict())
        pred_s[ev.state == st] = t.predict(ev.subset(ev.state == st))["RH"]
        est[st] = glob.norm.unscale_params(t.model.theta.detach().numpy())["RH_Q10"]
    return ev, pred_g, pred_s, est


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_planted_q10_difference_is_recovered(emulator):
    planted = {"IL": 1.5, "IA": 3.2}
    ev, pred_g, pred_s, est = _compare(emulator, planted)
    for st, q10 in planted.items():
        rows = ev.state == st
        g, s = _rmse(pred_g[rows], ev.daily["RH"][rows]), _rmse(pred_s[rows], ev.daily["RH"][rows])
        assert s < 0.7 * g, (st, g, s)
        assert abs(est[st] - q10) < 0.3, (st, est[st], q10)


def test_no_heterogeneity_no_difference(emulator):
    ev, pred_g, pred_s, est = _compare(emulator, {"IL": 2.4, "IA": 2.4})
    for st in ("IL", "IA"):
        rows = ev.state == st
        ci = paired_bootstrap_rmse_diff(ev.daily["RH"][rows], pred_s[rows], pred_g[rows], n_boot=200)
        assert ci["lo"] <= 0.0 <= ci["hi"] or abs(ci["rel_diff"]) < 0.03, (st, ci)
