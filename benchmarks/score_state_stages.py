"""Rh RMSE per state of a state-vs-global run's saved stages, before (or without) its end (issue 14, session 11).

Reads the run's configuration and its ``weights/global.pt`` and
``weights/state_XX.pt``, rebuilds the data from the world cache of
``KGML_HOME`` (as the run did) and takes the run's ``normalizer.json`` (refitted
on the pretraining samples, as the run fits it, when the run did not end), and prints per state the Rh RMSE (g C m-2 d-1) of the global model,
the state-specific model and the global model's networks given the state's
mean true parameters (``emulator_state``: a perfect estimate) on the
benchmark's held-out set (held-out counties, all years, plus held-out years,
all counties), with the gain and the emulator ceiling. For a long run (``full``)
stopped after its state stages; no bootstrap interval.

    KGML_HOME=... .venv/bin/python benchmarks/score_state_stages.py /tmp/bench_kgml_x/RUN_ID
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global.config import StateVsGlobalConfig  # noqa: E402
from kgml_core.experiments.state_vs_global.data import held_out, load_data, training_sets  # noqa: E402
from kgml_core.experiments.state_vs_global.tasks import theta_trainers  # noqa: E402
from kgml_core.experiments.state_vs_global.training import _kgml, state_thetas  # noqa: E402
from kgml_core.training.data import Normalizer, make_samples  # noqa: E402
from kgml_core.training.trainer import KGMLTrainer  # noqa: E402


def _trainer(cfg: StateVsGlobalConfig, run_dir: Path, stage: str, norm: Normalizer) -> KGMLTrainer:
    model = _kgml(cfg)
    model.load_state_dict(torch.load(run_dir / "weights" / f"{stage}.pt", map_location="cpu", weights_only=True))
    return KGMLTrainer(model, norm, torch.device("cpu"), seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = StateVsGlobalConfig.from_dict(json.loads((args.run_dir / "config.json").read_text()))
    data = load_data(cfg)
    saved = args.run_dir / "normalizer.json"       # written when the run ends; else refitted as the run did
    if saved.exists():
        norm = Normalizer.from_dict(json.loads(saved.read_text()))
        ev = make_samples(data.truth, data.train_years + data.test_years, cfg.warmup)
    else:
        sets = training_sets(cfg, data)
        norm, ev = Normalizer.fit(sets.process), sets.evaluation
    glob = _trainer(cfg, args.run_dir, "global", norm)
    in_test_county, in_test_year = held_out(data, ev)
    thetas = state_thetas(data, norm)
    for state in cfg.states:
        if not (args.run_dir / "weights" / f"state_{state}.pt").exists():
            print(f"{state}: no saved state stage")
            continue
        mask = (in_test_county | in_test_year) & (ev.state == state)
        part, truth = ev.subset(mask), ev.daily["RH"][mask]
        rmse = {name: float(np.sqrt(np.nanmean((t.predict(part)["RH"] - truth) ** 2))) for name, t in (
            ("global", glob), ("state_specific", _trainer(cfg, args.run_dir, f"state_{state}", norm)),
            ("emulator_state", theta_trainers(glob, {state: thetas[state]})[state]))}
        gain, reachable = (100 * (1 - rmse[k] / rmse["global"]) for k in ("state_specific", "emulator_state"))
        print(f"{state}: Rh RMSE global {rmse['global']:.3f}, state-specific {rmse['state_specific']:.3f}, "
              f"emulator_state {rmse['emulator_state']:.3f}; gain {gain:.1f} %, emulator ceiling {reachable:.1f} %",
              flush=True)


if __name__ == "__main__":
    main()
