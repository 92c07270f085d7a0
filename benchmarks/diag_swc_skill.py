"""How well does a saved run's global model predict soil water, and how much does it depend on the parameters?
(issue 14, session 7; a run made with ``swc_output=true``)

Loads the run's configuration, normalizer and global weights, rebuilds its
data (the worlds come from the simulator cache of ``KGML_HOME``) and
predicts the daily SWC (%) of the observed world's held-out counties over
all years, given each county's true parameters (the emulator) and given the
global estimate ``theta``; prints per state the RMSE, R2 and bias against
the observed world's SWC.

    KGML_HOME=... .venv/bin/python benchmarks/diag_swc_skill.py RUN_DIR
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global.config import StateVsGlobalConfig  # noqa: E402
from kgml_core.experiments.state_vs_global.data import load_data  # noqa: E402
from kgml_core.experiments.state_vs_global.training import _kgml  # noqa: E402
from kgml_core.training.data import Normalizer, make_samples  # noqa: E402
from kgml_core.training.trainer import KGMLTrainer  # noqa: E402


def swc_scores(pred: np.ndarray, obs: np.ndarray) -> tuple[float, float, float]:
    """RMSE, R2 and bias (mean pred - obs) of daily SWC arrays of equal shape (%)."""
    err = pred - obs
    return (float(np.sqrt((err ** 2).mean())), float(1 - (err ** 2).sum() / ((obs - obs.mean()) ** 2).sum()),
            float(err.mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run directory (config.json, normalizer.json, weights/global.pt)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = StateVsGlobalConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    if not cfg.swc_output:
        raise SystemExit(f"{args.run}: the run's model predicts no soil water (swc_output is false)")
    norm = Normalizer.from_dict(json.loads((args.run / "normalizer.json").read_text()))
    model = _kgml(cfg)
    model.load_state_dict(torch.load(args.run / "weights" / "global.pt", weights_only=True))
    data = load_data(cfg)
    held_out = [u for u, part in data.split.items() if part == "test"]
    samples = make_samples(data.truth.sel(unit=held_out), data.train_years + data.test_years, warmup=cfg.warmup)
    trainer = KGMLTrainer(model, norm, torch.device("cpu"))
    for label, given in (("true parameters", True), ("global estimate", False)):
        pred = trainer.predict(samples, sample_params=given)["SWC"]
        for state in sorted(set(samples.state)):
            rows = samples.state == state
            rmse, r2, bias = swc_scores(pred[rows], samples.daily["SWC"][rows])
            print(f"{label:16s} {state}: SWC RMSE {rmse:.2f} %, R2 {r2:.3f}, bias {bias:+.2f} "
                  f"(observed sd {samples.daily['SWC'][rows].std():.2f})")


if __name__ == "__main__":
    main()
