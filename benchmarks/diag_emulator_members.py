"""Is the emulator's error at the true parameters variance or bias? (issue 14, session 11)

Pretrains (steps 1-2 only, as ``Harness.pretrain_global`` does) ``--members``
emulators of one seed's ``quick`` experiment that differ only in their initial
weights and batch order (torch seed ``seed + 1000 k``; member 0 is the seed's
own draw), gives each the true parameters of every evaluation county
(``predict(sample_params=True)``, the ``emulator_oracle`` rung before steps
3-5) and prints its Rh RMSE (g C m-2 d-1) against the observed world's truth
per state on held-out counties (training years) and held-out years (training
counties), then the same for the mean of the first k members' predictions.
If the error were mostly the variance of one fit, the mean of several members
would be clearly better than each; if they share it, it is the emulator's bias.
Nothing is stored; the worlds come from the cache of ``KGML_HOME``.

    .venv/bin/python benchmarks/diag_emulator_members.py --seed 2 --members 3
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import preset  # noqa: E402
from kgml_core.experiments.state_vs_global.data import held_out, load_data, training_sets  # noqa: E402
from kgml_core.experiments.state_vs_global.training import _kgml  # noqa: E402
from kgml_core.training.data import Normalizer  # noqa: E402
from kgml_core.training.protocol import pretrain  # noqa: E402
from kgml_core.training.trainer import KGMLTrainer  # noqa: E402


def held_out_masks(data, samples) -> dict[str, np.ndarray]:
    """Boolean masks of the evaluation samples: held-out counties in training years, training counties in
    held-out years (the two parts of the experiment's held-out set)."""
    in_test_county, in_test_year = held_out(data, samples)
    return {"counties": in_test_county & ~in_test_year, "years": ~in_test_county & in_test_year}


def rmse_table(rh: np.ndarray, samples, masks: dict[str, np.ndarray], states) -> dict[str, float]:
    """``STATE-part`` -> Rh RMSE (g C m-2 d-1) of ``rh`` (n, 365) against the samples' truth."""
    truth = samples.daily["RH"]
    out = {}
    for state in states:
        for part, mask in masks.items():
            m = mask & (samples.state == state)
            out[f"{state}-{part}"] = round(float(np.sqrt(np.nanmean((rh[m] - truth[m]) ** 2))), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = preset("quick", seed=args.seed)
    data = load_data(cfg)
    sets = training_sets(cfg, data)
    norm = Normalizer.fit(sets.process)
    ev = sets.evaluation
    masks = held_out_masks(data, ev)
    members = []
    for k in range(args.members):
        start = time.process_time()
        torch.manual_seed(args.seed + 1000 * k)
        trainer = KGMLTrainer(_kgml(cfg), norm, torch.device("cpu"), seed=args.seed + 1000 * k)
        pretrain(trainer, sets.process, cfg.training_protocol(), "global")
        members.append(trainer.predict(ev, sample_params=True)["RH"])
        print(f"seed {args.seed} member {k} ({time.process_time() - start:.0f} s CPU)",
              json.dumps(rmse_table(members[-1], ev, masks, cfg.states)), flush=True)
        if k:
            print(f"seed {args.seed} mean of {k + 1} members",
                  json.dumps(rmse_table(np.mean(members, axis=0), ev, masks, cfg.states)), flush=True)


if __name__ == "__main__":
    main()
