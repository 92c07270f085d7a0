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

    def bootstrap(self) -> pd.DataFrame:
        """Long table state, target, comparison, diff, lo, hi, ... (RMSE differences against global)."""
        rows = [{"state": s, "target": k, "comparison": c, **v}
                for s, targets in self.metrics.get("bootstrap", {}).items()
                for k, comps in targets.items() for c, v in comps.items()]
        return pd.DataFrame(rows)

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
