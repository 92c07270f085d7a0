"""Upscaling: daily GPP, RECO and NEE for every county from drivers and static features.

A trained TAM-RL ensemble (one model per seed) predicts each county in
zero-shot mode (task embedding from the county's static features and classes,
since no county has a tower); the ensemble mean is the estimate and the
standard deviation across seeds its uncertainty. The result is a contract
dataset (``unit`` = 5-digit county FIPS, ``unit_kind`` "county") that the
emission maps draw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xarray as xr

from kgml_core import schema
from kgml_core.tamrl.sites import ClassVocab, TARGETS, complete_static_features, site_arrays
from kgml_core.tamrl.windows import Scaler
from kgml_core.tamrl.training import TrainConfig
from kgml_core.tamrl.predict import predict_series


@dataclass
class Member:
    """One trained ensemble member: a model and the scaler and vocabulary it was trained with."""

    model: object
    scaler: Scaler
    vocab: ClassVocab


def upscale(members: Sequence[Member], counties: xr.Dataset, drivers: Sequence[str],
            statics: Sequence[str], cfg: TrainConfig, igbp: str = "CRO",
            model_name: str = "tamrl_zero_shot", memory: Sequence[int] = ()) -> xr.Dataset:
    """Daily GPP, RECO, NEE (mean and ``*_STD`` across members) for every unit of ``counties``.

    Parameters
    ----------
    members : trained models (TAM-RL predicts zero-shot; LSTMs use drivers and statics).
    counties : daily contract dataset of counties with the drivers (e.g. :func:`kgml_core.simulator.load_world`).
    drivers, statics, memory : the inputs the members were trained on.
    cfg : training config (window length and stride for prediction).
    igbp : vegetation class assigned to counties without one (the simulated counties are cropland).

    Returns
    -------
    Contract dataset with GPP, RECO, NEE and GPP_STD, RECO_STD, NEE_STD (g C m-2 d-1), dims (unit, time).
    """
    if not members:
        raise ValueError("upscaling needs at least one trained model")
    ds = complete_static_features(counties, igbp=igbp)
    preds = []
    for m in members:
        a, _ = site_arrays(ds, drivers, statics, vocab=m.vocab, require_targets=False, memory=memory)
        preds.append(predict_series(m.model, m.scaler.transform(a), m.scaler, cfg, None))
    stack = np.stack(preds)                                  # (member, unit, time, 3)
    out = schema.empty_units(ds["unit"].values, ds["lat"].values, ds["lon"].values,
                             ds["state"].values, "county")
    out = out.assign_coords(time=ds["time"].values.astype("datetime64[ns]"),
                            IGBP=("unit", ds["IGBP"].values), climate=("unit", ds["climate"].values))
    for j, name in enumerate(TARGETS):
        schema.set_variable(out, name, stack[..., j].mean(0), provenance=f"{model_name} ensemble mean")
        out[f"{name}_STD"] = (schema.DAILY, stack[..., j].std(0),
                              {"units": "g C m-2 d-1",
                               "long_name": f"standard deviation of {name} across the {len(members)}-member seed ensemble"})
    out.attrs.update({"title": "upscaled daily carbon fluxes", "source": f"kgml_core.tamrl.upscale ({model_name})",
                      "n_members": len(members)})
    return schema.validate(out)
