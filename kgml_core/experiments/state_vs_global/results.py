"""Typed reader of a state-vs-global run's results (what the pages and the CLI read)."""
from __future__ import annotations

import pandas as pd
import xarray as xr

from kgml_core.experiments.state_vs_global.config import MODEL_NAMES, TARGETS
from kgml_core.experiments.base import Results

SPLITS = {"heldout": "held-out counties or years", "heldout_counties": "held-out counties, training years",
          "heldout_years": "training counties, held-out years"}


def metrics_table(metrics: dict, targets=TARGETS, which: str = "heldout") -> pd.DataFrame:
    """Long table (state, model, target, r2, rmse, ...) of a metrics dict's scores on held-out set ``which``."""
    block = metrics["states"] if which == "heldout" else metrics.get("by_split", {}).get(which, {})
    rows = [{"state": s, "model": m, "target": k, **v}
            for s, models in block.items() for m, ts in models.items()
            for k, v in ts.items() if k in targets]
    return pd.DataFrame(rows)


def scores_long(metrics: dict) -> pd.DataFrame:
    """``metrics["states"]`` as rows (state, model, flux, metric, value): every score of every model."""
    rows = [(state, model, flux, name, value)
            for state, models in metrics.get("states", {}).items()
            for model, fluxes in models.items() if isinstance(fluxes, dict)
            for flux, scores in fluxes.items() if isinstance(scores, dict)
            for name, value in scores.items() if isinstance(value, (int, float))]
    return pd.DataFrame(rows, columns=["state", "model", "flux", "metric", "value"])


def bootstrap_table(metrics: dict) -> pd.DataFrame:
    """Paired-bootstrap RMSE differences as rows (state, flux, comparison, diff, lo, hi, rel_diff, ...)."""
    rows = [{"state": state, "flux": flux, "comparison": comp, **ci}
            for state, fluxes in (metrics.get("bootstrap") or {}).items()
            for flux, comps in fluxes.items()
            for comp, ci in comps.items() if isinstance(ci, dict) and "diff" in ci]
    return pd.DataFrame(rows)


def sweep_table(metrics: dict) -> pd.DataFrame:
    """The Rh heterogeneity sweep as rows (heterogeneity, state, global_rmse, state_specific_rmse, reduction_pct)."""
    sweep = metrics.get("heterogeneity_sweep") or {}
    rows = [{"heterogeneity": het, "state": state, "global_rmse": series["global_rmse"][i],
             "state_specific_rmse": series["state_specific_rmse"][i],
             "reduction_pct": 100 * series["rmse_reduction"][i]}
            for state, series in (sweep.get("states") or {}).items()
            for i, het in enumerate(sweep.get("values", []))]
    return pd.DataFrame(rows, columns=["heterogeneity", "state", "global_rmse", "state_specific_rmse",
                                       "reduction_pct"])


class StateVsGlobalResults(Results):
    """The results of one finished state-vs-global run.

    ``metrics`` is the run's metrics.json: ``states`` -> state -> model ->
    target -> scores (r2, rmse, mse, mae, bias, n) on the held-out set,
    ``by_split`` (the same per held-out set), ``bootstrap``, ``regions``,
    ``heterogeneity_sweep`` (when run), ``headline``, ``seconds``.
    """

    MAP_DATASET = "predictions"

    @property
    def states(self) -> list[str]:
        return list(self.metrics.get("states", {}))

    @property
    def models(self) -> list[str]:
        """The ladder's models in this run, in ladder order."""
        seen = {m for block in self.metrics.get("states", {}).values() for m in block}
        return [m for m in MODEL_NAMES if m in seen]

    def scores(self, which: str = "heldout", targets=TARGETS) -> pd.DataFrame:
        """Long table state, model, target, r2, rmse, ... on held-out set ``which`` (see :data:`SPLITS`)."""
        return metrics_table(self.metrics, targets, which)

    def summary_table(self) -> pd.DataFrame:
        """Held-out scores indexed by state, model, target: r2, rmse, bias, n."""
        table = self.scores()
        if table.empty:
            return table
        cols = [c for c in ("state", "model", "target", "r2", "rmse", "bias", "n") if c in table]
        return table[cols].set_index(["state", "model", "target"])

    def scores_long(self) -> pd.DataFrame:
        """Every score as rows (state, model, flux, metric, value): :func:`scores_long`."""
        return scores_long(self.metrics)

    def bootstrap(self) -> pd.DataFrame:
        """RMSE differences against global with intervals: :func:`bootstrap_table`."""
        return bootstrap_table(self.metrics)

    def sweep_table(self) -> pd.DataFrame:
        """The heterogeneity sweep (empty when not run): :func:`sweep_table`."""
        return sweep_table(self.metrics)

    @property
    def regions(self) -> dict:
        """Auto Region Detector summary (method, labels, names, silhouette, separating_features)."""
        return self.metrics.get("regions", {})

    @property
    def sweep(self) -> dict | None:
        """The heterogeneity sweep (values, states -> global/state-specific RMSE) when it was run."""
        return self.metrics.get("heterogeneity_sweep")

    def predictions(self) -> xr.Dataset:
        """Truth and every model: fluxes (model, unit, time), YIELD (model, unit, year)."""
        return self.run.predictions()
