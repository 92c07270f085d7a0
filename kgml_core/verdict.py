"""Plain-language verdicts of a state-vs-global comparison, one per state, with their 95 % interval.

Reads the run's metrics dict (``metrics["bootstrap"][state][flux]["<model>_vs_<baseline>"]``
holds the paired-bootstrap RMSE difference ``diff`` = RMSE(model) − RMSE(baseline)
with its interval ``lo``/``hi`` and ``rel_diff`` = diff / RMSE(baseline)) and says,
for each state, whether the model's error is really lower, really higher, or not
distinguishable from the baseline's. Pure: used by the Compare page and the report.
"""
from __future__ import annotations

from dataclasses import dataclass

from kgml_core import labels

# A relative change smaller than this (and significant) is called "small" (fraction of the baseline RMSE).
SMALL_EFFECT = 0.02
LEVELS = ("better", "slightly_better", "no_difference", "slightly_worse", "worse")
LEVEL_COLOURS = {"better": "#1B7837", "slightly_better": "#5AAE61", "no_difference": "#707070",
                 "slightly_worse": "#E08214", "worse": "#B2182B"}
LEVEL_WORDS = {"better": "a real improvement", "slightly_better": "a small but real improvement",
               "no_difference": "no clear difference", "slightly_worse": "slightly worse, and the "
               "interval excludes no change", "worse": "clearly worse"}


@dataclass(frozen=True)
class Verdict:
    """One state's answer.

    pct, lo_pct, hi_pct : relative RMSE change of ``model`` against ``baseline`` and its 95 %
        interval, in % of the baseline's RMSE (negative: the model's error is lower).
    level : one of :data:`LEVELS`.
    """

    state: str
    flux: str
    model: str
    baseline: str
    pct: float
    lo_pct: float
    hi_pct: float
    level: str
    sentence: str

    @property
    def colour(self) -> str:
        return LEVEL_COLOURS[self.level]


def classify(lo_pct: float, hi_pct: float, pct: float) -> str:
    """Verdict level from the interval of the relative change (%)."""
    if hi_pct < 0:
        return "better" if abs(pct) >= 100 * SMALL_EFFECT else "slightly_better"
    if lo_pct > 0:
        return "worse" if abs(pct) >= 100 * SMALL_EFFECT else "slightly_worse"
    return "no_difference"


def sentence(state: str, flux: str, model: str, baseline: str, pct: float, lo_pct: float, hi_pct: float,
             level: str) -> str:
    """"In Iowa the state-specific model's Rh error is 6 % lower than the global model's (95 % interval
    5 to 8 % lower): a real improvement."""
    where = labels.state_name(state)
    who, against = labels.model_name(model, short=True).lower(), labels.model_name(baseline, short=True).lower()
    what = labels.flux_name(flux, short=True)
    direction = "lower" if pct < 0 else "higher"
    if max(abs(round(v, 1)) for v in (pct, lo_pct, hi_pct)) == 0:     # e.g. a state estimate declined by validation
        return (f"In {where} the {who} model's {what} error is the same as the {against} model's (to 0.1 %, "
                f"95 % interval included): {LEVEL_WORDS[level]}.")
    if lo_pct < 0 < hi_pct:
        interval = f"95 % interval {_pct(lo_pct)} to {_pct(hi_pct)}"
    else:
        a, b = sorted((abs(lo_pct), abs(hi_pct)))
        interval = f"95 % interval {a:.1f} to {b:.1f} % {direction}"
    return (f"In {where} the {who} model's {what} error is {abs(pct):.1f} % {direction} than the {against} "
            f"model's ({interval}): {LEVEL_WORDS[level]}.")


def _pct(value: float) -> str:
    """Signed percentage to 0.1, without a negative zero."""
    return f"{round(value, 1) + 0.0:+.1f} %"


def state_verdicts(metrics: dict, flux: str = "RH", model: str = "state_specific",
                   baseline: str = "global") -> list[Verdict]:
    """One :class:`Verdict` per state that has the comparison, in the metrics' state order."""
    key = f"{model}_vs_{baseline}"
    out = []
    for state, fluxes in (metrics.get("bootstrap") or {}).items():
        ci = (fluxes.get(flux) or {}).get(key)
        if not isinstance(ci, dict) or not {"diff", "lo", "hi"} <= set(ci):
            continue
        scale = _baseline_scale(ci, metrics, state, flux, baseline)
        if scale is None:
            continue
        pct, lo, hi = (100 * ci[k] / scale for k in ("diff", "lo", "hi"))
        level = classify(lo, hi, pct)
        out.append(Verdict(state, flux, model, baseline, pct, lo, hi, level,
                           sentence(state, flux, model, baseline, pct, lo, hi, level)))
    return out


def _baseline_scale(ci: dict, metrics: dict, state: str, flux: str, baseline: str) -> float | None:
    """The baseline's RMSE the bootstrap differences are relative to."""
    if ci.get("rel_diff") and ci.get("diff"):
        return ci["diff"] / ci["rel_diff"]
    rmse = (((metrics.get("states") or {}).get(state) or {}).get(baseline) or {}).get(flux, {}).get("rmse")
    return float(rmse) if rmse else None


def process_model_explanation(metrics: dict, config: dict | None = None, flux: str = "RH") -> list[str]:
    """Why the default-parameter process model scores so well, tied to how the world is simulated.

    The "observed" world is the same simulator with location-dependent parameters, so
    the process model with default parameters has the right structure, the right
    weather and soils, and misses only the parameter shift; learned models must learn
    the structure from a few towers. Sentences quote the run's own R² of the process
    model and of the global model.
    """
    config = config or {}
    states = metrics.get("states") or {}
    r2 = {m: [s.get(m, {}).get(flux, {}).get("r2") for s in states.values()] for m in ("process_model", "global")}
    r2 = {m: [v for v in vals if isinstance(v, (int, float))] for m, vals in r2.items()}
    if not r2["process_model"]:
        return []
    het = config.get("heterogeneity")
    out = [
        "The simulated 'observed' world is made by the same process model the ladder starts from; only some "
        "of its parameters (Rh's soil-moisture optimum and width, Q10, decay rates, light-use efficiency, "
        "drainage) vary in space"
        + (f", scaled by the run's heterogeneity {het:g}" if isinstance(het, (int, float)) else "") + ".",
        "So the process model with default parameters already has the right equations, weather, soils and "
        "crop calendar: its only error is the parameter shift. Its "
        f"{labels.flux_name(flux, short=True)} R² is {_span(r2['process_model'])} across the states"
        + (f", against {_span(r2['global'])} for the global KGML-ag model" if r2["global"] else "") + ".",
        "The learned models must learn those equations from simulated pretraining data and a few noisy towers "
        "per state; with real observations the process model's structural errors would count too, and this "
        "advantage would shrink. The useful question here is how much of the gap to the true parameters a "
        "state-specific model recovers.",
    ]
    ceiling = achievable_ceiling(metrics, flux)
    if ceiling:
        out.append(ceiling)
    return out


def achievable_ceiling(metrics: dict, flux: str = "RH") -> str | None:
    """A sentence on the achievable ceiling, when the run has an oracle rung (a model whose id starts with
    "oracle", e.g. the process model with the true parameters); None otherwise."""
    states = metrics.get("states") or {}
    rows = []
    for state, models in states.items():
        for model, fluxes in models.items():
            if str(model).startswith("oracle") and isinstance(fluxes, dict):
                r2 = (fluxes.get(flux) or {}).get("r2")
                if isinstance(r2, (int, float)):
                    rows.append((state, model, r2))
    if not rows:
        return None
    # the ceiling is the best oracle: the state-mean true parameters when the run has them (the single
    # best parameter set is the reference the ceiling is measured from, not the ceiling)
    best = "oracle_state" if any(m == "oracle_state" for _, m, _ in rows) else rows[0][1]
    rows = [r for r in rows if r[1] == best]
    return (f"The achievable ceiling ({labels.model_name(best)}) reaches {labels.flux_name(flux, short=True)} "
            f"R² {_span([r for *_, r in rows])}: gaps are read against it.")


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if round(lo, 2) == round(hi, 2) else f"{lo:.2f} to {hi:.2f}"
