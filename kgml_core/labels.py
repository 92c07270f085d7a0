"""One human name and one colour per model, state, flux and variable, used by every chart, map and report.

Pure data and small look-ups (no Streamlit, no plotting library), so the pages,
the HTML report and the command line all name and colour things the same way:
a model keeps its colour from chart to chart, a state from page to page.

Colours are explicit hex strings on purpose: a plotly figure built inside a
Streamlit server otherwise takes its default colours from Streamlit's template,
whose "colours" are placeholders (``#000001``, ``#000002``...) that only the
Streamlit front end maps to real ones; drawn anywhere else (the HTML report)
they are near-black.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

# ------------------------------------------------------------------------------------- models
MODEL_NAMES: dict[str, str] = {
    "process_model": "Process model (default parameters)",
    "oracle_global": "Oracle: process model, best single parameter set",
    "oracle_state": "Oracle: process model, state-mean true parameters",
    "oracle_towers": "Oracle: process model, tower-host-mean true parameters",
    "emulator_oracle": "Emulator with the true parameters",
    "emulator_state": "Emulator with the state-mean true parameters",
    "no_knowledge": "Data-only GRU (no knowledge)",
    "global": "Global KGML-ag",
    "state_specific": "State-specific SDSA-KGML",
    "auto_region": "Region-specific SDSA-KGML",
    "truth": "Truth (simulated observations)",
    "obs": "Observed",
    "observed": "Observed",
    "tamrl": "TAM-RL (few-shot)",
    "tamrl_encoder_only": "TAM-RL (few-shot, encoder only)",
    "tamrl_zero_shot": "TAM-RL (zero-shot)",
    "gbm": "Gradient boosting (LightGBM)",
    "lstm": "LSTM",
    "ct_lstm": "Context LSTM (CT-LSTM)",
}
MODEL_SHORT: dict[str, str] = {
    "process_model": "Process model", "oracle_global": "Oracle, one set", "oracle_state": "Oracle, per state",
    "oracle_towers": "Oracle, per state from its towers",
    "emulator_oracle": "Emulator, true params", "emulator_state": "Emulator, state-mean true params",
    "no_knowledge": "Data-only GRU", "global": "Global",
    "state_specific": "State-specific", "auto_region": "Region-specific", "truth": "Truth",
    "tamrl": "TAM-RL few-shot", "tamrl_encoder_only": "TAM-RL encoder only", "tamrl_zero_shot": "TAM-RL zero-shot",
    "tamrl_z_only": "TAM-RL few-shot, embedding only",
    "gbm": "Gradient boosting", "lstm": "LSTM", "ct_lstm": "CT-LSTM",
}
MODEL_HELP: dict[str, str] = {
    "process_model": "the process model with default parameters (no learning)",
    "oracle_global": "ceiling rung: the process model run with the best single parameter set for all states "
                     "(the domain mean of the true parameters or the defaults, whichever fits the training data)",
    "oracle_state": "ceiling rung: the process model run with each state's mean true parameters "
                    "(what state-specific parameters can achieve at best)",
    "oracle_towers": "ceiling rung of the towers: the process model run with the mean true parameters of each "
                     "state's flux-tower host counties (what a state-specific model learning from its towers "
                     "could recover at best)",
    "emulator_oracle": "the pretrained emulator given each county's true parameters (its own error)",
    "emulator_state": "ceiling rung of the estimate: the global model's networks given each state's mean true "
                      "parameters (a state-specific model whose estimate is perfect)",
    "no_knowledge": "level 1: GRU trained on observations only, no knowledge guidance",
    "global": "level 2: KGML-ag, one parameter vector estimated for the whole domain",
    "state_specific": "level 3: SDSA-KGML, one parameter vector estimated per state (networks frozen)",
    "auto_region": "level 3: SDSA-KGML, one parameter vector estimated per auto-detected region",
    "tamrl": "TAM-RL, few-shot: embedding from the site's first-year support, refined on it",
    "tamrl_encoder_only": "TAM-RL, few-shot with the support encoder's embedding alone (the article's)",
    "tamrl_zero_shot": "TAM-RL without adaptation (site features only)",
    "tamrl_z_only": "TAM-RL few-shot with the embedding refined but no per-site flux gains (real towers)",
    "gbm": "LightGBM on daily drivers and site features, tuned on the validation sites (FLUXCOM-style)",
    "lstm": "plain LSTM on drivers and site features",
    "ct_lstm": "context LSTM (CT-LSTM): static features condition the recurrent state",
}
MODEL_ORDER = ("process_model", "oracle_global", "oracle_state", "oracle_towers", "emulator_oracle", "emulator_state",
               "no_knowledge",
               "global",
               "state_specific", "auto_region", "tamrl", "tamrl_z_only", "tamrl_encoder_only", "tamrl_zero_shot",
               "gbm", "lstm", "ct_lstm")
# Okabe-Ito (colour-blind safe) for the ladder; the key comparison global/state-specific is blue/vermillion.
MODEL_COLOURS: dict[str, str] = {
    "process_model": "#7F7F7F", "oracle_global": "#BBBBBB", "oracle_state": "#444444",
    "oracle_towers": "#999933",
    "emulator_oracle": "#CC79A7", "emulator_state": "#882255", "no_knowledge": "#E69F00", "global": "#0072B2",
    "state_specific": "#D55E00", "auto_region": "#009E73", "truth": "#111111", "obs": "#111111",
    "observed": "#111111", "tamrl": "#D55E00", "tamrl_encoder_only": "#56B4E9", "tamrl_zero_shot": "#CC79A7", "tamrl_z_only": "#F0E442",
    "gbm": "#0072B2",
    "lstm": "#E69F00", "ct_lstm": "#009E73",
}

# ------------------------------------------------------------------------------------- fluxes
FLUX_NAMES: dict[str, str] = {
    "GPP": "Gross primary production (GPP)",
    "RA": "Autotrophic respiration (Ra)",
    "RH": "Heterotrophic respiration (Rh)",
    "RECO": "Ecosystem respiration (Reco)",
    "NEE": "Net ecosystem exchange (NEE)",
    "YIELD": "Grain yield",
}
FLUX_SHORT: dict[str, str] = {"GPP": "GPP", "RA": "Ra", "RH": "Rh", "RECO": "Reco", "NEE": "NEE",
                              "YIELD": "Yield"}
FLUX_HELP: dict[str, str] = {
    "GPP": "carbon taken up by photosynthesis",
    "RA": "carbon released by the plants' own respiration",
    "RH": "carbon released by soil microbes decomposing organic matter",
    "RECO": "Ra + Rh: all carbon released by the ecosystem",
    "NEE": "Reco − GPP: negative is net uptake by the land (a sink), positive a net source",
    "YIELD": "harvested grain (as carbon, or in bushels per acre)",
}
FLUX_UNITS: dict[str, str] = {"RA": "g C m-2 d-1", "RH": "g C m-2 d-1", "NEE": "g C m-2 d-1",
                              "RECO": "g C m-2 d-1", "GPP": "g C m-2 d-1", "YIELD": "g C m-2"}
FLUX_COLOURS: dict[str, str] = {"GPP": "#009E73", "RA": "#E69F00", "RH": "#8C510A", "RECO": "#D55E00",
                                "NEE": "#0072B2", "YIELD": "#B8860B"}

# ------------------------------------------------------------------------------------- states
# A fixed colour per state: the default three are distinct and colour-blind safe; the rest
# come from one long qualitative list (plotly's Dark24 then Alphabet), in alphabetical order.
_STATE_FIXED = {"IA": "#0072B2", "IL": "#D55E00", "IN": "#009E73", "NE": "#CC79A7", "WI": "#E69F00",
                "MN": "#56B4E9", "OH": "#882255", "MO": "#999933", "KS": "#44AA99", "MI": "#AA4499"}
_LONG_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038", "#AA0DFE", "#3283FE", "#85660D",
    "#782AB6", "#565656", "#1C8356", "#16FF32", "#F7E1A0", "#E2E2E2", "#1CBE4F", "#C4451C", "#DEA0FD",
    "#FE00FA", "#325A9B", "#FEAF16", "#F8A19F", "#90AD1C", "#F6222E", "#1CFFCE", "#2ED9FF", "#B10DA1",
)
# A generic categorical palette for anything else (regions, pairs of groups).
CATEGORICAL = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#999933",
               "#44AA99", "#AA4499", "#332288", "#661100")


def state_colour(code: str) -> str:
    """The state's colour (postal code), the same on every page."""
    from kgml_core import geo

    code = str(code).upper()
    if code in _STATE_FIXED:
        return _STATE_FIXED[code]
    others = [c for c in sorted(geo.CONUS_STATES) if c not in _STATE_FIXED]
    if code in others:
        return _LONG_PALETTE[others.index(code) % len(_LONG_PALETTE)]
    return _hashed(code)


def state_name(code: str) -> str:
    """"Iowa" for "IA" (the code itself when unknown)."""
    from kgml_core import geo

    entry = geo.CONUS_STATES.get(str(code).upper())
    return entry[0] if entry else str(code)


def _hashed(key: str) -> str:
    digest = int(hashlib.sha1(key.encode()).hexdigest(), 16)
    return CATEGORICAL[digest % len(CATEGORICAL)]


def model_name(key: str, short: bool = False) -> str:
    """Human name of a model identifier (the identifier itself when unknown)."""
    table = MODEL_SHORT if short else MODEL_NAMES
    return table.get(str(key), MODEL_NAMES.get(str(key), str(key)))


def model_colour(key: str) -> str:
    return MODEL_COLOURS.get(str(key), _hashed(str(key)))


def flux_name(key: str, short: bool = False) -> str:
    return (FLUX_SHORT if short else FLUX_NAMES).get(str(key).upper(), str(key))


def flux_colour(key: str) -> str:
    return FLUX_COLOURS.get(str(key).upper(), _hashed(str(key)))


def colour(key: str) -> str:
    """The colour of a model, a state or a flux identifier; a stable colour for anything else."""
    key = str(key)
    if key in MODEL_COLOURS:
        return MODEL_COLOURS[key]
    from kgml_core import geo

    if key.upper() in geo.CONUS_STATES and len(key) == 2:
        return state_colour(key)
    if key.upper() in FLUX_COLOURS:
        return FLUX_COLOURS[key.upper()]
    return _hashed(key)


def colour_map(keys: Iterable[str]) -> dict[str, str]:
    """``{key: colour}`` for plotly's ``color_discrete_map``; unknown keys get distinct palette colours."""
    out: dict[str, str] = {}
    spare = iter(c for c in CATEGORICAL * 4)
    for key in keys:
        col = colour(key)
        if col in out.values() and str(key) not in MODEL_COLOURS:
            col = next(spare)
        out[str(key)] = col
    return out


# ------------------------------------------------------------------------------------- variables
def glossary() -> dict[str, str]:
    """Variable and feature code -> "what it is (units)", for tooltips: contract variables and shift features."""
    from kgml_core import schema
    from kgml_core.shift.features import CLIMATE_FEATURES

    out = {name: f"{spec.long_name} ({spec.units})" for name, spec in schema.VARIABLES.items()}
    out.update({f.name: f"{f.description} ({f.units})" for f in CLIMATE_FEATURES})
    return out


def describe(code: str) -> str:
    """``"KSAT: saturated hydraulic conductivity (mm h-1)"``; the code alone when unknown."""
    text = glossary().get(str(code))
    return f"{code}: {text}" if text else str(code)


# ------------------------------------------------------------------------------------- periods
SEASON_NAMES = {"DJF": "winter (December-February)", "MAM": "spring (March-May)",
                "JJA": "summer (June-August)", "SON": "autumn (September-November)"}
MONTH_NAMES = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "May": "May",
               "Jun": "June", "Jul": "July", "Aug": "August", "Sep": "September", "Oct": "October",
               "Nov": "November", "Dec": "December"}


def period_name(code: str) -> str:
    """"summer (June-August)" for "JJA", "July" for "Jul", "whole year" for "year"."""
    if code == "year":
        return "whole year"
    return SEASON_NAMES.get(code) or MONTH_NAMES.get(code, code)


# ------------------------------------------------------------------------------------- yield units
def yield_bu_per_acre_factor(crop: str = "CORN") -> float:
    """Bushels per acre in one g C m-2 of grain carbon (corn by default; see loaders.nass)."""
    from kgml_core.loaders.nass import bu_per_acre_to_g_c

    return 1.0 / float(bu_per_acre_to_g_c(1.0, crop))
