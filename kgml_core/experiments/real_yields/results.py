"""Typed reader of a real-yields run's results."""
from __future__ import annotations

import pandas as pd

from kgml_core.experiments.base import Results
from kgml_core.experiments.real_yields.config import MODEL_NAMES


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
