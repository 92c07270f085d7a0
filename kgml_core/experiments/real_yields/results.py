"""Typed reader of a real-yields run's results."""
from __future__ import annotations

import pandas as pd

from kgml_core.experiments.base import Results
from kgml_core.experiments.real_yields.config import MODEL_NAMES

SPLIT_NAMES = {"heldout": "all held-out county-years", "heldout_counties": "held-out counties",
               "heldout_years": "held-out year(s), training counties"}
NAMES = {"county_mean": "County mean yield (baseline)", "weather_linear": "Linear model of season weather (baseline)",
         "process_model": "Process model on real weather", "global": "Global KGML-ag",
         "auto_region": "Region-specific SDSA-KGML"}


class RealYieldsResults(Results):
    """One finished real-yields run: ``metrics['scores'][split][model]`` (r2, rmse, rmse_bu, bias, n),
    ``bootstrap``, ``regions``, ``sources``, ``data_source`` ("real"), ``headline``."""

    @property
    def models(self) -> list[str]:
        seen = set(self.metrics.get("scores", {}).get("heldout", {}))
        return [m for m in MODEL_NAMES if m in seen]

    def scores(self, split: str = "heldout") -> pd.DataFrame:
        """One row per model: r2, rmse (g C m-2), rmse_bu (bu/acre), bias, n on held-out set ``split``."""
        block = self.metrics.get("scores", {}).get(split, {})
        return pd.DataFrame([{"model": m, **block[m]} for m in self.models if m in block]).set_index("model")

    def summary_table(self) -> pd.DataFrame:
        """Rows (held-out set, model): RMSE (bu/acre), R2, bias (bu/acre), RMSE (g C m-2), n; real data."""
        rows = [{"held out": SPLIT_NAMES[split], "model": NAMES.get(m, m), "RMSE (bu/acre)": s["rmse_bu"], "R2": s["r2"],
                 "bias (bu/acre)": s["bias_bu"], "RMSE (g C m-2)": s["rmse"], "n county-years": s["n"]}
                for split in ("heldout", "heldout_counties", "heldout_years") for m in MODEL_NAMES
                if (s := self.metrics.get("scores", {}).get(split, {}).get(m))]
        table = pd.DataFrame(rows).set_index(["held out", "model"])
        table.attrs["data_source"] = "real"
        return table
