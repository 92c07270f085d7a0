"""Typed reader of the template experiment's results."""
from __future__ import annotations

import pandas as pd

from kgml_core.experiments.base import Results

FLUXES = ("RA", "RH", "NEE", "RECO")


class ProcessBaselineResults(Results):
    """metrics.json: ``states`` -> state -> flux -> scores (r2, rmse, mse, mae, bias, n); ``headline``."""

    MAP_DATASET = "predictions"

    def summary_table(self) -> pd.DataFrame:
        """Scores indexed by state and flux."""
        rows = [{"state": s, "flux": f, **v} for s, fl in self.metrics.get("states", {}).items()
                for f, v in fl.items()]
        return pd.DataFrame(rows).set_index(["state", "flux"]) if rows else pd.DataFrame()
