"""Typed reader of a TAM-RL run's results (what the pages and the CLI read)."""
from __future__ import annotations

import pandas as pd
import xarray as xr

from kgml_core.experiments.base import Results
from kgml_core.experiments.tamrl.config import MODEL_NAMES
from kgml_core.runs import Run
from kgml_core.tamrl.sites import TARGETS

UPSCALED = "upscaled"
REAL_PREDICTIONS = "real_predictions"


def load_upscaled(run: Run) -> xr.Dataset:
    """The upscaled county dataset saved in a TAM-RL run (GPP, RECO, NEE and ``*_STD``)."""
    return run.dataset(UPSCALED)


class TamrlResults(Results):
    """The results of one finished TAM-RL run.

    ``metrics`` is the run's metrics.json: ``models`` -> model -> flux ->
    median and quartiles of per-site R2 and RMSE on the held-out virtual
    sites; ``per_site``, ``relative_rmse``, ``few_shot``, ``zero_shot``,
    ``real_sites`` (or ``{"skipped": reason}``), ``upscaled``, ``headline``.
    """

    MAP_DATASET = UPSCALED

    @property
    def models(self) -> list[str]:
        return [m for m in MODEL_NAMES if m in self.metrics.get("models", {})]

    def summary_table(self) -> pd.DataFrame:
        """One row per model: median per-site R2 (-) and RMSE (g C m-2 d-1) of each flux on the held-out sites."""
        rows = [{"model": m, **{f"{f} median R2 (–)": per[f]["median_r2"] for f in TARGETS},
                 **{f"{f} median RMSE (g C m-2 d-1)": per[f]["median_rmse"] for f in TARGETS}}
                for m, per in self.metrics.get("models", {}).items()]
        return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()

    def real_site_errors(self, flux: str, model: str = "tamrl") -> pd.Series:
        """RMSE (g C m-2 d-1) of ``model`` for ``flux`` at each real tower: zero-shot sites and the hold-out target."""
        part = self.real_sites
        err = {site: row.get("rmse") for site, row in
               part.get("zero_shot_sites", {}).get(model, {}).get(flux, {}).items()}
        target = part.get("temporal_holdout", {}).get(model, {}).get(flux)
        if target:
            err[part.get("target")] = target.get("rmse")
        return pd.Series(err, dtype=float)

    @property
    def split(self) -> str:
        """How sites were held out (k folds stratified by a class, or the user's training sites)."""
        return self.metrics.get("split", "")

    def median_scores(self, score: str = "rmse") -> pd.DataFrame:
        """Model x flux: median across held-out sites of ``score`` ("r2" or "rmse")."""
        return pd.DataFrame({m: {f: per[f][f"median_{score}"] for f in TARGETS if f in per}
                             for m, per in self.metrics.get("models", {}).items()}).T

    def few_vs_zero_shot(self, score: str = "rmse") -> pd.DataFrame:
        """Rows tamrl (few-shot) and tamrl_zero_shot, columns fluxes: median ``score`` (empty when absent)."""
        few, zero = self.metrics.get("few_shot", {}), self.metrics.get("zero_shot", {})
        if not (few and zero):
            return pd.DataFrame()
        return pd.DataFrame({"tamrl": {f: few[f][f"median_{score}"] for f in few},
                             "tamrl_zero_shot": {f: zero[f][f"median_{score}"] for f in zero}}).T

    def per_site(self, model: str, flux: str) -> pd.DataFrame:
        """Per held-out site scores (index: site id; r2, rmse, n) of ``model`` for ``flux``."""
        table = self.metrics.get("per_site", {}).get(model, {}).get(flux, {})
        return pd.DataFrame.from_dict(table, orient="index", columns=["r2", "rmse", "n"])

    def references(self, key: str) -> list[str]:
        """What comparison ``key`` ("paired", "support_curve", "per_vegetation") was scored against:
        a subset of ["obs", "truth"] (empty for runs made before it existed)."""
        return [g for g in ("obs", "truth") if g in self.metrics.get(key, {})]

    def comparison(self, key: str, against: str = "obs") -> dict:
        """``paired`` ({"a_vs_b": {flux: rel, lo, hi, share_a_better, n_sites}}), ``support_curve``
        ({flux: {days: median_rmse, vs_zero_shot}}) or ``per_vegetation`` ({IGBP: {n_sites, model:
        {flux: median RMSE}}}) against the observations ("obs") or the simulator's truth ("truth")."""
        return self.metrics.get(key, {}).get(against, {})

    def models_against(self, against: str = "obs") -> dict:
        """Median and quartiles of per-site scores per model and flux against "obs" or "truth"."""
        return self.metrics.get("models_truth" if against == "truth" else "models", {})

    @property
    def real_sites(self) -> dict:
        """The real-tower part, or ``{"skipped": reason}``."""
        return self.metrics.get("real_sites", {})

    def predictions(self) -> xr.Dataset:
        """Observed ("obs") and predicted fluxes at the held-out virtual sites, dims (model, unit, time)."""
        return self.run.predictions()

    def upscaled(self) -> xr.Dataset:
        """Counties: GPP, RECO, NEE (ensemble mean) and ``*_STD`` (spread), dims (unit, time)."""
        return load_upscaled(self.run)

    def real_predictions(self) -> xr.Dataset | None:
        """Observed and predicted fluxes at the real towers (None when the real part did not run)."""
        return self.run.dataset(REAL_PREDICTIONS) if self.run.has_dataset(REAL_PREDICTIONS) else None
