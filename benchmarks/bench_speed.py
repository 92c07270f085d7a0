"""Side-by-side speed of KGML-ag: a reference implementation of the public architecture against this project.

Usage::

    .venv/bin/python benchmarks/bench_speed.py [--rounds 9] [--threads 1] [--quick] [--out speed.json]

The reference (:class:`ReferenceKGMLAg`, :func:`reference_train_round`) is written
here after the published KGML-ag (Liu et al. 2024; PyKGML): hidden size 64 in
every GRU, a 2-layer shared GRU, a 2-layer Rh GRU, batch-first ``nn.GRU``
modules, an attention yield head, and a plain PyTorch training loop
(``DataLoader`` with shuffling, Adam, MSE on Ra, Rh and NEE plus the mass-balance
term, gradient clipping). It is timed in the same process, alternately with

* the project's KGML-ag at the same sizes (``public_sizes``: hidden 64 everywhere,
  2-layer Rh GRU) and at its default and ``quick``-preset sizes,
* trained by the project's trainer (:class:`~kgml_core.training.trainer.KGMLTrainer`,
  one epoch of ``process_fluxes`` over all parameter groups), and
* predicting with the project's inference path (:func:`~kgml_core.inference.predict_arrays`).

The machine may be shared: every round times each contender once, in an order
that alternates between rounds, and the figures are medians over rounds of the
wall-clock time and of the CPU time of this process (``time.process_time``,
robust to other users' load). Ratios are medians of the per-round ratios.
Nothing is asserted: the script prints figures and the targets, met or not.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from kgml_core.inference import flops_per_county_day, predict_arrays, set_threads  # noqa: E402
from kgml_core.models import gru_ext  # noqa: E402
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig  # noqa: E402
from kgml_core.training.data import DAYS, Normalizer, Samples, make_samples  # noqa: E402

PUBLIC_HIDDEN = 64


# --------------------------------------------------------------------------- the reference
class ReferenceKGMLAg(nn.Module):
    """The public KGML-ag architecture at its published sizes, written as plain PyTorch.

    forward(x (batch, days, n_inputs), residue (batch, days)) -> yield (batch,), ra, rh, nee (batch, days),
    all standardised. Batch-first GRUs throughout, as in the public code.
    """

    def __init__(self, n_inputs: int = 19, hidden: int = PUBLIC_HIDDEN, dropout: float = 0.2):
        super().__init__()
        self.gru_basic = nn.GRU(n_inputs, hidden, num_layers=2, batch_first=True, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.attn = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.yield_fc = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.gru_ra = nn.GRU(hidden + n_inputs, hidden, num_layers=1, batch_first=True)
        self.fc_ra = nn.Linear(hidden, 1)
        self.gru_rh = nn.GRU(hidden + n_inputs + 1, hidden, num_layers=2, batch_first=True, dropout=dropout)
        self.fc_rh = nn.Linear(hidden, 1)
        self.gru_nee = nn.GRU(n_inputs + 2, hidden, num_layers=1, batch_first=True)
        self.fc_nee = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, residue: torch.Tensor):
        h, _ = self.gru_basic(x)
        h = self.drop(h)
        w = torch.softmax(self.attn(h).squeeze(-1), dim=1)
        yield_ = self.yield_fc((w.unsqueeze(-1) * h).sum(1)).squeeze(-1)
        ra = self.fc_ra(self.gru_ra(torch.cat([h, x], -1))[0]).squeeze(-1)
        rh = self.fc_rh(self.gru_rh(torch.cat([h, x, residue.unsqueeze(-1)], -1))[0]).squeeze(-1)
        nee = self.fc_nee(self.gru_nee(torch.cat([ra.unsqueeze(-1), rh.unsqueeze(-1), x], -1))[0]).squeeze(-1)
        return yield_, ra, rh, nee


def reference_loss(pred, y, gpp, scale: dict[str, tuple[float, float]], tol: float = 0.01) -> torch.Tensor:
    """MSE of standardised Ra, Rh, NEE plus the mass-balance penalty on physical fluxes."""
    _, ra, rh, nee = pred
    mse = sum(((p - y[:, :, i]) ** 2).mean() for i, p in enumerate((ra, rh, nee)))
    phys = [p * scale[k][1] + scale[k][0] for p, k in zip((ra, rh, nee), ("RA", "RH", "NEE"))]
    balance = torch.relu((gpp - phys[0] - phys[1] + phys[2]).abs() - tol * (phys[0] + phys[1]).abs()).mean()
    return mse + balance / scale["GPP"][1]


class ReferenceRunner:
    """Training and inference of the reference the way a plain PyTorch script does them."""

    def __init__(self, samples: Samples, norm: Normalizer, batch: int, seed: int = 0):
        torch.manual_seed(seed)
        self.model = ReferenceKGMLAg()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.scale = {k: (norm.y_mean[k], norm.y_std[k]) for k in ("RA", "RH", "NEE", "GPP", "RESIDUE")}
        x = torch.from_numpy(norm.scale_x(samples.x))
        y = torch.from_numpy(np.stack([(np.nan_to_num(samples.daily[k]) - norm.y_mean[k]) / norm.y_std[k]
                                       for k in ("RA", "RH", "NEE")], -1).astype(np.float32))
        res = torch.from_numpy(((np.nan_to_num(samples.residue) - norm.y_mean["RESIDUE"])
                                / norm.y_std["RESIDUE"]).astype(np.float32))
        self.loader = DataLoader(TensorDataset(x, y, res, torch.from_numpy(samples.gpp)),
                                 batch_size=batch, shuffle=True)
        self.x = x

    def train_epoch(self) -> None:
        self.model.train()
        for xb, yb, rb, gb in self.loader:
            self.opt.zero_grad()
            loss = reference_loss(self.model(xb, rb), yb, gb, self.scale)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=1.0)
            self.opt.step()

    def infer(self, x: torch.Tensor, batch: int) -> None:
        self.model.eval()
        with torch.no_grad():
            for lo in range(0, len(x), batch):
                xb = x[lo:lo + batch]
                self.model(xb, torch.zeros(xb.shape[:2]))


# --------------------------------------------------------------------------- the project
def project_config(which: str) -> KGMLAgConfig:
    """``public_sizes`` (hidden 64 everywhere, 2-layer Rh GRU), ``default`` or ``quick`` (the preset's).

    ``public_sizes_pytorch``: the public sizes with the fused GRU extension switched off (the pure-PyTorch loop).
    """
    if which in ("public_sizes", "public_sizes_pytorch"):
        h = PUBLIC_HIDDEN
        return KGMLAgConfig(hidden=h, flux_hidden=h, head_hidden=h, rh_layers=2, dropout=0.2)
    if which == "quick":
        from kgml_core.experiments.state_vs_global import preset
        p = preset("quick")
        return KGMLAgConfig(hidden=p.hidden, flux_hidden=p.flux_hidden, head_hidden=p.head_hidden,
                            dropout=p.dropout)
    if which == "default":
        return KGMLAgConfig()
    raise ValueError(f"unknown project configuration {which!r}")


class ProjectRunner:
    """The project's trainer (one epoch of all groups on process fluxes) and inference path."""

    def __init__(self, samples: Samples, norm: Normalizer, config: KGMLAgConfig, batch: int, seed: int = 0,
                 fused: bool = True):
        from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
        self.fused = fused
        self.model = KGMLAg(config)
        self.trainer = KGMLTrainer(self.model, norm, torch.device("cpu"), seed=seed)
        self.sources = [Source(samples, "process_fluxes")]
        self.step = StepConfig(epochs=1, batch_size=batch)
        self.norm = norm

    def train_epoch(self) -> None:
        with self._path():
            self.trainer.train_step("bench", self.sources, ("shared", "yield", "ra", "rh", "nee"), self.step)

    def infer(self, x: np.ndarray, gpp: np.ndarray, batch: int) -> None:
        with self._path():
            predict_arrays(self.model, x, gpp, self.norm, batch)

    def _path(self):
        return contextlib.nullcontext() if self.fused else gru_ext.switched_off()


# --------------------------------------------------------------------------- timing
def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call of ``fn``."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def alternate(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Time each contender once per round, alternating the order (forward, then backward) between rounds.

    One untimed warm-up call each first. Returns name -> {"wall": [...], "cpu": [...]}.
    """
    names = list(contenders)
    for name in names:
        contenders[name]()
    out = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            wall, cpu = timed(contenders[name])
            out[name]["wall"].append(wall)
            out[name]["cpu"].append(cpu)
    return out


def summarise(times: dict[str, dict[str, list[float]]], work: float, flops: dict[str, float],
              reference: str) -> dict[str, dict]:
    """Medians of rates (work units per second, wall and CPU), FLOP rates and per-round ratios to ``reference``.

    work : units of work per timed call (sequences); flops : name -> FLOPs per unit of work.
    """
    out = {}
    for name, t in times.items():
        rate_wall = [work / w for w in t["wall"]]
        rate_cpu = [work / c for c in t["cpu"] if c > 0]
        ratio_wall = [rw / (work / ref) for rw, ref in zip(rate_wall, times[reference]["wall"])]
        ratio_cpu = [tr / c for c, tr in zip(t["cpu"], times[reference]["cpu"]) if c > 0]
        med_wall, med_cpu = statistics.median(rate_wall), statistics.median(rate_cpu)
        out[name] = {"per_s_wall": med_wall, "per_s_cpu": med_cpu,
                     "gflops_wall": med_wall * flops[name] / 1e9, "gflops_cpu": med_cpu * flops[name] / 1e9,
                     "ratio_wall": statistics.median(ratio_wall), "ratio_cpu": statistics.median(ratio_cpu),
                     "ratio_wall_range": [min(ratio_wall), max(ratio_wall)],
                     "flops_per_unit": flops[name], "rounds": len(rate_wall)}
    return out


# --------------------------------------------------------------------------- the run
@dataclass
class SpeedConfig:
    """rounds: alternations; threads: torch threads for everyone; train_sequences, train_batch,
    infer_sequences, infer_batch: the work per timed call; contenders: project configurations."""

    rounds: int = 9
    threads: int = 1
    train_sequences: int = 256
    train_batch: int = 64
    infer_sequences: int = 2048
    infer_batch: int = 1024
    contenders: tuple[str, ...] = ("public_sizes", "public_sizes_pytorch", "default", "quick")
    seed: int = 0


def benchmark_samples(n: int) -> tuple[Samples, Normalizer]:
    """``n`` unit-years of a simulated Illinois year (repeated to ``n``), and their normalizer."""
    from kgml_core.simulator import WorldConfig, simulate_world
    base = make_samples(simulate_world(WorldConfig(states=("IL",), years=(2001, 2001))))
    samples = base.subset(np.arange(n) % len(base))
    return samples, Normalizer.fit(base)


def run_speed(cfg: SpeedConfig) -> dict:
    """Train and infer every contender alternately; return the JSON-ready figures."""
    set_threads(cfg.threads)
    before = machine()
    n = max(cfg.train_sequences, cfg.infer_sequences)
    samples, norm = benchmark_samples(n)
    train_set = samples.subset(np.arange(cfg.train_sequences))
    x_inf, g_inf = samples.x[:cfg.infer_sequences], samples.gpp[:cfg.infer_sequences]
    x_ref = torch.from_numpy(norm.scale_x(x_inf))
    ref = ReferenceRunner(train_set, norm, cfg.train_batch, cfg.seed)
    projects = {f"project_{c}": ProjectRunner(train_set, norm, project_config(c), cfg.train_batch, cfg.seed,
                                              fused=not c.endswith("_pytorch"))
                for c in cfg.contenders}
    fwd = {"reference": flops_per_county_day(ref.model) * DAYS,
           **{k: flops_per_county_day(p.model) * DAYS for k, p in projects.items()}}
    train_fns = {"reference": ref.train_epoch, **{k: p.train_epoch for k, p in projects.items()}}
    infer_fns = {"reference": lambda: ref.infer(x_ref, cfg.infer_batch),
                 **{k: (lambda p=p: p.infer(x_inf, g_inf, cfg.infer_batch)) for k, p in projects.items()}}
    train = summarise(alternate(train_fns, cfg.rounds), cfg.train_sequences,
                      {k: 3 * f for k, f in fwd.items()}, "reference")
    infer = summarise(alternate(infer_fns, cfg.rounds), cfg.infer_sequences, fwd, "reference")
    result = {"config": asdict(cfg), "machine": {**before, "load_average_after": machine()["load_average"]},
              "training": train, "inference": infer,
              "sizes": {"reference": "hidden 64 everywhere, 2-layer shared and Rh GRUs",
                        **{f"project_{c}": asdict(project_config(c)) for c in cfg.contenders}}}
    result["targets"] = targets(result)
    return result


def machine() -> dict:
    """Cores, load and versions at the time of the run."""
    import os
    return {"cores": os.cpu_count(), "load_average": list(os.getloadavg()), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "fused_gru_extension": gru_ext.extension() is not None,
            "gru_kernels": gru_ext.extension().kernels() if gru_ext.extension() is not None else "pytorch"}


def targets(r: dict) -> dict:
    """The issue's speed targets against the reference, measured in this run (public sizes)."""
    tr, inf = r["training"].get("project_public_sizes"), r["inference"].get("project_public_sizes")
    if tr is None:
        return {}
    return {"training_2x_reference_at_public_sizes": {"ratio_wall": tr["ratio_wall"], "ratio_cpu": tr["ratio_cpu"],
                                                      "met": min(tr["ratio_wall"], tr["ratio_cpu"]) >= 2},
            "inference_3x_reference_at_public_sizes": {"ratio_wall": inf["ratio_wall"],
                                                       "ratio_cpu": inf["ratio_cpu"],
                                                       "met": min(inf["ratio_wall"], inf["ratio_cpu"]) >= 3}}


def table(r: dict) -> str:
    """The side-by-side table as text."""
    lines = [f"{'contender':<24}{'what':<10}{'seq/s wall':>11}{'seq/s CPU':>11}{'GFLOP/s':>9}"
             f"{'x ref wall':>11}{'x ref CPU':>10}  range (wall)"]
    for what in ("training", "inference"):
        for name, f in r[what].items():
            lo, hi = f["ratio_wall_range"]
            lines.append(f"{name:<24}{what:<10}{f['per_s_wall']:>11.1f}{f['per_s_cpu']:>11.1f}"
                         f"{f['gflops_cpu']:>9.1f}{f['ratio_wall']:>11.2f}{f['ratio_cpu']:>10.2f}  {lo:.2f}-{hi:.2f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller rounds (a rough look)")
    parser.add_argument("--out", default=None, help="write the figures to this JSON file")
    parser.add_argument("--contenders", nargs="+", default=list(SpeedConfig.contenders),
                        help="project configurations to time against the reference")
    args = parser.parse_args(argv)
    cfg = SpeedConfig(rounds=args.rounds, threads=args.threads, contenders=tuple(args.contenders))
    if args.quick:
        cfg = replace(cfg, rounds=3, train_sequences=128, infer_sequences=1024)
    r = run_speed(cfg)
    print(f"machine: {r['machine']}")
    print(f"training: batch {cfg.train_batch}, {cfg.train_sequences} sequences of {DAYS} days per round; "
          f"inference: batch {cfg.infer_batch}, {cfg.infer_sequences} sequences; {cfg.rounds} rounds, "
          f"medians; GFLOP/s from CPU time (training counted as 3x the forward)")
    print(table(r))
    for name, t in r["targets"].items():
        print(f"target {name}: x{t['ratio_wall']:.2f} wall, x{t['ratio_cpu']:.2f} CPU -> "
              f"{'met' if t['met'] else 'MISSED'}")
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
